"""The OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models`` endpoints.

The request is validated into a `ChatRequest`; the reply is streamed as
``chat.completion.chunk`` objects (the role first, content and tool-call deltas, the
``finish_reason``, a usage chunk with empty ``choices`` when ``stream_options.include_usage``,
then ``data: [DONE]``) or answered whole as one ``chat.completion``.

Errors before the first token get an HTTP status and an OpenAI error object; errors after it are
one ``data: {"error": {...}}`` event (which OpenAI clients raise) carrying the typed error and
the partial output, and no ``[DONE]``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tokentide.errors import (
    APIError,
    APIStatusError,
    PoolTimeoutError,
    RateLimitError,
    StreamError,
)
from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    ToolCallChunk,
    convert_to_messages,
)
from tokentide.messages._ai import plain_text, usage_and_finish
from tokentide.models import AsyncChatStream
from tokentide.models._errors import redact_secrets
from tokentide.runtime import aclose_if_closable
from tokentide.wire import encode_data

from ._asgi import EventStream, HTTPError, Receive, Send, send_json, shorten, watch_disconnect
from ._assistants import Assistant, Ticket

__all__ = [
    "ChatRequest",
    "ChunkEncoder",
    "ToolCallIndexer",
    "chat_completion",
    "collect_reply",
    "error_payload",
    "parse_chat_request",
    "sampling_options",
    "usage_to_openai",
]

T = TypeVar("T")

_DONE = b"data: [DONE]\n\n"
_TEXT_TAIL = b'},"logprobs":null,"finish_reason":null}]}\n\n'
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
MAX_TOKENS_LIMIT = 1_000_000
"""Largest ``max_tokens`` accepted (no model streams more in one reply)."""
_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


@dataclass(slots=True)
class ChatRequest:
    """A validated chat completion request."""

    model: str
    messages: list[BaseMessage]
    stream: bool
    include_usage: bool
    options: dict[str, Any]
    tools: dict[str, Any] | None


def bad_request(message: str, param: str | None = None) -> HTTPError:
    """A 400 answer naming the request field that was wrong (shared by the protocol modules)."""
    return HTTPError(400, message, param=param)


def typed_field(body: Mapping[str, Any], name: str, kinds: tuple[type, ...], what: str) -> Any:
    """``body[name]`` if it is one of ``kinds`` (``None`` when absent); else a 400 saying
    it must be ``what``."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise bad_request(
            f"'{name}' must be {what}, got {type(value).__name__}: {shorten(value)}", name
        )
    return value


def sampling_options(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``temperature`` and ``top_p`` (finite, in range), ``max_tokens`` (1 to
    `MAX_TOKENS_LIMIT`, stored under ``max_tokens`` whichever of ``names`` gave it) and
    ``seed`` (a 64-bit integer) of a request body; `HTTPError` 400 for a bad value."""
    options: dict[str, Any] = {}
    for name, (low, high) in _RANGES.items():
        value = typed_field(body, name, (int, float), "a number")
        if value is not None:
            number = float(value)
            if not (math.isfinite(number) and low <= number <= high):
                raise bad_request(
                    f"'{name}' must be between {low:g} and {high:g}, got {value}", name
                )
            options[name] = number
    for name in names:
        value = typed_field(body, name, (int,), "an integer")
        if value is not None:
            if value < 1:
                raise bad_request(f"'{name}' must be at least 1, got {shorten(value, 30)}", name)
            if value > MAX_TOKENS_LIMIT:
                raise bad_request(
                    f"'{name}' must be at most {MAX_TOKENS_LIMIT}, got {shorten(value, 30)}", name
                )
            options["max_tokens"] = value
    seed = typed_field(body, "seed", (int,), "an integer")
    if seed is not None:
        if not -(2**63) <= seed < 2**63:
            raise bad_request(f"'seed' must be a 64-bit integer, got {shorten(seed, 30)}", "seed")
        options["seed"] = seed
    return options


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a decoded JSON body; `HTTPError` 400 says which field is wrong and why."""
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required and must be a non-empty string", "model")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' is required and must be a non-empty array", "messages")
    try:
        messages = convert_to_messages(raw)
    except (TypeError, ValueError, KeyError) as exc:
        raise bad_request(f"invalid 'messages': {exc}", "messages") from None
    stream = bool(typed_field(body, "stream", (bool,), "a boolean"))
    stream_options = typed_field(body, "stream_options", (dict,), "an object") or {}
    include_usage = typed_field(stream_options, "include_usage", (bool,), "a boolean")
    n = typed_field(body, "n", (int,), "an integer")
    if n not in (None, 1):
        raise bad_request("only n=1 is supported", "n")
    options = sampling_options(body, ("max_tokens", "max_completion_tokens"))
    stop = body.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if stop:
            options["stop"] = stop
    elif stop is not None:
        raise bad_request("'stop' must be a string or an array of strings", "stop")
    return ChatRequest(model, messages, stream, bool(include_usage), options, _tools(body))


