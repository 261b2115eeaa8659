"""`OpenAI`: the text-completion client for OpenAI's (legacy) ``/v1/completions`` endpoint and
every OpenAI-compatible server that has it (llama.cpp, vLLM ...).

It shares `ChatOpenAI`'s transport (`HTTPTransport`: retries before the first token, typed
errors, idle timeout, prompt close) and its error mapping; only the request body
(`build_completion_body`) and the chunk mapper (`CompletionChunkParser`) are its own.

Mapping of a streamed ``text_completion`` chunk:

- ``choices[0].text`` -> one ``str`` chunk (also an empty one, as LangChain yields it);
- ``finish_reason``, ``logprobs``, ``model`` (as ``model_name``), ``system_fingerprint`` ->
  ``response_metadata`` of the result;
- ``usage`` (when the server sends it: OpenAI with ``stream_options.include_usage``) ->
  ``usage_metadata``; a server that sends none is flagged with
  ``response_metadata["usage_missing"] = True``;
- ``{"error": ...}`` -> a provider failure; ``data: [DONE]`` ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar

from tokentide.wire import ServerSentEvent

from ._errors import StreamFailure
from ._llm_base import BaseLLM, CompletionInfo
from ._openai_client import OpenAIClient, client_args
from ._openai_core import event_failure, map_usage

__all__ = ["CompletionChunkParser", "OpenAI", "build_completion_body"]

_NO_CONFIG = (
    "OpenAI needs an API key or a server: set OPENAI_API_KEY (or pass api_key=...) to use "
    "OpenAI, or set OPENAI_BASE_URL (or pass base_url=...) to use an OpenAI-compatible server "
    "such as llama.cpp or vLLM (no key needed). To run the embedded local model instead, use "
    "tokentide.models.LlamaCpp() or `tokentide ask --completion --model local`."
)

CompletionItem = str | CompletionInfo


def build_completion_body(
    model: str,
    prompt: str,
    *,
    options: Mapping[str, Any],
    stream_usage: bool = True,
    stop: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a streamed ``/completions`` request (``None`` values are left out;
    ``extra``, the per-call keyword arguments, wins over ``options``)."""
    body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": True}
    for key, value in options.items():
        if value is not None:
            body[key] = value
    if stop:
        body["stop"] = stop
    if stream_usage:
        body["stream_options"] = {"include_usage": True}
    for key, value in (extra or {}).items():
        if key == "stream_usage":
            if value is False:
                body.pop("stream_options", None)
            elif value:
                body["stream_options"] = {"include_usage": True}
        elif value is not None:
            body[key] = value
    return body


class CompletionChunkParser:
    """Maps the SSE events of one ``text_completion`` stream to ``str`` and `CompletionInfo`.

    An `EventHandler` for `HTTPTransport`: it never raises; a failure is stored in
    ``failure`` and ``done`` is set by ``data: [DONE]``.

    Example::

        parser = CompletionChunkParser()
        parser.feed([ServerSentEvent(data='{"choices":[{"text":"Hi","index":0}]}')])  # ["Hi"]
    """

    __slots__ = ("_meta", "_usage", "done", "failure")

    def __init__(self) -> None:
        self.done = False
        self.failure: StreamFailure | None = None
        self._meta: dict[str, Any] = {}
        self._usage: Any = None

    def feed(self, events: list[ServerSentEvent]) -> list[CompletionItem]:
        out: list[CompletionItem] = []
        for event in events:
            data = event.data
            try:
                obj = json.loads(data)
            except ValueError:
                if data.strip() == "[DONE]":
                    self.done = True
                    out.append(self._info())
                    return out
                self.failure = StreamFailure(
                    "protocol", f"the server sent data that is not JSON: {data[:120]!r}"
                )
                return out
            text = self._map(obj, event.event)
            if self.failure is not None:
                return out
            if text is not None:
                out.append(text)
        return out

    def end(self) -> list[CompletionItem]:
        """The body ended without ``[DONE]``: report the interruption, keep what is known."""
        if self.done or self.failure is not None:
            return []
        self.failure = StreamFailure(
            "interrupted", "the stream ended before its end marker ([DONE])"
        )
        return [self._info()] if self._usage is not None else []

    def _map(self, obj: Any, event_type: str) -> str | None:
        if not isinstance(obj, dict) or obj.get("error") is not None or event_type == "error":
            self.failure = event_failure(obj)
            return None
        meta = self._meta
        if obj.get("model") and "model_name" not in meta:
            meta["model_name"] = obj["model"]
        if obj.get("system_fingerprint"):
            meta["system_fingerprint"] = obj["system_fingerprint"]
        if isinstance(obj.get("usage"), dict):
            self._usage = map_usage(obj["usage"])
        choices = obj.get("choices")
        if not choices or not isinstance(choices[0], dict):
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            meta["finish_reason"] = choice["finish_reason"]
        if choice.get("logprobs") is not None:
            meta.setdefault("logprobs", []).append(choice["logprobs"])
        text = choice.get("text")
        return text if isinstance(text, str) else ""

    def _info(self) -> CompletionInfo:
        meta = {**self._meta, "model_provider": "openai"}
        if self._usage is None:
            meta["usage_missing"] = True
        return CompletionInfo(usage_metadata=self._usage, response_metadata=meta)


