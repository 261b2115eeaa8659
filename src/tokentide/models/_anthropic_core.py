"""Sans-I/O core of the Anthropic Messages client: request bodies and the event parser.

`build_messages_body` turns messages and options into a ``/v1/messages`` request body;
`MessagesEventParser` turns the decoded SSE events of the response into ``AIMessageChunk``s.

Mapping of the events (dispatched on the ``type`` inside ``data``):

- ``message_start`` -> the message ``id`` and ``model``, and the input usage (with cache reads
  and writes), kept for the last chunk;
- ``content_block_start`` of a ``tool_use`` block -> a ``tool_call_chunk`` with its ``name``
  and ``id``; ``content_block_delta`` with ``text_delta`` -> ``content``, with
  ``input_json_delta`` -> that tool call's ``args`` pieces, with ``thinking_delta`` ->
  ``additional_kwargs["reasoning_content"]``;
- ``message_delta`` -> ``stop_reason`` (and ``finish_reason``: ``stop``, ``length``,
  ``tool_calls``) and the usage; ``message_stop`` -> the last chunk carries ``usage_metadata``
  (input = uncached + cache read + cache write, as LangChain counts it) and ends the stream;
- ``ping`` is skipped; ``error`` (e.g. ``overloaded_error``) is a provider failure.
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

from ._errors import StreamFailure, error_message, error_status
from ._openai_core import load_data
from ._text_blocks import JSON_STRING, TextShape, feed_text_blocks

__all__ = [
    "MessagesEventParser",
    "anthropic_tool",
    "build_messages_body",
    "map_anthropic_usage",
    "tool_choice_for",
]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
# The block of nearly every token, exactly as the Messages API writes it (see _text_blocks):
#   event: content_block_delta
#   data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}
_TEXT_BLOCK = TextShape(
    re.compile(
        rb'event: content_block_delta\ndata: \{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),'
        rb'"delta":\{"type":"text_delta","text":"(' + JSON_STRING + rb')"\}\}'
    ),
    head=b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"',
    tail="}}",
)
_ANTHROPIC_STATUS = {"overloaded_error": 529, "api_error": 500, "rate_limit_error": 429}


def anthropic_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI tool dict as an Anthropic tool (``name``, ``description``, ``input_schema``)."""
    function = tool.get("function")
    if not isinstance(function, Mapping):
        return dict(tool)  # already Anthropic-shaped
    out = {"name": function["name"], "input_schema": function.get("parameters") or {}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def tool_choice_for(choice: Any, names: Sequence[str]) -> dict[str, Any] | None:
    """``tool_choice`` as Anthropic spells it (``auto``, ``any``, ``none``, ``tool``)."""
    if choice is None or choice is False:
        return None
    if isinstance(choice, Mapping):
        return dict(choice)
    if choice is True or choice in ("any", "required"):
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice in names:
        return {"type": "tool", "name": choice}
    raise ValueError(f"tool_choice={choice!r} names no bound tool (tools: {list(names)})")


def _content(message: BaseMessage) -> tuple[str, Any]:
    if isinstance(message, ToolMessage):
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.text,
        }
        if message.status == "error":
            block["is_error"] = True
        return "user", [block]
    if isinstance(message, AIMessage):
        if not message.tool_calls:
            return "assistant", message.text
        blocks: list[dict[str, Any]] = []
        if message.text:
            blocks.append({"type": "text", "text": message.text})
        for call in message.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.get("id") or "",
                    "name": call["name"],
                    "input": call["args"],
                }
            )
        return "assistant", blocks
    return "user", message.text


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def build_messages_body(
    model: str,
    messages: Sequence[BaseMessage],
    *,
    options: Mapping[str, Any],
    stop: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a streamed ``/v1/messages`` request.

    System messages become ``system``; tool results become ``tool_result`` blocks of a user
    turn; consecutive turns of one role are merged (Anthropic wants them alternating).
    ``extra`` holds per-call arguments (``tools``, ``tool_choice``, or any Messages
    parameter), which win over ``options``.
    """
    system = [m.text for m in messages if isinstance(m, SystemMessage)]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        role, content = _content(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = _blocks(turns[-1]["content"]) + _blocks(content)
        else:
            turns.append({"role": role, "content": content})
    body: dict[str, Any] = {"model": model, "messages": turns, "stream": True}
    if system:
        body["system"] = "\n\n".join(system)
    for key, value in {**options, **(extra or {})}.items():
        if value is None or key in ("stream", "stream_usage", "stop"):
            continue
        if key == "tools":
            body["tools"] = [anthropic_tool(tool) for tool in value]
        else:
            body[key] = value
    stops = (extra or {}).get("stop") or stop
    if stops:
        body["stop_sequences"] = list(stops)
    return body


def map_anthropic_usage(usage: Mapping[str, Any]) -> UsageMetadata:
    """Anthropic ``usage`` -> ``UsageMetadata`` (input includes cache reads and writes)."""
    read = usage.get("cache_read_input_tokens") or 0
    created = usage.get("cache_creation_input_tokens") or 0
    n_in = (usage.get("input_tokens") or 0) + read + created
    n_out = usage.get("output_tokens") or 0
    result: UsageMetadata = {
        "input_tokens": n_in,
        "output_tokens": n_out,
        "total_tokens": n_in + n_out,
    }
    if read or created:
        result["input_token_details"] = {"cache_read": read, "cache_creation": created}
    return result


class MessagesEventParser:
    """Maps the SSE events of one Messages API stream to ``AIMessageChunk``s.

    Example::

        parser = MessagesEventParser()
        event = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'
        parser.feed([ServerSentEvent(data=event)])[0].content  # "Hi"
    """

    __slots__ = ("_id", "_model", "_usage", "_stop", "_stop_sequence", "_tools", "done", "failure")

    def __init__(self, usage: dict[str, Any] | None = None) -> None:
        self.done = False
        self.failure: StreamFailure | None = None
        self._id: str | None = None
        self._model: str | None = None
        # The usage reported so far (shared with the model, which reports it on an early end).
        self._usage: dict[str, Any] = usage if usage is not None else {}
        self._stop: str | None = None
        self._stop_sequence: str | None = None
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def feed(self, events: list[ServerSentEvent]) -> list[AIMessageChunk]:
        out: list[AIMessageChunk] = []
        append = out.append
        for event in events:
            try:
                obj = load_data(event.data)
            except ValueError:
                self.failure = StreamFailure(
                    "protocol", f"the server sent data that is not JSON: {event.data[:120]!r}"
                )
                return out
            if type(obj) is not dict:
                self.failure = StreamFailure(
                    "protocol", f"expected a JSON object, got {event.data[:120]!r}"
                )
                return out
            kind = obj.get("type")
            if kind == "content_block_delta":
                delta = obj.get("delta") or {}
                if delta.get("type") == "text_delta":
                    text = delta.get("text")
                    if text:
                        append(AIMessageChunk(text, id=self._id))
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
        return feed_text_blocks(self, _TEXT_BLOCK, blocks, decoder)

    def end(self) -> list[AIMessageChunk]:
        if not self.done and self.failure is None:
            self.failure = StreamFailure("interrupted", "the stream ended before message_stop")
        return []

    def _map(self, kind: Any, obj: dict[str, Any]) -> AIMessageChunk | None:
        if kind == "message_start":
            message = obj.get("message") or {}
            self._id = message.get("id") or self._id
            self._model = message.get("model") or self._model
            self._usage.update(message.get("usage") or {})
            return None
        if kind == "content_block_start":
            return self._block_start(obj.get("index"), obj.get("content_block") or {})
        if kind == "content_block_delta":
            return self._delta(obj.get("index"), obj.get("delta") or {})
        if kind == "message_delta":
            delta = obj.get("delta") or {}
            self._stop = delta.get("stop_reason") or self._stop
            self._stop_sequence = delta.get("stop_sequence") or self._stop_sequence
            usage = obj.get("usage") or {}
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            return None
        if kind == "message_stop":
            self.done = True
            return self._last()
        if kind == "error" or "error" in obj and kind != "ping":
            self._fail(obj.get("error") or obj)
        return None

    def _block_start(self, index: Any, block: Mapping[str, Any]) -> AIMessageChunk | None:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return AIMessageChunk(block["text"], id=self._id)
        if kind != "tool_use":
            return None
        position = self._tools[int(index or 0)] = len(self._tools)
        return AIMessageChunk(
            "",
            id=self._id,
            tool_call_chunks=[
                {
                    "name": block.get("name"),
                    "args": "",
                    "id": block.get("id"),
                    "index": position,
                    "type": "tool_call_chunk",
                }
            ],
        )

    def _delta(self, index: Any, delta: Mapping[str, Any]) -> AIMessageChunk | None:
        kind = delta.get("type")
        if kind == "input_json_delta":
            position = self._tools.get(int(index or 0))
            partial = delta.get("partial_json")
            if position is None or not partial:
                return None
            piece: Any = {
                "name": None,
                "args": partial,
                "id": None,
                "index": position,
                "type": "tool_call_chunk",
            }
            return AIMessageChunk("", id=self._id, tool_call_chunks=[piece])
        if kind == "thinking_delta" and delta.get("thinking"):
            return AIMessageChunk(
                "", id=self._id, additional_kwargs={"reasoning_content": delta["thinking"]}
            )
        return None

    def _last(self) -> AIMessageChunk:
        meta: dict[str, Any] = {"model_provider": "anthropic", "stop_reason": self._stop}
        meta["finish_reason"] = _FINISH.get(self._stop or "", self._stop or "stop")
        if self._stop_sequence:
            meta["stop_sequence"] = self._stop_sequence
        if self._model:
            meta["model_name"] = self._model
        return AIMessageChunk(
            "",
            id=self._id,
            usage_metadata=map_anthropic_usage(self._usage) if self._usage else None,
            response_metadata=meta,
            chunk_position="last",
        )

    def _fail(self, error: Any) -> None:
        kind = error.get("type") if isinstance(error, Mapping) else None
        status = _ANTHROPIC_STATUS.get(str(kind)) or error_status(error)
        self.failure = StreamFailure(
            "provider",
            f"the provider reported an error: {error_message(error, json.dumps(error)[:200])}",
            status=status,
            code=kind,
            body={"type": "error", "error": error},
        )
