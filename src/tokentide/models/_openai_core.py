"""Sans-I/O core of the OpenAI chat client: request bodies and the chunk mapper.

`build_chat_body` turns messages and options into a ``/chat/completions`` request body;
`ChatChunkParser` turns the decoded SSE events of the response into ``AIMessageChunk``s. Both
are plain code (no sockets), shared by the sync and async shells and testable byte by byte.

Mapping of a ``chat.completion.chunk`` (each field, where it goes):

- ``choices[0].delta.content`` -> ``content``; ``delta.role`` is implied (assistant);
- ``delta.tool_calls[]`` -> ``tool_call_chunks`` (``index`` assigned by id, then by order,
  when a server leaves it out);
- ``delta.refusal`` -> ``additional_kwargs["refusal"]``; ``delta.reasoning_content`` (or
  ``delta.reasoning``) -> ``additional_kwargs["reasoning_content"]``;
- ``finish_reason``, ``logprobs``, ``model`` (as ``model_name``), ``system_fingerprint`` ->
  ``response_metadata`` (model fields on the first and the last chunks);
- ``usage`` (OpenAI's last chunk, with empty ``choices``) -> ``usage_metadata`` with the token
  details; a server that repeats cumulative usage on several chunks is counted once;
- ``id`` -> the chunk ``id``;
- ``{"error": ...}`` or an ``event: error`` -> a provider failure; ``data: [DONE]`` ends.

A content delta that ends with the first half of a UTF-16 surrogate pair (a server that split an
emoji between two chunks, as JSON ``"\\ud83d"`` then ``"\\ude00"``) is held back and joined to
the next content, so that every chunk's text is valid Unicode.

A server that sends no usage in streams (some local servers ignore ``stream_options``) leaves
``usage_metadata`` unset and says so with ``response_metadata["usage_missing"] = True`` on the
last chunk.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Mapping, Sequence
from typing import Any

from tokentide.messages import AIMessageChunk, BaseMessage, ToolCallChunk, UsageMetadata
from tokentide.messages._ai import text_chunk
from tokentide.wire import ServerSentEvent

from ._errors import StreamFailure, error_message, error_status, redact_secrets, sanitized_body

__all__ = ["ChatChunkParser", "build_chat_body", "event_failure", "load_data", "map_usage"]

_loads = json.loads
# The C scanner that json.loads ends in (typeshed's stub of make_scanner has the wrong type).
_scan: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def load_data(data: str) -> Any:
    """``json.loads(data)`` for an event's ``data``, one C call for the usual case (a JSON
    value with nothing around it) instead of ``loads``' three Python layers and two regex
    matches per event; anything else (whitespace around it, ``[DONE]``, bad JSON) goes
    through ``json.loads``, which returns or raises exactly as before."""
    try:
        obj, end = _scan(data, 0)
    except (StopIteration, ValueError):
        return _loads(data)
    if end != len(data):
        return _loads(data)
    return obj


def build_chat_body(
    model: str,
    messages: Sequence[BaseMessage],
    *,
    options: Mapping[str, Any],
    stream_usage: bool = True,
    stop: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a streamed ``/chat/completions`` request.

    ``options`` holds the model's sampling options (``None`` values are left out); ``extra``
    holds per-call keyword arguments (``tools``, ``tool_choice``, ``response_format``, or any
    provider parameter), which win over ``options``.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [message.to_dict() for message in messages],
        "stream": True,
    }
    for key, value in options.items():
        if value is not None:
            body[key] = value
    if stop:
        body["stop"] = stop
    if stream_usage:
        body["stream_options"] = {"include_usage": True}
    if extra:
        for key, value in extra.items():
            if value is not None:
                body[key] = value
        if extra.get("stream_usage") is not None:
            body.pop("stream_usage")
            if not extra["stream_usage"]:
                body.pop("stream_options", None)
            else:
                body["stream_options"] = {"include_usage": True}
    return body


def map_usage(usage: Mapping[str, Any]) -> UsageMetadata:
    """OpenAI ``usage`` -> ``UsageMetadata`` (with the token details the server gave)."""
    n_in = usage.get("prompt_tokens") or 0
    n_out = usage.get("completion_tokens") or 0
    result: UsageMetadata = {
        "input_tokens": n_in,
        "output_tokens": n_out,
        "total_tokens": usage.get("total_tokens") or n_in + n_out,
    }
    details = usage.get("prompt_tokens_details")
    if isinstance(details, Mapping):
        found = {
            name: details[key]
            for key, name in (("cached_tokens", "cache_read"), ("audio_tokens", "audio"))
            if isinstance(details.get(key), int)
        }
        if found:
            result["input_token_details"] = found  # type: ignore[typeddict-item]
    details = usage.get("completion_tokens_details")
    if isinstance(details, Mapping):
        found = {
            name: details[key]
            for key, name in (("reasoning_tokens", "reasoning"), ("audio_tokens", "audio"))
            if isinstance(details.get(key), int)
        }
        if found:
            result["output_token_details"] = found  # type: ignore[typeddict-item]
    return result


class ChatChunkParser:
    """Maps the SSE events of one ``chat.completion.chunk`` stream to ``AIMessageChunk``s.

    Feed it batches of events (:meth:`feed`); call :meth:`end` when the body ended. It never
    raises: a failure is stored in ``failure`` (the chunks before it are returned first) and
    ``done`` is set by ``data: [DONE]``. Role-only deltas produce no chunk.

    Example::

        parser = ChatChunkParser()
        chunks = parser.feed([ServerSentEvent(data='{"choices":[{"delta":{"content":"Hi"}}]}')])
        chunks[0].content  # "Hi"
    """

    __slots__ = (
        "_first",
        "_held",
        "_last_tool",
        "_model",
        "_tool_ids",
        "_usage",
        "_usage_sent",
        "done",
        "failure",
    )

    def __init__(self) -> None:
        self.done = False
        self.failure: StreamFailure | None = None
        self._first = True  # no chunk produced yet: the next one carries the model fields
        self._model: dict[str, Any] = {}
        self._usage: UsageMetadata | None = None  # usage seen but not yet emitted
        self._usage_sent = False
        self._tool_ids: dict[str, int] = {}
        self._last_tool = 0
        self._held = ""  # a high surrogate that ended the last content, waiting for its pair

    # ------------------------------------------------------------------ events

    def feed(self, events: list[ServerSentEvent]) -> list[AIMessageChunk]:
        """Map a batch of events; stop at ``[DONE]`` or at the first failure."""
        out: list[AIMessageChunk] = []
        append = out.append
        for event in events:
            data = event.data
            try:
                obj = load_data(data)
            except ValueError:
                if data.strip() == "[DONE]":
                    self.done = True
                    out.extend(self._closing())
                    return out
                self.failure = StreamFailure(
                    "protocol", f"the server sent data that is not JSON: {data[:120]!r}"
                )
                return out
            if not self._first and event.event == "message" and type(obj) is dict:
                # Fast path: {"choices": [{"delta": {"content": "..."}, ...}], ...}
                choices = obj.get("choices")
                if choices and len(choices) == 1:
                    choice = choices[0]
                    delta = choice.get("delta")
                    if (
                        delta
                        and choice.get("finish_reason") is None
                        and choice.get("logprobs") is None
                        and (len(delta) == 1 or (len(delta) == 2 and "role" in delta))
                        and obj.get("usage") is None
                        and obj.get("error") is None
                    ):
                        content = delta.get("content")
                        if content and not self._held and not _HIGH <= content[-1] <= _HIGH_END:
                            append(text_chunk(content, obj.get("id") or None))
                            continue
            chunk = self._map(obj, event.event)
            if self.failure is not None:
                return out
            if chunk is not None:
                append(chunk)
        return out

    def end(self) -> list[AIMessageChunk]:
        """The body ended without ``[DONE]``: report the interruption, keep known usage."""
        if not self.done and self.failure is None:
            self.failure = StreamFailure(
                "interrupted", "the stream ended before its end marker ([DONE])"
            )
        return self._pending_usage()

    # ------------------------------------------------------------------ mapping

    def _map(self, obj: Any, event_type: str) -> AIMessageChunk | None:
        if not isinstance(obj, dict) or obj.get("error") is not None or event_type == "error":
            self.failure = event_failure(obj)
            return None
        self._note_model(obj)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = map_usage(usage)
        choices = obj.get("choices")
        if not choices:
            return self._pending_usage_chunk(obj)
        return self._map_choice(obj, choices[0])

    def _note_model(self, obj: dict[str, Any]) -> None:
        model = obj.get("model")
        if model and "model_name" not in self._model:
            self._model["model_name"] = model
        fingerprint = obj.get("system_fingerprint")
        if fingerprint:
            self._model["system_fingerprint"] = fingerprint

    def _map_choice(self, obj: dict[str, Any], choice: Any) -> AIMessageChunk | None:
        delta = choice.get("delta") or {}
        content = delta.get("content") or ""
        if self._held or (content and _HIGH <= content[-1] <= _HIGH_END):
            content = self._join_surrogates(content, bool(choice.get("finish_reason")))
        kwargs: dict[str, Any] = {}
        reasoning = delta.get("reasoning_content")
        if reasoning is None:
            reasoning = delta.get("reasoning")
        if reasoning:
            kwargs["reasoning_content"] = reasoning
        refusal = delta.get("refusal")
        if refusal:
            kwargs["refusal"] = refusal
        raw_tools = delta.get("tool_calls")
        tools = self._tool_chunks(raw_tools) if raw_tools else None
        meta: dict[str, Any] = {}
        finish = choice.get("finish_reason")
        if finish:
            meta["finish_reason"] = finish
        if choice.get("logprobs") is not None:
            meta["logprobs"] = choice["logprobs"]
        if not (content or kwargs or tools or meta):
            return None  # a role-only (or empty) delta
        last = bool(finish)
        if self._first or last:
            meta.update(self._model_fields())
            self._first = False
        chunk = AIMessageChunk(
            content,
            id=obj.get("id") or None,
            tool_call_chunks=tools,
            additional_kwargs=kwargs or None,
            response_metadata=meta or None,
        )
        return chunk

    def _join_surrogates(self, content: str, last: bool) -> str:
        """Prepend a held high surrogate; hold a trailing one back (unless the reply ends)."""
        if not isinstance(content, str):
            return content
        if self._held:  # the pair, as one character
            pair = (self._held + content).encode("utf-16-le", "surrogatepass")
            content = pair.decode("utf-16-le", "surrogatepass")
            self._held = ""
        if content and _HIGH <= content[-1] <= _HIGH_END and not last:
            self._held = content[-1]
            content = content[:-1]
        return content

    def _model_fields(self) -> dict[str, Any]:
        return {**self._model, "model_provider": "openai"}

    def _tool_chunks(self, raw: Any) -> list[ToolCallChunk]:
        chunks: list[ToolCallChunk] = []
        ids = self._tool_ids
        for call in raw:
            index = call.get("index")
            call_id = call.get("id") or None
            if index is None:
                if call_id is not None:
                    index = ids.get(call_id)
                    if index is None:
                        index = max(ids.values(), default=-1) + 1
                        ids[call_id] = index
                else:
                    index = self._last_tool
            elif call_id is not None:
                ids.setdefault(call_id, index)
            self._last_tool = index
            function = call.get("function") or {}
            chunks.append(
                {
                    "name": function.get("name") or None,
                    "args": function.get("arguments"),
                    "id": call_id,
                    "index": index,
                    "type": "tool_call_chunk",
                }
            )
        return chunks

    # ------------------------------------------------------------------ usage

    def _pending_usage_chunk(self, obj: dict[str, Any]) -> AIMessageChunk | None:
        if self._usage is None or self._usage_sent:
            return None
        self._usage_sent = True
        self._first = False
        return AIMessageChunk(
            "",
            id=obj.get("id") or None,
            usage_metadata=self._usage,
            response_metadata=self._model_fields(),
        )

    def _pending_usage(self) -> list[AIMessageChunk]:
        chunk = self._pending_usage_chunk({})
        return [chunk] if chunk is not None else []

    def _closing(self) -> list[AIMessageChunk]:
        """At ``[DONE]``: usage seen on content chunks, or the note that none came."""
        if self._held:  # a lone high surrogate that never got its pair
            held, self._held = self._held, ""
            return [AIMessageChunk(held), *self._closing()]
        if self._usage_sent:
            return []
        if self._usage is not None:
            return self._pending_usage()
        return [
            AIMessageChunk(
                "",
                response_metadata={**self._model_fields(), "usage_missing": True},
                chunk_position="last",
            )
        ]


_HIGH = "\ud800"
_HIGH_END = "\udbff"


def event_failure(obj: Any) -> StreamFailure:
    """The failure an event's decoded JSON stands for, when it is not a JSON object (a protocol
    failure) or is an ``{"error": ...}`` / ``event: error`` (a provider failure)."""
    if not isinstance(obj, dict):
        return StreamFailure("protocol", f"expected a JSON object, got {json.dumps(obj)[:120]!r}")
    error = obj.get("error", obj)
    message = redact_secrets(error_message(error, json.dumps(obj)[:200])[:1000])[:500]
    code = error.get("code") if isinstance(error, dict) else None
    return StreamFailure(
        "provider",
        f"the provider reported an error: {message}",
        status=error_status(error),
        code=code if isinstance(code, (str, int)) else None,
        body=sanitized_body(obj),
    )
