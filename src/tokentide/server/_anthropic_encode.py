"""Sans-I/O encoder of the Anthropic Messages API: model chunks in, Messages events out.

`MessagesEncoder` turns the ``AIMessageChunk``s of one reply into the events that the official
``anthropic`` SDK's ``messages.create(stream=True)`` and ``messages.stream()`` expect, each as
``(event_name, json_text)`` (sent with its ``event:`` line, which the SDK dispatches on):

``message_start``; per content block ``content_block_start``, ``content_block_delta``
(``text_delta``, ``input_json_delta`` for a ``tool_use`` block, ``thinking_delta`` for
reasoning), ``content_block_stop``; then ``message_delta`` (``stop_reason``, ``usage``) and
``message_stop``; or an ``error`` event with Anthropic's error shape.

Example::

    enc = MessagesEncoder("msg_1", "fake", input_tokens=3)
    events = enc.start() + enc.chunk(AIMessageChunk("Hi")) + enc.finish()
    [name for name, _ in events]
    # ['message_start', 'content_block_start', 'content_block_delta',
    #  'content_block_stop', 'message_delta', 'message_stop']
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from tokentide.messages import AIMessageChunk, ToolCallChunk, UsageMetadata
from tokentide.messages._ai import plain_text, usage_and_finish

__all__ = ["ERROR_TYPES", "MessagesEncoder", "anthropic_error", "stop_reason"]

Event = tuple[str, str]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error object: ``{"type": "error", "error": {"type", "message"}}``."""
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
    }


def stop_reason(finish_reason: str | None, tool_calls: bool) -> str:
    """Anthropic's ``stop_reason`` for a chunk stream's ``finish_reason``."""
    if finish_reason in ("length", "max_tokens"):
        return "max_tokens"
    if tool_calls or finish_reason in ("tool_calls", "tool_use"):
        return "tool_use"
    if finish_reason == "stop_sequence":
        return "stop_sequence"
    return "end_turn"


def usage_object(usage: Mapping[str, Any] | None, fallback_output: int) -> dict[str, int]:
    """Anthropic's ``usage`` from ``usage_metadata`` (input excludes the cached tokens)."""
    usage = usage or {}
    details = usage.get("input_token_details") or {}
    read = int(details.get("cache_read", 0))
    created = int(details.get("cache_creation", 0))
    return {
        "input_tokens": max(int(usage.get("input_tokens", 0)) - read - created, 0),
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "output_tokens": int(usage.get("output_tokens", fallback_output if not usage else 0)),
    }


#: The field of each content block that its deltas extend.
_GROWS = {"text": "text", "thinking": "thinking", "tool_use": "_json"}