def _tools(body: Mapping[str, Any]) -> dict[str, Any] | None:
    tools = typed_field(body, "tools", (list,), "an array")
    choice = typed_field(body, "tool_choice", (str, dict), "a string or an object")
    parallel = typed_field(body, "parallel_tool_calls", (bool,), "true or false")
    if not tools:
        return None
    for i, tool in enumerate(tools):
        if not (isinstance(tool, dict) and isinstance(tool.get("function"), dict)):
            raise bad_request(f"'tools[{i}]' must be an object with a 'function' object", "tools")
        if not isinstance(tool["function"].get("name"), str):
            raise bad_request(f"'tools[{i}].function.name' must be a string", "tools")
    return {"tools": tools, "tool_choice": choice, "parallel_tool_calls": parallel}


def usage_to_openai(usage: Mapping[str, Any] | None, fallback_output: int = 0) -> dict[str, int]:
    """OpenAI's ``usage`` object from ``usage_metadata`` (or a count of output chunks)."""
    if not usage:
        return {
            "prompt_tokens": 0,
            "completion_tokens": fallback_output,
            "total_tokens": fallback_output,
        }
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens", prompt + completion)),
    }


def error_payload(exc: BaseException, partial: AIMessage | None) -> dict[str, Any]:
    """The typed description of a failure after the first token: ``type`` (the error class),
    ``message``, ``retryable`` and ``partial`` (``content``, ``tool_calls``, ``usage``)."""
    if isinstance(exc, StreamError) and isinstance(exc.partial, AIMessage):
        partial = exc.partial
    retryable = bool(getattr(exc, "retryable", False))
    message = redact_secrets(str(exc) or type(exc).__name__)
    kept: dict[str, Any] = {"content": "", "tool_calls": [], "usage": None}
    if partial is not None:
        kept = {
            "content": partial.text,
            "tool_calls": [dict(call) for call in partial.tool_calls],
            "usage": dict(partial.usage_metadata) if partial.usage_metadata else None,
        }
    return {"type": type(exc).__name__, "message": message, "retryable": retryable, "partial": kept}


class ChunkEncoder:
    """Builds the ``data:`` frames of one streamed completion; content deltas take a fast path
    (a prebuilt JSON prefix plus the JSON-escaped text).

    Example::

        enc = ChunkEncoder("chatcmpl-1", 0, "fake")
        enc.role()  # b'data: {"id":"chatcmpl-1",...,"delta":{"role":"assistant","content":""}...'
    """

    __slots__ = ("_head", "_text_head", "tool_calls", "finish_reason", "usage", "chunks", "_calls")

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._head = (
            f'{{"id":{_dumps(completion_id)},"object":"chat.completion.chunk",'
            f'"created":{created},"model":{_dumps(model)},"system_fingerprint":null,'
            '"choices":['
        )
        self._text_head = f'data: {self._head}{{"index":0,"delta":{{"content":'.encode()
        self.tool_calls = False
        self._calls = ToolCallIndexer()
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.chunks = 0

    def _choice(self, delta: str, finish: str | None = None) -> bytes:
        reason = "null" if finish is None else _dumps(finish)
        return encode_data(
            f'{self._head}{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{reason}}}]}}'
        )

    def role(self) -> bytes:
        return self._choice('{"role":"assistant","content":""}')

    def chunk(self, chunk: AIMessageChunk) -> bytes:
        """The frame for one model chunk (``b""`` if it carries no delta)."""
        text = plain_text(chunk)  # the per-token case: nothing but text, read without allocating
        if text is None:
            usage, finish = usage_and_finish(chunk)
            self.usage = usage or self.usage
            self.finish_reason = finish or self.finish_reason
            text = chunk.content
            tools = chunk.tool_call_chunks
            if tools:
                return self._tools(text, tools)
        if not text:
            return b""
        self.chunks += 1
        # The same bytes as ``_choice`` builds, from the prebuilt head: JSON text has no line
        # break, so this is one ``data:`` line (see ``encode_data``).
        # A lone surrogate (an upstream that split an emoji) is escaped as ``\\udXXX``.
        return b"".join(
            (self._text_head, _dumps(text).encode("utf-8", "backslashreplace"), _TEXT_TAIL)
        )

    def _tools(self, text: str, tools: list[ToolCallChunk]) -> bytes:
        if text:
            self.chunks += 1
        self.tool_calls = True
        delta: dict[str, Any] = {"tool_calls": [self._calls.delta(t) for t in tools]}
        if text:
            delta["content"] = text
        return self._choice(_dumps(delta))

    def finish(self) -> bytes:
        reason = self.finish_reason or "stop"
        if self.tool_calls and reason == "stop":
            reason = "tool_calls"
        return self._choice("{}", reason)

    def usage_frame(self) -> bytes:
        usage = _dumps(usage_to_openai(self.usage, self.chunks))
        return encode_data(f'{self._head}],"usage":{usage}}}')


