"""Sans-I/O encoder of the OpenAI Responses API: model chunks in, Responses events out.

`ResponsesEncoder` turns the ``AIMessageChunk``s of one reply into the events that the
official ``openai`` SDK's ``responses.create(stream=True)`` and ``responses.stream()`` expect,
each as ``(type, json_text)`` with a growing ``sequence_number`` (0, 1, 2, ...):

``response.created``, ``response.in_progress``; per output item ``response.output_item.added``,
then for a message ``response.content_part.added``, ``response.output_text.delta`` (many),
``response.output_text.done``, ``response.content_part.done``; for a tool call
``response.function_call_arguments.delta`` (many) and ``.done``; for reasoning
``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta`` / ``.done``,
``response.reasoning_summary_part.done``; ``response.output_item.done``; and one terminal event:
``response.completed``, ``response.incomplete`` (``incomplete_details.reason``:
``max_output_tokens``) or ``response.failed`` (``error``).

The same events serve a live SSE response and a background response kept in the run store
(where the event id is ``sequence_number + 1``).

Example::

    enc = ResponsesEncoder("resp_1", {"model": "fake", "created_at": 0})
    events = enc.start() + enc.chunk(AIMessageChunk("Hi")) + enc.finish()
    [kind for kind, _ in events][-1]  # "response.completed"
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from tokentide.messages import AIMessageChunk, ToolCallChunk, UsageMetadata
from tokentide.messages._ai import plain_text, usage_and_finish

__all__ = ["Event", "ResponsesEncoder", "response_usage"]

Event = tuple[str, str]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def response_usage(usage: Mapping[str, Any] | None, fallback_output: int = 0) -> dict[str, Any]:
    """The Responses ``usage`` object from ``usage_metadata`` (or a count of output chunks)."""
    usage = usage or {}
    n_in = int(usage.get("input_tokens", 0))
    n_out = int(usage.get("output_tokens", fallback_output if not usage else 0))
    cached = (usage.get("input_token_details") or {}).get("cache_read", 0)
    reasoning = (usage.get("output_token_details") or {}).get("reasoning", 0)
    return {
        "input_tokens": n_in,
        "input_tokens_details": {"cached_tokens": int(cached)},
        "output_tokens": n_out,
        "output_tokens_details": {"reasoning_tokens": int(reasoning)},
        "total_tokens": int(usage.get("total_tokens", n_in + n_out)),
    }


def _item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ResponsesEncoder:
    """Builds the events and the ``response`` object of one Responses API reply.

    ``base`` holds the request-dependent fields of the response object (``model``,
    ``created_at``, ``instructions``, ``tools``, ...); the encoder adds ``id``, ``object``,
    ``status``, ``output``, ``usage``, ``error`` and ``incomplete_details``.
    """

    __slots__ = (
        "id",
        "base",
        "seq",
        "output",
        "status",
        "usage",
        "error",
        "incomplete",
        "finish_reason",
        "chunks",
        "_text",
        "_text_item",
        "_text_index",
        "_text_head",
        "_reasoning",
        "_tools",
        "_args",
        "_open",
    )

    def __init__(self, response_id: str, base: Mapping[str, Any]) -> None:
        self.id = response_id
        self.base = dict(base)
        self.seq = 0
        self.output: list[dict[str, Any]] = []
        self.status = "in_progress"
        self.usage: UsageMetadata | None = None
        self.error: dict[str, Any] | None = None
        self.incomplete: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.chunks = 0
        self._text: list[str] = []
        self._text_item: dict[str, Any] | None = None
        self._text_index = -1
        self._text_head = ""
        self._reasoning: tuple[dict[str, Any], list[str]] | None = None
        self._tools: dict[int, tuple[dict[str, Any], int]] = {}  # chunk index -> (item, output)
        # The open tool call's argument pieces, joined into its item when it closes (appending
        # to the item's string would copy the arguments so far at every piece).
        self._args: list[str] = []
        self._open: str | None = None  # "text", "reasoning", "tool:<index>"

    # ------------------------------------------------------------------ the response object

    def response(self) -> dict[str, Any]:
        """The ``response`` object as it stands."""
        usage = None
        if self.status != "in_progress" and self.status != "queued":
            usage = response_usage(self.usage, self.chunks)
        return {
            "id": self.id,
            "object": "response",
            **self.base,
            "status": self.status,
            "error": self.error,
            "incomplete_details": self.incomplete,
            "output": self.output,
            "usage": usage,
        }

    def _event(self, kind: str, fields: Mapping[str, Any]) -> Event:
        seq = self.seq
        self.seq = seq + 1
        return kind, _dumps({"type": kind, "sequence_number": seq, **fields})

    def _lifecycle(self, kind: str) -> Event:
        return self._event(kind, {"response": self.response()})

    # ------------------------------------------------------------------ events

    def start(self) -> list[Event]:
        """``response.created`` and ``response.in_progress``."""
        return [self._lifecycle("response.created"), self._lifecycle("response.in_progress")]

    def chunk(self, chunk: AIMessageChunk) -> list[Event]:
        """The events of one model chunk (none if it carries no delta)."""
        out: list[Event] = []
        text = plain_text(chunk)  # the per-token case: nothing but text, read without allocating
        tools: Sequence[ToolCallChunk] = ()
        if text is None:
            usage, finish = usage_and_finish(chunk)
            self.usage = usage or self.usage
            self.finish_reason = finish or self.finish_reason
            kwargs = chunk.additional_kwargs
            reasoning = kwargs.get("reasoning_content") if kwargs else None
            if reasoning:
                out += self._reasoning_delta(str(reasoning))
            text = chunk.content
            tools = chunk.tool_call_chunks
        if text:
            self.chunks += 1
            if self._open != "text":
                out += self._open_text()
            self._text.append(text)
            seq = self.seq
            self.seq = seq + 1
            out.append(
                (
                    "response.output_text.delta",
                    f'{{"type":"response.output_text.delta","sequence_number":{seq},'
                    f'{self._text_head}"delta":{_dumps(text)},"logprobs":[]}}',
                )
            )
        for position, tcc in enumerate(tools):
            index = tcc.get("index")
            out += self._tool_delta(position if index is None else int(index), tcc)
        return out

    def finish(self) -> list[Event]:
        """Close the open item; ``response.completed`` or ``response.incomplete``."""
        out = self._close()
        if self.finish_reason in ("length", "max_tokens"):
            self.status = "incomplete"
            self.incomplete = {"reason": "max_output_tokens"}
            out.append(self._lifecycle("response.incomplete"))
        else:
            self.status = "completed"
            out.append(self._lifecycle("response.completed"))
        return out

    def fail(self, code: str, message: str) -> list[Event]:
        """``response.failed`` with ``error`` (items left as they were)."""
        self.status = "failed"
        self.error = {"code": code, "message": message}
        return [self._lifecycle("response.failed")]

    def cancelled(self) -> None:
        """Mark the response cancelled (a background response stopped on request)."""
        self._close()
        self.status = "cancelled"

    # ------------------------------------------------------------------ items

    def _add_item(self, item: dict[str, Any]) -> tuple[int, Event]:
        index = len(self.output)
        self.output.append(item)
        return index, self._event(
            "response.output_item.added", {"output_index": index, "item": dict(item)}
        )

    def _open_text(self) -> list[Event]:
        out = self._close()
        item = {
            "id": _item_id("msg"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        index, added = self._add_item(item)
        self._text_item, self._text_index, self._text = item, index, []
        self._text_head = f'"item_id":"{item["id"]}","output_index":{index},"content_index":0,'
        self._open = "text"
        part = {"type": "output_text", "text": "", "annotations": []}
        fields = {"item_id": item["id"], "output_index": index, "content_index": 0, "part": part}
        return [*out, added, self._event("response.content_part.added", fields)]

    def _reasoning_delta(self, text: str) -> list[Event]:
        out: list[Event] = []
        if self._open != "reasoning" or self._reasoning is None:
            out += self._close()
            item: dict[str, Any] = {
                "id": _item_id("rs"),
                "type": "reasoning",
                "summary": [],
                "status": None,
            }
            index, added = self._add_item(item)
            self._reasoning = (item, [])
            self._open = "reasoning"
            part = {"type": "summary_text", "text": ""}
            fields = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            out += [
                added,
                self._event("response.reasoning_summary_part.added", {**fields, "part": part}),
            ]
        item, parts = self._reasoning
        parts.append(text)
        fields = {
            "item_id": item["id"],
            "output_index": self.output.index(item),
            "summary_index": 0,
        }
        out.append(self._event("response.reasoning_summary_text.delta", {**fields, "delta": text}))
        return out

    def _tool_delta(self, index: int, tcc: Mapping[str, Any]) -> list[Event]:
        out: list[Event] = []
        key = f"tool:{index}"
        known = self._tools.get(index)
        if known is None:
            out += self._close()
            item = {
                "id": _item_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": tcc.get("id") or _item_id("call"),
                "name": tcc.get("name") or "",
            }
            position, added = self._add_item(item)
            self._tools[index] = known = (item, position)
            out.append(added)
            self._open = key
        elif self._open != key:
            out += self._close()
            self._open = key
        item, position = known
        if tcc.get("name") and not item["name"]:
            item["name"] = tcc["name"]
        args = tcc.get("args")
        if args:
            self._args.append(args)
            fields = {"item_id": item["id"], "output_index": position, "delta": args}
            out.append(self._event("response.function_call_arguments.delta", fields))
        return out

    def _close(self) -> list[Event]:
        """Close the open item with its ``done`` events."""
        open_, self._open = self._open, None
        if open_ is None:
            return []
        if open_ == "text" and self._text_item is not None:
            return self._close_text(self._text_item, self._text_index)
        if open_ == "reasoning" and self._reasoning is not None:
            item, parts = self._reasoning
            self._reasoning = None
            text = "".join(parts)
            index = self.output.index(item)
            part = {"type": "summary_text", "text": text}
            item["summary"] = [part]
            item["status"] = "completed"
            fields = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            return [
                self._event("response.reasoning_summary_text.done", {**fields, "text": text}),
                self._event("response.reasoning_summary_part.done", {**fields, "part": part}),
                self._event("response.output_item.done", {"output_index": index, "item": item}),
            ]
        item, position = self._tools[int(open_.split(":", 1)[1])]
        item["arguments"] += "".join(self._args)
        self._args = []
        item["status"] = "completed"
        fields = {
            "item_id": item["id"],
            "output_index": position,
            "name": item["name"],
            "arguments": item["arguments"],
        }
        return [
            self._event("response.function_call_arguments.done", fields),
            self._event("response.output_item.done", {"output_index": position, "item": item}),
        ]

    def _close_text(self, item: dict[str, Any], index: int) -> list[Event]:
        text = "".join(self._text)
        self._text = [text]
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item["content"] = [part]
        item["status"] = "completed"
        self._text_item = None
        fields = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return [
            self._event("response.output_text.done", {**fields, "text": text, "logprobs": []}),
            self._event("response.content_part.done", {**fields, "part": part}),
            self._event("response.output_item.done", {"output_index": index, "item": item}),
        ]
