"""Sans-I/O core of the OpenAI Responses API client: request bodies and the event parser.

`build_responses_body` turns messages and options into a ``/responses`` request body;
`ResponsesEventParser` turns the decoded SSE events of the response into ``AIMessageChunk``s.
`ChatOpenAI(use_responses_api=True)` streams through them on the same `HTTPTransport` as the
chat completions client (same retries, typed errors, idle timeout and prompt close).

Mapping of the events (each ``data`` has a ``type``; the ``event:`` line is not needed):

- ``response.output_text.delta`` -> ``content``;
- ``response.output_item.added`` of a ``function_call`` -> a ``tool_call_chunk`` with its
  ``name`` and ``id`` (the ``call_id``), then ``response.function_call_arguments.delta`` ->
  ``args`` pieces (``index``: the tool call's position among the reply's calls); a server that
  sends the arguments only in ``.done`` gets them from there;
- ``response.reasoning_summary_text.delta`` / ``response.reasoning_text.delta`` ->
  ``additional_kwargs["reasoning_content"]``; ``response.refusal.delta`` -> ``refusal``;
- ``response.completed`` / ``response.incomplete`` -> the last chunk: ``usage_metadata`` (with
  cached and reasoning token details), ``finish_reason`` (``stop``, ``tool_calls``, ``length``
  for ``max_output_tokens``), ``model_name``, and the response ``id``; the stream is done;
- ``response.failed`` and ``error`` events -> a provider failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolMessage,
    UsageMetadata,
)
from tokentide.wire import ServerSentEvent, SSEDecoder

from ._errors import StreamFailure
from ._openai_core import event_failure, load_data
from ._text_blocks import JSON_STRING, TextShape, feed_text_blocks

__all__ = ["ResponsesEventParser", "build_responses_body", "map_responses_usage"]

_DELTA = "response.output_text.delta"
# The block of nearly every token (see _text_blocks): a ``response.output_text.delta`` whose
# other fields (never ``type`` or ``delta`` again) are integers, plain strings or ``[]``, e.g.
#   event: response.output_text.delta
#   data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1",
#          "output_index":0,"content_index":0,"delta":"Hi","logprobs":[],"obfuscation":"x1"}
_FIELD = rb'"(?!type"|delta")[a-z_]+":(?:-?(?:0|[1-9][0-9]*)|"[^"\\\x00-\x1f]*"|\[\])'
_DELTA_BLOCK = TextShape(
    re.compile(
        rb'event: response\.output_text\.delta\ndata: \{"type":"response\.output_text\.delta",'
        rb"(?:" + _FIELD + rb',)*"delta":"(' + JSON_STRING + rb')"(?:,' + _FIELD + rb")*\}"
    )
)
_RESPONSES_ONLY = frozenset(
    {"previous_response_id", "include", "reasoning", "text", "truncation", "instructions", "store"}
)


def wants_responses_api(kwargs: Mapping[str, Any]) -> bool:
    """Whether call options name parameters only the Responses API has."""
    return any(kwargs.get(name) is not None for name in _RESPONSES_ONLY)


def _input_items(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.text,
                }
            )
        elif isinstance(message, AIMessage):
            if message.text:
                items.append({"role": "assistant", "content": message.text})
            for call in message.tool_calls:
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id") or "",
                        "name": call["name"],
                        "arguments": json.dumps(call["args"], ensure_ascii=False),
                    }
                )
        elif isinstance(message, SystemMessage):
            items.append({"role": "system", "content": message.text})
        else:
            items.append({"role": message.to_dict().get("role", "user"), "content": message.text})
    return items


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A chat-completions tool (``{"type": "function", "function": {...}}``) flattened."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        return dict(tool)
    return {"type": "function", **function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def build_responses_body(
    model: str,
    messages: Sequence[BaseMessage],
    *,
    options: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a streamed ``/responses`` request.

    ``options`` are the model's sampling options (``max_tokens`` is sent as
    ``max_output_tokens``; ``seed`` and ``stop``, which the Responses API lacks, are left out);
    ``extra`` holds per-call arguments (``tools`` and ``tool_choice`` in either the chat or the
    Responses shape, ``response_format`` (sent as ``text.format``), or any Responses parameter).
    """
    body: dict[str, Any] = {"model": model, "input": _input_items(messages), "stream": True}
    merged = {**options, **(extra or {})}
    for key, value in merged.items():
        if value is None or key in ("seed", "stop", "stream_usage", "stream"):
            continue
        if key == "max_tokens":
            body["max_output_tokens"] = value
        elif key == "tools":
            body["tools"] = [_tool(tool) for tool in value]
        elif key == "tool_choice":
            body["tool_choice"] = _tool_choice(value)
        elif key == "response_format":
            body["text"] = {"format": _text_format(value)}
        else:
            body[key] = value
    return body