class OpenAI(OpenAIClient[str], BaseLLM):
    """Text-completion model streaming from OpenAI's ``/v1/completions`` or any
    OpenAI-compatible server; each chunk is a ``str``.

    Options, configuration (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``), errors, retries (only
    before the first chunk), ``timeout`` / ``idle_timeout`` / ``max_connections`` and prompt
    close on ``break`` / ``aclose()`` are those of `ChatOpenAI`. ``max_tokens`` defaults to 256 (the endpoint's own
    default, 16, cuts most answers short). Usage is requested by default and is found on
    ``invoke()``'s result, on ``stream.result`` and in the ``on_llm_end`` event (see `BaseLLM`).
    Options the endpoint does not name go in ``model_kwargs`` (every request) or as per-call
    keyword arguments: ``OpenAI(model_kwargs={"min_tokens": 16})`` asks llama.cpp's server or
    vLLM not to end before 16 tokens, as `LlamaCpp` does by default.

    Example::

        from tokentide.models import OpenAI

        llm = OpenAI(model="gpt-3.5-turbo-instruct", temperature=0, max_tokens=512)
        for chunk in llm.stream("Write me a 1 verse song about sparkling water."):
            print(chunk, end="|", flush=True)
    """

    default_model: ClassVar[str] = "gpt-3.5-turbo-instruct"
    no_config_message: ClassVar[str] = _NO_CONFIG

    def __init__(
        self,
        model: str | None = None,
        *,
        model_name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = 256,
        seed: int | None = None,
        timeout: float | None = 60.0,
        idle_timeout: float | None = 120.0,
        max_retries: int = 2,
        max_connections: int | None = None,
        stream_usage: bool = True,
        default_headers: Mapping[str, str] | None = None,
        stop: list[str] | None = None,
        top_p: float | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        openai_api_key: str | None = None,
        openai_api_base: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        callbacks: Any = None,
        streaming: bool = False,
    ) -> None:
        arguments = locals()  # the parameters, handed on to OpenAIClient
        super().__init__(**client_args(arguments))

    def get_name(self) -> str:
        return self.name or "OpenAI"

    def __repr__(self) -> str:
        return f"OpenAI(model={self.model_name!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ streaming

    def _body(
        self, prompt: str, stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        return build_completion_body(
            self.model_name,
            prompt,
            options=self._options(),
            stream_usage=self.stream_usage,
            stop=stop or self.stop,
            extra=kwargs,
        )

    def _stream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[CompletionItem]:
        body = self._body(prompt, stop, kwargs)
        return self._transport.stream("/completions", body, CompletionChunkParser)

    def _astream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[CompletionItem]:
        body = self._body(prompt, stop, kwargs)
        return self._transport.astream("/completions", body, CompletionChunkParser)