class MessagesEncoder:
    """Builds the events and the whole ``message`` object of one Messages API reply."""

    __slots__ = (
        "id",
        "model",
        "input_tokens",
        "content",
        "usage",
        "finish_reason",
        "stop_sequence",
        "chunks",
        "_open",
        "_kind",
        "_tools",
        "_text_head",
        "_pieces",
    )

    def __init__(self, message_id: str, model: str, *, input_tokens: int = 0) -> None:
        self.id = message_id
        self.model = model
        self.input_tokens = input_tokens
        self.content: list[dict[str, Any]] = []
        self.usage: UsageMetadata | None = None
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None  # the stop string the model reported hitting
        self.chunks = 0
        self._open = -1  # index of the open content block
        self._kind = ""  # "text", "thinking", "tool:<chunk index>"
        self._tools: dict[int, int] = {}  # tool-call chunk index -> block index
        self._text_head = ""
        #: The open block's text, thinking or tool arguments since it opened, joined into the
        #: block when it closes (appending to the block's string would copy it per token).
        self._pieces: list[str] = []

    def message(self, *, final: bool = True) -> dict[str, Any]:
        """The ``message`` object (``final``: with ``stop_reason`` and the whole usage)."""
        self._flush()
        has_tools = any(block["type"] == "tool_use" for block in self.content)
        reason = stop_reason(self.finish_reason, has_tools) if final else None
        if reason == "end_turn" and self.stop_sequence:
            reason = "stop_sequence"
        if final:
            usage = usage_object(self.usage, self.chunks)
        else:
            usage = usage_object({"input_tokens": self.input_tokens, "output_tokens": 0}, 0)
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.content if final else [],
            "stop_reason": reason,
            "stop_sequence": self.stop_sequence if reason == "stop_sequence" else None,
            "usage": usage,
        }

    def start(self) -> list[Event]:
        return [
            (
                "message_start",
                _dumps({"type": "message_start", "message": self.message(final=False)}),
            )
        ]

    def chunk(self, chunk: AIMessageChunk) -> list[Event]:
        """The events of one model chunk (none if it carries no delta)."""
        out: list[Event] = []
        text = plain_text(chunk)  # the per-token case: nothing but text, read without allocating
        tools: Sequence[ToolCallChunk] = ()
        if text is None:
            out += self._fields(chunk)
            text = chunk.content
            tools = chunk.tool_call_chunks
        if text:
            self.chunks += 1
            if self._kind != "text":
                out += self._start_block({"type": "text", "text": ""}, "text")
                self._text_head = (
                    f'{{"type":"content_block_delta","index":{self._open},'
                    '"delta":{"type":"text_delta","text":'
                )
            self._pieces.append(text)
            out.append(("content_block_delta", f"{self._text_head}{_dumps(text)}}}}}"))
        for position, tcc in enumerate(tools):
            index = tcc.get("index")
            out += self._tool(position if index is None else int(index), tcc)
        return out

    def _fields(self, chunk: AIMessageChunk) -> list[Event]:
        """Take a chunk's usage, finish and stop sequence; its thinking's events."""
        usage, finish = usage_and_finish(chunk)
        self.usage = usage or self.usage
        if finish:
            self.finish_reason = finish
            stop = chunk.response_metadata.get("stop_sequence")
            if isinstance(stop, str):
                self.stop_sequence = stop
        kwargs = chunk.additional_kwargs
        reasoning = kwargs.get("reasoning_content") if kwargs else None
        if not reasoning:
            return []
        out: list[Event] = []
        if self._kind != "thinking":
            out += self._start_block(
                {"type": "thinking", "thinking": "", "signature": ""}, "thinking"
            )
        self._pieces.append(reasoning)
        out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
        return out

    def finish(self) -> list[Event]:
        """Close the open block; ``message_delta`` and ``message_stop``."""
        out = self._stop()
        final = self.message()
        for block in final["content"]:
            if block["type"] == "tool_use":
                raw = block.pop("_json", "")
                try:
                    block["input"] = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    block["input"] = {}
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": final["stop_reason"], "stop_sequence": final["stop_sequence"]},
            "usage": final["usage"],
        }
        out.append(("message_delta", _dumps(delta)))
        out.append(("message_stop", '{"type":"message_stop"}'))
        return out

    def fail(self, status: int, message: str) -> list[Event]:
        """An ``error`` event (the stream ends there)."""
        return [("error", _dumps(anthropic_error(status, message)))]

    # ------------------------------------------------------------------ blocks

    def _start_block(self, block: dict[str, Any], kind: str) -> list[Event]:
        out = self._stop()
        self.content.append(block)
        self._open = len(self.content) - 1
        self._kind = kind
        shown = {k: v for k, v in block.items() if not k.startswith("_")}
        payload = {"type": "content_block_start", "index": self._open, "content_block": shown}
        return [*out, ("content_block_start", _dumps(payload))]

    def _delta(self, delta: dict[str, Any]) -> Event:
        payload = {"type": "content_block_delta", "index": self._open, "delta": delta}
        return "content_block_delta", _dumps(payload)

    def _flush(self) -> None:
        """Join the open block's pieces into its text, thinking or tool arguments."""
        if self._pieces:
            block = self.content[self._open]
            block[_GROWS[block["type"]]] += "".join(self._pieces)
            self._pieces.clear()

    def _stop(self) -> list[Event]:
        self._flush()
        if self._open < 0 or not self._kind:
            return []
        self._kind = ""
        return [("content_block_stop", _dumps({"type": "content_block_stop", "index": self._open}))]

    def _tool(self, index: int, tcc: Mapping[str, Any]) -> list[Event]:
        out: list[Event] = []
        kind = f"tool:{index}"
        if index not in self._tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": tcc.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": tcc.get("name") or "",
                "input": {},
                "_json": "",
            }
            out += self._start_block(block, kind)
            self._tools[index] = self._open
        elif self._kind != kind:
            out += self._stop()
            self._open, self._kind = self._tools[index], kind
        args = tcc.get("args")
        if args:
            self._pieces.append(args)
            out.append(self._delta({"type": "input_json_delta", "partial_json": args}))
        return out