class ToolCallIndexer:
    """Numbers the tool calls of one streamed reply the way OpenAI clients expect.

    Every call gets its own ``index`` (0, 1, ...), sent with each of its deltas; its ``id``,
    ``type`` and function ``name`` go with its first delta only (clients concatenate string
    fields). A piece belongs to the call with the same ``index`` unless it carries another
    ``id`` (some providers send parallel calls all at index 0); a piece without an index
    continues the latest call unless it brings a new ``id``.
    """

    __slots__ = ("_by_index", "_ids", "_named", "_last")

    def __init__(self) -> None:
        self._by_index: dict[int, int] = {}  # the provider's index -> our latest call there
        self._ids: list[str | None] = []  # id of each call, by our index
        self._named: list[bool] = []  # whether its name was sent
        self._last: int | None = None

    def delta(self, tcc: Mapping[str, Any]) -> dict[str, Any]:
        """The ``tool_calls`` delta entry for one tool-call piece."""
        source, call_id = tcc.get("index"), tcc.get("id") or None
        known = self._by_index.get(source) if source is not None else self._last
        fresh = known is None or (call_id is not None and self._ids[known] not in (None, call_id))
        if fresh:
            known = len(self._ids)
            self._ids.append(call_id)
            self._named.append(False)
        assert known is not None
        if source is not None:
            self._by_index[source] = known
        self._last = known
        out: dict[str, Any] = {"index": known}
        function: dict[str, Any] = {}
        if fresh:
            out["id"] = call_id or f"call_{uuid.uuid4().hex[:24]}"
            out["type"] = "function"
        elif call_id is not None and self._ids[known] is None:
            self._ids[known] = call_id
        name = tcc.get("name")
        if fresh or (name and not self._named[known]):
            function["name"] = name or ""
            self._named[known] = bool(name)
        function["arguments"] = tcc.get("args") or ""
        out["function"] = function
        return out


def upstream_error(exc: Exception) -> HTTPError:
    """An error raised before the first token, as the status this server answers with."""
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, RateLimitError):
        headers = []
        if exc.retry_after is not None:
            headers.append((b"retry-after", str(max(1, round(exc.retry_after))).encode()))
        message = redact_secrets(exc.message)
        return HTTPError(429, message, code="rate_limit_exceeded", headers=headers)
    if isinstance(exc, PoolTimeoutError):
        message = redact_secrets(exc.message)
        retry = [(b"retry-after", str(exc.retry_after).encode())]
        return HTTPError(
            503,
            f"the server is at its limit of concurrent upstream streams: {message}",
            type="server_error",
            code="upstream_busy",
            headers=retry,
        )
    if isinstance(exc, APIStatusError) and exc.status_code == 400:
        return HTTPError(400, redact_secrets(exc.message), code="upstream_bad_request")
    if isinstance(exc, APIError):
        message = redact_secrets(exc.message)
        return HTTPError(502, f"the upstream model failed: {message}", type="upstream_error")
    if isinstance(exc, (TypeError, ValueError)):
        return HTTPError(400, f"the model rejected the request: {redact_secrets(str(exc))}")
    message = redact_secrets(f"{type(exc).__name__}: {exc}")
    return HTTPError(500, f"the model failed: {message}", type="server_error")


async def stream_chat_completion(
    assistant: Assistant,
    request: ChatRequest,
    send: Send,
    receive: Receive,
    *,
    heartbeat: float | None,
) -> None:
    """Answer a ``stream: true`` request. The response starts with the first token (or the
    first error, as an HTTP status); a client that leaves cancels generation at once."""
    ticket = assistant.gate.reserve() if assistant.gate is not None else None
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    encoder = ChunkEncoder(completion_id, int(time.time()), request.model)

    async def produce(events: EventStream) -> None:
        try:
            if ticket is not None:
                await ticket.wait()
            await _produce_chunks(assistant, request, encoder, events)
        finally:
            if ticket is not None:
                ticket.release()

    await EventStream(send, receive, heartbeat=heartbeat).run(produce)


