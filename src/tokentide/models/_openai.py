"""`ChatOpenAI`: a streaming client for OpenAI and every OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage
from tokentide.runtime import Runnable

from ._base import BaseChatModel, LanguageModelInput
from ._openai_client import OpenAIClient, client_args
from ._openai_core import ChatChunkParser, build_chat_body
from ._responses_core import ResponsesEventParser, build_responses_body, wants_responses_api
from ._structured import StructuredMethod, StructuredOutput
from ._tools import convert_to_openai_tool

__all__ = ["ChatOpenAI"]

_NO_CONFIG = (
    "ChatOpenAI needs an API key or a server: set OPENAI_API_KEY (or pass api_key=...) to use "
    "OpenAI, or set OPENAI_BASE_URL (or pass base_url=...) to use an OpenAI-compatible server "
    "such as llama.cpp, vLLM or Ollama (no key needed). To run the embedded local model "
    "instead, use tokentide.models.ChatLlamaCpp() or `tokentide ask --model local`."
)


class ChatOpenAI(OpenAIClient[AIMessage], BaseChatModel):
    """Chat model streaming from the OpenAI API or any OpenAI-compatible server.

    Configuration comes from the arguments or the environment (``OPENAI_API_KEY``,
    ``OPENAI_BASE_URL``). A base URL without a key works (local servers need none); with
    neither, the constructor raises `APIError` saying how to use the local model instead.

    Streaming behaviour:

    - usage is requested by default (``stream_options.include_usage``) and arrives as
      ``usage_metadata`` on a final chunk; a server that sends none is flagged with
      ``response_metadata["usage_missing"] = True``;
    - before the first token, HTTP errors raise `APIStatusError` subclasses and network errors
      `APIConnectionError` / `APITimeoutError`; connect errors, timeouts, 429 and 5xx are
      retried up to ``max_retries`` times (never after the first token);
    - an in-band ``{"error": ...}`` as the *first* event is an error before the first token:
      it raises the `APIStatusError` subclass its code stands for (e.g. ``rate_limit_exceeded``
      -> `RateLimitError`, retried like an HTTP 429) or `APIError` when the code says nothing;
    - after the first token every failure is a `StreamError` (`StreamInterrupted`,
      `ProviderError`, `StreamIdleTimeout`, `ProtocolError`) carrying ``.partial``;
    - ``timeout`` bounds connecting and waiting for the response headers, ``idle_timeout`` the
      silence inside the body (keep-alive comments do not count);
    - ``break`` / ``aclose()`` / cancellation closes the HTTP response at once.
    - ``max_connections`` bounds the concurrent streams of one client (httpx's default, 100,
      when ``None``; all kept alive for reuse): a stream that finds no free connection
      within ``timeout`` raises `PoolTimeoutError`. Raise it when one model serves many
      streams at once (``tokentide serve --max-concurrency`` sets it).

    ``use_responses_api=True`` streams from the OpenAI Responses API (``POST /responses``)
    instead of chat completions, with the same chunks, errors, retries and timeouts: text,
    tool-call argument chunks, reasoning summaries (``additional_kwargs["reasoning_content"]``;
    ask for them with ``model_kwargs={"reasoning": {"summary": "auto"}}``) and usage on the
    last chunk. Left at ``None``, it is used when a call names a parameter only that API has
    (``previous_response_id``, ``reasoning``, ``include``, ``text``, ``truncation``,
    ``instructions``, ``store``).

    The model holds one ``httpx.Client`` and one ``httpx.AsyncClient`` per event loop, created
    on first use: close them with :meth:`close` / :meth:`aclose` or a ``with`` block.

    Example::

        from tokentide.models import ChatOpenAI

        with ChatOpenAI(model="gpt-4o-mini", temperature=0) as chat:
            for chunk in chat.stream("Write a haiku about cats."):
                print(chunk.content, end="", flush=True)
    """

    default_model: ClassVar[str] = "gpt-4o-mini"
    no_config_message: ClassVar[str] = _NO_CONFIG

    def __init__(
        self,
        model: str | None = None,
        *,
        model_name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
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
        use_responses_api: bool | None = None,
        callbacks: Any = None,
        streaming: bool = False,
    ) -> None:
        arguments = locals()  # the parameters, handed on to OpenAIClient
        self.use_responses_api = use_responses_api
        super().__init__(**client_args(arguments, "use_responses_api"))

    def get_name(self) -> str:
        return self.name or "ChatOpenAI"

    def __repr__(self) -> str:
        extra = ", use_responses_api=True" if self.use_responses_api else ""
        return f"ChatOpenAI(model={self.model_name!r}, base_url={self.base_url!r}{extra})"

    # ------------------------------------------------------------------ streaming

    def _body(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        return build_chat_body(
            self.model_name,
            messages,
            options=self._options(),
            stream_usage=self.stream_usage,
            stop=stop or self.stop,
            extra=kwargs,
        )

    def _responses(self, kwargs: Mapping[str, Any]) -> bool:
        if self.use_responses_api is not None:
            return self.use_responses_api
        return wants_responses_api(kwargs) or wants_responses_api(self.model_kwargs)

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        if self._responses(kwargs):
            body = build_responses_body(
                self.model_name, messages, options=self._options(), extra=kwargs
            )
            return self._transport.stream("/responses", body, ResponsesEventParser)
        body = self._body(messages, stop, kwargs)
        return self._transport.stream("/chat/completions", body, ChatChunkParser)

    def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        if self._responses(kwargs):
            body = build_responses_body(
                self.model_name, messages, options=self._options(), extra=kwargs
            )
            return self._transport.astream("/responses", body, ResponsesEventParser)
        body = self._body(messages, stop, kwargs)
        return self._transport.astream("/chat/completions", body, ChatChunkParser)

    # ------------------------------------------------------------------ tools and schemas

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | Mapping[str, Any] | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable that offers ``tools`` to the model on every call.

        ``tools``: plain functions (type hints + docstring), pydantic models, TypedDicts, JSON
        schemas or OpenAI tool dicts. ``tool_choice``: ``"auto"``, ``"none"``, ``"required"``
        (``"any"`` or ``True`` mean required), a tool name, or an OpenAI tool-choice dict.
        Arguments stream as ``tool_call_chunks``; the merged message has parsed ``tool_calls``.
        """
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        names = [tool["function"]["name"] for tool in formatted]
        choice = _tool_choice(tool_choice, names)
        return self.bind(
            tools=formatted,
            tool_choice=choice,
            parallel_tool_calls=parallel_tool_calls,
            **kwargs,
        )

    def with_structured_output(
        self,
        schema: Any,
        *,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose output follows ``schema`` (pydantic model, TypedDict or JSON schema).

        ``method``: ``"json_schema"`` (``response_format``, the default), ``"function_calling"``
        (a forced tool call, for servers without JSON-schema output) or ``"json_mode"``.
        ``stream()`` yields partial dicts as the JSON arrives, then the validated value (a
        pydantic instance for a pydantic schema); ``invoke()`` returns the validated value.

        Example::

            class Joke(BaseModel):
                setup: str
                punchline: str

            for partial in chat.with_structured_output(Joke).stream("a joke about cats"):
                print(partial)   # {'setup': 'Why'} ... then Joke(setup=..., punchline=...)
        """
        return StructuredOutput.for_model(self, schema, method=method, strict=strict)


def _tool_choice(
    choice: str | bool | Mapping[str, Any] | None, names: list[str]
) -> str | dict[str, Any] | None:
    if choice is None or choice is False:
        return None
    if isinstance(choice, Mapping):
        return dict(choice)
    if choice is True or choice == "any":
        if len(names) == 1:
            return {"type": "function", "function": {"name": names[0]}}
        return "required"
    if choice in ("auto", "none", "required"):
        return choice
    if choice in names:
        return {"type": "function", "function": {"name": choice}}
    raise ValueError(f"tool_choice={choice!r} names no bound tool (tools: {names})")