def _text_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    if response_format.get("type") == "json_schema":
        spec = dict(response_format.get("json_schema") or {})
        return {"type": "json_schema", **spec}
    return dict(response_format)


def map_responses_usage(usage: Mapping[str, Any]) -> UsageMetadata:
    """Responses ``usage`` -> ``UsageMetadata`` (cached input, reasoning output)."""
    n_in = usage.get("input_tokens") or 0
    n_out = usage.get("output_tokens") or 0
    result: UsageMetadata = {
        "input_tokens": n_in,
        "output_tokens": n_out,
        "total_tokens": usage.get("total_tokens") or n_in + n_out,
    }
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens")
    if isinstance(cached, int):
        result["input_token_details"] = {"cache_read": cached}
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    if isinstance(reasoning, int):
        result["output_token_details"] = {"reasoning": reasoning}
    return result


class ResponsesEventParser:
    """Maps the SSE events of one Responses API stream to ``AIMessageChunk``s.

    Feed it batches of events (:meth:`feed`); call :meth:`end` when the body ended. It never
    raises: a failure is stored in ``failure`` and ``done`` is set by the terminal event.

    Example::

        parser = ResponsesEventParser()
        event = '{"type":"response.output_text.delta","delta":"Hi"}'
        parser.feed([ServerSentEvent(data=event)])[0].content  # "Hi"
    """

    __slots__ = ("_calls", "_id", "_model", "_tools_seen", "done", "failure")

    def __init__(self) -> None:
        self.done = False
        self.failure: StreamFailure | None = None
        self._id: str | None = None
        self._model: str | None = None
        self._calls: dict[str, tuple[int, bool]] = {}  # item id -> (tool index, args seen)
        self._tools_seen = False

    def feed(self, events: list[ServerSentEvent]) -> list[AIMessageChunk]:
        out: list[AIMessageChunk] = []
        append = out.append
        for event in events:
            data = event.data
            try:
                obj = load_data(data)
            except ValueError:
                if data.strip() == "[DONE]":
                    self.done = True
                    return out
                self.failure = StreamFailure(
                    "protocol", f"the server sent data that is not JSON: {data[:120]!r}"
                )
                return out
            if type(obj) is not dict:
                self.failure = event_failure(obj)
                return out
            kind = obj.get("type")
            if kind == _DELTA:
                delta = obj.get("delta")
                if delta:
                    append(AIMessageChunk(delta, id=self._id))
                continue
            chunk = self._map(kind, obj)
            if chunk is not None:
                append(chunk)
            if self.failure is not None or self.done:
                return out
        return out

    def feed_blocks(self, blocks: list[bytes], decoder: SSEDecoder) -> list[AIMessageChunk]:
        """:meth:`feed` on raw blocks (see `SSEDecoder.blocks`): the same chunks as
        ``feed(decoder.decode(blocks))``, text deltas read without a dict (`feed_text_blocks`)."""
        return feed_text_blocks(self, _DELTA_BLOCK, blocks, decoder)

    def end(self) -> list[AIMessageChunk]:
        if not self.done and self.failure is None:
            self.failure = StreamFailure(
                "interrupted", "the stream ended before its terminal event (response.completed)"
            )
        return []

    # ------------------------------------------------------------------ mapping

    def _map(self, kind: Any, obj: dict[str, Any]) -> AIMessageChunk | None:
        if kind in ("response.created", "response.in_progress"):
            self._note(obj.get("response"))
            return None
        if kind == "response.output_item.added":
            return self._item_added(obj.get("item") or {})
        if kind == "response.function_call_arguments.delta":
            return self._arguments(obj.get("item_id"), obj.get("delta"))
        if kind == "response.function_call_arguments.done":
            known = self._calls.get(str(obj.get("item_id")))
            if known is not None and not known[1]:
                return self._arguments(obj.get("item_id"), obj.get("arguments"))
            return None
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._extra("reasoning_content", obj.get("delta"))
        if kind == "response.refusal.delta":
            return self._extra("refusal", obj.get("delta"))
        if kind in ("response.completed", "response.incomplete"):
            self.done = True
            return self._last(obj.get("response") or {})
        if kind == "response.failed" or kind == "error" or obj.get("error") is not None:
            self._fail(obj)
        return None

    def _note(self, response: Any) -> None:
        if isinstance(response, dict):
            self._id = response.get("id") or self._id
            self._model = response.get("model") or self._model

    def _item_added(self, item: Mapping[str, Any]) -> AIMessageChunk | None:
        if item.get("type") != "function_call":
            return None
        index = len(self._calls)
        args = item.get("arguments") or ""
        self._calls[str(item.get("id"))] = (index, bool(args))
        self._tools_seen = True
        return AIMessageChunk(
            "",
            id=self._id,
            tool_call_chunks=[
                {
                    "name": item.get("name") or None,
                    "args": args,
                    "id": item.get("call_id") or None,
                    "index": index,
                    "type": "tool_call_chunk",
                }
            ],
        )

    def _arguments(self, item_id: Any, delta: Any) -> AIMessageChunk | None:
        known = self._calls.get(str(item_id))
        if known is None or not delta:
            return None
        self._calls[str(item_id)] = (known[0], True)
        chunk: dict[str, Any] = {
            "name": None,
            "args": delta,
            "id": None,
            "index": known[0],
            "type": "tool_call_chunk",
        }
        return AIMessageChunk("", id=self._id, tool_call_chunks=[chunk])  # type: ignore[list-item]

    def _extra(self, key: str, delta: Any) -> AIMessageChunk | None:
        if not delta:
            return None
        return AIMessageChunk("", id=self._id, additional_kwargs={key: delta})

    def _last(self, response: Mapping[str, Any]) -> AIMessageChunk:
        self._note(response)
        usage = response.get("usage")
        status = response.get("status")
        reason = "tool_calls" if self._tools_seen else "stop"
        if status == "incomplete":
            details = response.get("incomplete_details") or {}
            why = details.get("reason") if isinstance(details, Mapping) else None
            reason = "length" if why in (None, "max_output_tokens") else str(why)
        meta: dict[str, Any] = {"finish_reason": reason, "model_provider": "openai", "id": self._id}
        if self._model:
            meta["model_name"] = self._model
        return AIMessageChunk(
            "",
            id=self._id,
            usage_metadata=map_responses_usage(usage) if isinstance(usage, Mapping) else None,
            response_metadata=meta,
            chunk_position="last",
        )

    def _fail(self, obj: Mapping[str, Any]) -> None:
        response = obj.get("response")
        error = response.get("error") if isinstance(response, Mapping) else None
        if error is None:
            error = obj.get("error") or {k: v for k, v in obj.items() if k != "type"}
        self.failure = event_failure({"error": error})
