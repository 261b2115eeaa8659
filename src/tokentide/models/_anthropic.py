"""`ChatAnthropic`: a streaming client for the Anthropic Messages API (Claude) and every server
that speaks it (llama.cpp, vLLM, ``tokentide serve``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from tokentide.errors import APIError
from tokentide.messages import AIMessageChunk, BaseMessage, ChunkAccumulator, UsageMetadata
from tokentide.runtime import Runnable

from ._anthropic_core import (
    MessagesEventParser,
    anthropic_tool,
    build_messages_body,
    map_anthropic_usage,
    tool_choice_for,
)
from ._base import BaseChatModel, LanguageModelInput, StreamCall
from ._http import HTTPTransport
from ._http_model import HTTPModel
from ._structured import StructuredMethod, StructuredOutput
from ._tools import convert_to_openai_tool

__all__ = ["ChatAnthropic"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_NO_CONFIG = (
    "ChatAnthropic needs an API key or a server: set ANTHROPIC_API_KEY (or pass api_key=...) "
    "to use Claude, or set ANTHROPIC_BASE_URL (or pass base_url=...) to use a server that "
    "speaks the Messages API, such as llama.cpp, vLLM or `tokentide serve` (no key needed)."
)


class ChatAnthropic(HTTPModel, BaseChatModel):
    """Chat model streaming from the Anthropic Messages API (``POST /v1/messages``).

    Configuration comes from the arguments or the environment (``ANTHROPIC_API_KEY``,
    ``ANTHROPIC_BASE_URL``; the base URL is the server root, without ``/v1``). The key is sent
    as ``x-api-key`` with ``anthropic-version``.

    It streams like `ChatOpenAI`, on the same HTTP transport: retries only before the first
    token (connect errors, timeouts, 429, 5xx and 529 ``overloaded_error``), typed errors
    (`APIStatusError` subclasses before the first token; `StreamError` with ``.partial`` after
    it, e.g. an in-band ``overloaded_error`` becomes a retryable `ProviderError`), an idle
    timeout, and a prompt close of the HTTP response when the stream is left.

    Usage arrives on the last chunk from ``message_start`` plus ``message_delta``:
    ``input_tokens`` counts cache reads and writes too (detailed in ``input_token_details``).
    ``thinking`` blocks stream as ``additional_kwargs["reasoning_content"]`` (ask for them with
    ``thinking={"type": "enabled", "budget_tokens": 1024}``).

    Example::

        from tokentide.models import ChatAnthropic

        with ChatAnthropic(model="claude-sonnet-4-5", max_tokens=512) as chat:
            for chunk in chat.stream("Write a haiku about cats."):
                print(chunk.content, end="", flush=True)
    """

    provider: ClassVar[str] = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 1024,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: list[str] | None = None,
        thinking: Mapping[str, Any] | None = None,
        timeout: float | None = 60.0,
        idle_timeout: float | None = 120.0,
        max_retries: int = 2,
        max_connections: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        anthropic_api_key: str | None = None,
        anthropic_api_url: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, tags=tags, metadata=metadata)
        if model is not None and model_name is not None and model != model_name:
            raise ValueError(f"model={model!r} and model_name={model_name!r} disagree")
        chosen = model or model_name
        if not chosen:
            raise ValueError("ChatAnthropic needs a model name, e.g. model='claude-sonnet-4-5'")
        if max_tokens < 1:
            raise ValueError(
                f"max_tokens must be at least 1 (Anthropic requires it), got {max_tokens}"
            )
        self.model_name = chosen
        key = api_key or anthropic_api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        url = base_url or anthropic_api_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        if key is None and url is None:
            raise APIError(_NO_CONFIG)
        self.base_url = (url or DEFAULT_BASE_URL).rstrip("/")
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.stop = list(stop) if stop else None
        self.thinking = dict(thinking) if thinking else None
        self.model_kwargs = dict(model_kwargs or {})
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if key:
            headers["x-api-key"] = key
        headers.update(default_headers or {})
        self._transport = HTTPTransport(
            base_url=self.base_url,
            api_key=None,
            timeout=timeout,
            idle_timeout=idle_timeout,
            max_retries=max_retries,
            default_headers=headers,
            max_connections=max_connections,
        )

    def get_name(self) -> str:
        return self.name or "ChatAnthropic"

    def __repr__(self) -> str:
        return f"ChatAnthropic(model={self.model_name!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ streaming

    def _options(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "thinking": self.thinking,
            **self.model_kwargs,
        }

    def _body(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        return build_messages_body(
            self.model_name, messages, options=self._options(), stop=stop or self.stop, extra=kwargs
        )

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        body = self._body(messages, stop, kwargs)
        return self._transport.stream("/v1/messages", body, MessagesEventParser)

    def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        body = self._body(messages, stop, kwargs)
        return self._transport.astream("/v1/messages", body, MessagesEventParser)

    def _start(
        self, call: StreamCall, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Iterator[AIMessageChunk]:
        seen: dict[str, Any] = {}
        call.stats = seen
        body = self._body(call.messages, stop, kwargs)
        return self._transport.stream("/v1/messages", body, lambda: MessagesEventParser(seen))

    def _astart(
        self, call: StreamCall, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[AIMessageChunk]:
        seen: dict[str, Any] = {}
        call.stats = seen
        body = self._body(call.messages, stop, kwargs)
        return self._transport.astream("/v1/messages", body, lambda: MessagesEventParser(seen))

    def _usage_so_far(
        self, call: StreamCall, acc: ChunkAccumulator
    ) -> tuple[UsageMetadata, bool] | None:
        """A stream that ended early: the input usage from ``message_start`` (exact) and the
        output so far (at least one token per chunk received)."""
        seen = call.stats
        if not seen:
            return super()._usage_so_far(call, acc)
        counted = max(int(seen.get("output_tokens") or 0), acc.count)
        return map_anthropic_usage({**seen, "output_tokens": counted}), True

    # ------------------------------------------------------------------ tools and schemas

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | Mapping[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable that offers ``tools`` to the model on every call.

        ``tools``: plain functions, pydantic models, TypedDicts, JSON schemas, OpenAI tool dicts
        or Anthropic tool dicts. ``tool_choice``: ``"auto"``, ``"none"``, ``"any"`` (or
        ``"required"`` / ``True``), a tool name, or an Anthropic tool-choice dict. Arguments
        stream as ``tool_call_chunks`` (from ``input_json_delta``).
        """
        formatted = [
            dict(tool)
            if isinstance(tool, Mapping) and "input_schema" in tool
            else anthropic_tool(convert_to_openai_tool(tool, strict=strict))
            for tool in tools
        ]
        names = [tool["name"] for tool in formatted]
        choice = tool_choice_for(tool_choice, names)
        return self.bind(tools=formatted, tool_choice=choice, **kwargs)

    def with_structured_output(
        self,
        schema: Any,
        *,
        method: StructuredMethod = "function_calling",
        strict: bool | None = None,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose output follows ``schema`` (pydantic model, TypedDict or JSON
        schema), through a forced tool call (``method="function_calling"``, the only method
        the Messages API offers). ``stream()`` yields partial dicts, then the validated value.
        """
        if method != "function_calling":
            raise ValueError(
                f"ChatAnthropic supports method='function_calling' only, got {method!r}"
            )
        return StructuredOutput.for_model(self, schema, method=method, strict=strict)
