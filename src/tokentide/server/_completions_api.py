"""The OpenAI-compatible (legacy) ``/v1/completions`` endpoint: text in, text out.

A completion model (`LlamaCpp`, `OpenAI`, any `BaseLLM`) continues the prompt as it is. A chat
model (or graph) served under the requested name gets the prompt as one user message and its
reply is returned as the completion text (no chat template is bypassed: this is a convenience
for clients that only speak the completions API).

Streamed replies are ``text_completion`` chunks (``choices[0].text``; the last one has the
``finish_reason``), a usage chunk with empty ``choices`` when ``stream_options.include_usage``,
then ``data: [DONE]``; errors follow the rules of ``/v1/chat/completions`` (an HTTP status
before the first token, one ``data: {"error": ...}`` event after it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from tokentide.messages import AIMessageChunk, HumanMessage, UsageMetadata
from tokentide.models import BaseLLM
from tokentide.wire import encode_data

from ._asgi import EventStream, HTTPError, Receive, Send, send_json, watch_disconnect
from ._assistants import Assistant
from ._openai_api import (
    bad_request,
    collect_reply,
    error_payload,
    sampling_options,
    typed_field,
    upstream_error,
    usage_to_openai,
)

__all__ = ["CompletionRequest", "completion", "parse_completion_request", "stream_completion"]

_DONE = b"data: [DONE]\n\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_UNSUPPORTED = ("suffix", "logprobs", "logit_bias")


@dataclass(slots=True)
class CompletionRequest:
    """A validated text completion request."""

    model: str
    prompt: str
    stream: bool
    include_usage: bool
    options: dict[str, Any]


def _prompt(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request(
            "'prompt' is required and must be a string (or an array of one string)", "prompt"
        )
    return prompt


def parse_completion_request(body: Any) -> CompletionRequest:
    """Validate a decoded JSON body; `HTTPError` 400 says which field is wrong and why."""
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required and must be a non-empty string", "model")
    prompt = _prompt(body)
    for name in ("n", "best_of"):
        if typed_field(body, name, (int,), "an integer") not in (None, 1):
            raise bad_request(f"only {name}=1 is supported", name)
    if typed_field(body, "echo", (bool,), "a boolean"):
        raise bad_request("'echo' is not supported", "echo")
    for name in _UNSUPPORTED:
        if body.get(name) is not None:
            raise bad_request(f"'{name}' is not supported", name)
    stream = bool(typed_field(body, "stream", (bool,), "a boolean"))
    stream_options = typed_field(body, "stream_options", (dict,), "an object") or {}
    include_usage = bool(typed_field(stream_options, "include_usage", (bool,), "a boolean"))
    return CompletionRequest(model, prompt, stream, include_usage, _options(body))


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    options = sampling_options(body, ("max_tokens",))
    stop = body.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if stop:
            options["stop"] = stop
    elif stop is not None:
        raise bad_request("'stop' must be a string or an array of strings", "stop")
    return options


class TextSource:
    """The completion text of an assistant as ``str`` pieces; after (or during) iteration,
    ``usage`` and ``finish_reason`` say what the model reported."""

    __slots__ = ("assistant", "finish_reason", "request", "usage")

    def __init__(self, assistant: Assistant, request: CompletionRequest) -> None:
        self.assistant = assistant
        self.request = request
        self.usage: UsageMetadata | None = None
        self.finish_reason: str | None = None

    async def pieces(self) -> AsyncGenerator[str, None]:
        """The text pieces (an async generator: ``aclose()`` it when leaving early)."""
        target = self.assistant.target
        options = dict(self.request.options)
        if isinstance(target, BaseLLM):
            stream = target.astream(self.request.prompt, **options)
            try:
                async for text in stream:
                    yield text
            finally:
                await stream.aclose()
                result = stream.result
                self.usage = result.usage_metadata
                self.finish_reason = result.response_metadata.get("finish_reason")
            return
        chunks = self.assistant.chat([HumanMessage(self.request.prompt)], options, None)
        try:
            async for chunk in chunks:
                self._note(chunk)
                yield chunk.text
        finally:
            await chunks.aclose()

    def _note(self, chunk: AIMessageChunk) -> None:
        if chunk.usage_metadata:
            self.usage = chunk.usage_metadata
        reason = chunk.response_metadata.get("finish_reason") if chunk.response_metadata else None
        if reason:
            self.finish_reason = str(reason)


class _Frames:
    """The ``data:`` frames of one streamed completion."""

    __slots__ = ("_head", "pieces")

    def __init__(self, model: str) -> None:
        self._head = (
            f'{{"id":{_dumps(f"cmpl-{uuid.uuid4().hex}")},"object":"text_completion",'
            f'"created":{int(time.time())},"model":{_dumps(model)},"system_fingerprint":null,'
            '"choices":['
        )
        self.pieces = 0

    def text(self, text: str, finish: str | None = None) -> bytes:
        reason = "null" if finish is None else _dumps(finish)
        return encode_data(
            f'{self._head}{{"text":{_dumps(text)},"index":0,"logprobs":null,'
            f'"finish_reason":{reason}}}]}}'
        )

    def usage(self, usage: UsageMetadata | None) -> bytes:
        return encode_data(f'{self._head}],"usage":{_dumps(usage_to_openai(usage, self.pieces))}}}')


async def stream_completion(
    assistant: Assistant,
    request: CompletionRequest,
    send: Send,
    receive: Receive,
    *,
    heartbeat: float | None,
) -> None:
    """Answer a ``stream: true`` request; a client that leaves cancels generation at once."""
    ticket = assistant.gate.reserve() if assistant.gate is not None else None

    async def produce(events: EventStream) -> None:
        try:
            if ticket is not None:
                await ticket.wait()
            await _produce(TextSource(assistant, request), request, events)
        finally:
            if ticket is not None:
                ticket.release()

    await EventStream(send, receive, heartbeat=heartbeat).run(produce)


async def _produce(source: TextSource, request: CompletionRequest, events: EventStream) -> None:
    frames = _Frames(request.model)
    pieces = source.pieces()
    parts: list[str] = []
    try:
        try:
            first = await pieces.__anext__()
        except StopAsyncIteration:
            first = ""
        except Exception as exc:
            raise upstream_error(exc) from exc
        parts.append(first)
        if first:
            frames.pieces += 1
            await events.send(frames.text(first))
        async for text in pieces:
            parts.append(text)
            if text:
                frames.pieces += 1
                await events.send(frames.text(text))
        tail = frames.text("", source.finish_reason or "stop")
        if request.include_usage:
            tail += frames.usage(source.usage)
        await events.send(tail + _DONE)
    except HTTPError:
        raise
    except Exception as exc:
        partial = AIMessageChunk("".join(parts), usage_metadata=source.usage)
        payload = error_payload(exc, partial)
        error = {"error": {**payload, "param": None, "code": payload["type"]}}
        await events.send(encode_data(_dumps(error)))
    finally:
        await pieces.aclose()


async def completion(
    assistant: Assistant, request: CompletionRequest, send: Send, receive: Receive
) -> None:
    """Answer a ``stream: false`` request with one ``text_completion`` object."""
    ticket = assistant.gate.reserve() if assistant.gate is not None else None
    source = TextSource(assistant, request)

    async def collect() -> str:
        parts: list[str] = []
        await collect_reply(source.pieces(), ticket, parts.append)
        return "".join(parts)

    disconnected, text = await watch_disconnect(receive, collect())
    if disconnected:
        return
    await send_json(send, 200, completion_object(request.model, text, source))


def completion_object(model: str, text: str, source: TextSource) -> dict[str, Any]:
    """A ``text_completion`` object for a whole reply."""
    choice = {
        "text": text,
        "index": 0,
        "logprobs": None,
        "finish_reason": source.finish_reason or "stop",
    }
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [choice],
        "usage": usage_to_openai(source.usage, 1 if text else 0),
    }