async def _produce_chunks(
    assistant: Assistant, request: ChatRequest, encoder: ChunkEncoder, events: EventStream
) -> None:
    chunks: AsyncIterator[AIMessageChunk] | None = None
    own: ChunkAccumulator | None = None
    try:
        try:
            chunks = stream = assistant.open_chat(request.messages, request.options, request.tools)
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = AIMessageChunk("")
        except Exception as exc:
            raise upstream_error(exc) from exc
        # A chat model's own stream folds its chunks already (its ``result``); another
        # target's is folded here, for an error's partial reply.
        if not isinstance(stream, AsyncChatStream):
            own = ChunkAccumulator()
            own.add(first)
        await events.send(encoder.role() + encoder.chunk(first))
        # The per-token loop: one frame (a prebuilt template for plain text), one ASGI send.
        encode = encoder.chunk
        send = events.send
        async for chunk in stream:
            if own is not None:
                own.add(chunk)
            frame = encode(chunk)
            if frame:
                await send(frame)
        tail = encoder.finish()
        if request.include_usage:
            tail += encoder.usage_frame()
        await events.send(tail + _DONE)
    except HTTPError:
        raise
    except Exception as exc:
        # (A failure before the first chunk was raised above as an HTTPError.)
        partial = own.result() if own is not None else _reply_so_far(chunks)
        payload = error_payload(exc, partial)
        error = {"error": {**payload, "param": None, "code": payload["type"]}}
        await events.send(encode_data(_dumps(error)))
    finally:
        if chunks is not None:
            await aclose_if_closable(chunks)


def _reply_so_far(stream: Any) -> AIMessage | None:
    return stream.result if isinstance(stream, AsyncChatStream) else None


async def collect_reply(
    items: AsyncGenerator[T, None], ticket: Ticket | None, add: Callable[[T], object]
) -> None:
    """Hand every item of a ``stream: false`` reply to ``add``, once ``ticket`` (if any) lets
    it run; a model failure becomes the HTTP error that answers it. The items are closed and
    the ticket released in any case."""
    try:
        if ticket is not None:
            await ticket.wait()
        async for item in items:
            add(item)
    except HTTPError:
        raise
    except StreamError as exc:
        message = redact_secrets(str(exc))
        raise HTTPError(
            502, f"the model failed mid-reply: {message}", type="upstream_error"
        ) from exc
    except Exception as exc:
        raise upstream_error(exc) from exc
    finally:
        await items.aclose()
        if ticket is not None:
            ticket.release()


async def chat_completion(
    assistant: Assistant, request: ChatRequest, send: Send, receive: Receive
) -> None:
    """Answer a ``stream: false`` request with one ``chat.completion`` object."""
    ticket = assistant.gate.reserve() if assistant.gate is not None else None

    async def collect() -> AIMessageChunk:
        acc = ChunkAccumulator()
        chunks = assistant.chat(request.messages, request.options, request.tools)
        await collect_reply(chunks, ticket, acc.add)
        return acc.result()

    disconnected, message = await watch_disconnect(receive, collect())
    if disconnected:
        return
    await send_json(send, 200, completion_object(request.model, message))


def completion_object(model: str, message: AIMessageChunk) -> dict[str, Any]:
    """A ``chat.completion`` object for a whole reply."""
    tools = [
        {
            "id": t.get("id"),
            "type": "function",
            "function": {"name": t.get("name") or "", "arguments": t.get("args") or ""},
        }
        for t in message.tool_call_chunks
    ]
    reason = str(message.response_metadata.get("finish_reason") or "stop")
    if tools and reason == "stop":
        reason = "tool_calls"
    reply: dict[str, Any] = {"role": "assistant", "content": message.text or None, "refusal": None}
    if tools:
        reply["tool_calls"] = tools
    elif reply["content"] is None:
        reply["content"] = ""
    chunks = 1 if message.text else 0
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": reason}],
        "usage": usage_to_openai(message.usage_metadata, chunks),
    }


def models_list(assistants: Mapping[str, Assistant]) -> dict[str, Any]:
    """The ``GET /v1/models`` answer: every model and graph served."""
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "tokentide" if a.kind == "model" else "tokentide-graph",
            }
            for name, a in assistants.items()
        ],
    }
