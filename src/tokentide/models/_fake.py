"""`FakeChatModel`: scripted replies for tests, demos and benchmarks."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar
from uuid import uuid4

from tokentide.errors import StreamInterrupted
from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    UsageMetadata,
)
from tokentide.messages._ids import fast_uuid4
from tokentide.runtime import Runnable

from ._base import BaseChatModel, LanguageModelInput, StreamCall
from ._structured import StructuredMethod, StructuredOutput
from ._tools import convert_to_openai_tool

__all__ = ["FakeChatModel"]

_TOKEN = re.compile(r"\s*\S+\s*|\s+")

Reply = str | Sequence[str] | AIMessage

#: ``ChatOpenAI`` keyword arguments that ``FakeChatModel`` accepts, records and ignores.
CHAT_OPENAI_OPTIONS = frozenset(
    {
        "api_key",
        "openai_api_key",
        "base_url",
        "openai_api_base",
        "organization",
        "openai_organization",
        "openai_proxy",
        "timeout",
        "request_timeout",
        "max_retries",
        "top_p",
        "n",
        "stop",
        "stop_sequences",
        "seed",
        "logprobs",
        "top_logprobs",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "stream_usage",
        "model_kwargs",
        "extra_body",
        "default_headers",
        "default_query",
        "http_client",
        "http_async_client",
        "reasoning_effort",
        "reasoning",
        "service_tier",
        "use_responses_api",
        "output_version",
        "verbose",
        "cache",
        "rate_limiter",
        "disable_streaming",
    }
)


class FakeChatModel(BaseChatModel):
    """A chat model that replies from a script, streaming like a real one.

    - ``responses``: the replies, used in turn (cycling). A ``str`` streams word by word
      (each word with its surrounding spaces); a list of strings streams exactly those
      chunks; an ``AIMessage`` streams its content and tool calls.
    - ``delay``: seconds to wait before each chunk (``time.sleep`` / ``asyncio.sleep``).
    - ``error_after``: raise ``StreamInterrupted`` after this many chunks (fault injection).
    - ``model`` / ``model_name``, ``temperature``, ``max_tokens``, ``streaming`` and the other
      common ``ChatOpenAI`` keyword arguments (:data:`CHAT_OPENAI_OPTIONS`: ``api_key``,
      ``base_url``, ``timeout``, ``max_retries``, ``top_p``, ``stop``, ``seed``, ...) are
      accepted so that ``FakeChatModel as ChatOpenAI`` works on existing constructor lines.
      They change nothing in the replies; ``model_name``, ``temperature``, ``max_tokens`` and
      ``streaming`` are kept as attributes and every one of them in :attr:`options`.

    Every reply ends with a chunk carrying ``usage_metadata`` (input: words of the prompt;
    output: chunks streamed) and ``finish_reason``; a stream closed early or failed reports
    the same counts so far. A call's ``stop`` strings (``invoke(prompt, stop=["END"])``, as a
    server passes a request's) end the reply before the first of them, as a real model does;
    the last chunk then has ``response_metadata["stop_sequence"]``.

    Example::

        model = FakeChatModel(responses=[["Hello", " world"]])
        assert model.invoke("hi").content == "Hello world"
    """

    provider: ClassVar[str] = "fake"

    def __init__(
        self,
        responses: Sequence[Reply] = ("Hello from the fake model.",),
        *,
        delay: float = 0.0,
        error_after: int | None = None,
        model_name: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        streaming: bool = False,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        callbacks: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(
            name=name, tags=tags, metadata=metadata, callbacks=callbacks, streaming=streaming
        )
        unknown = sorted(set(options) - CHAT_OPENAI_OPTIONS)
        if unknown:
            raise TypeError(
                f"FakeChatModel got unexpected keyword argument(s) {unknown}: it accepts "
                "responses, delay, error_after, name, tags, metadata, model/model_name, "
                f"temperature, max_tokens, streaming, callbacks and {sorted(CHAT_OPENAI_OPTIONS)}"
            )
        if model is not None and model_name is not None and model != model_name:
            raise ValueError(f"model={model!r} and model_name={model_name!r} disagree: pass one")
        if isinstance(responses, str):
            raise TypeError("responses must be a list of replies, e.g. responses=['Hello']")
        if not responses:
            raise ValueError("responses must hold at least one reply")
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        self.responses = list(responses)
        self.delay = delay
        self.error_after = error_after
        self.model_name = model_name or model or "fake-chat"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.streaming = streaming
        #: Every constructor option given (recorded, never used to change a reply).
        self.options: dict[str, Any] = {
            "model_name": self.model_name,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "streaming": streaming,
            **options,
        }
        self._next = 0

    @property
    def model(self) -> str:
        """The model name (``ChatOpenAI``'s ``model`` alias of ``model_name``)."""
        return self.model_name

    def get_name(self) -> str:
        return self.name or "FakeChatModel"

    def _take(self) -> Reply:
        reply = self.responses[self._next % len(self.responses)]
        self._next += 1
        return reply

    def _plan(
        self, messages: list[BaseMessage]
    ) -> tuple[Sequence[str | AIMessageChunk], AIMessage | None, int]:
        reply = self._take()
        message = reply if isinstance(reply, AIMessage) else None
        text = message.content if message is not None else reply
        pieces: list[str | AIMessageChunk]
        if isinstance(text, str):
            pieces = list(_TOKEN.findall(text))
        else:
            pieces = list(text)  # type: ignore[arg-type]
        if message is not None and message.tool_calls:
            pieces.extend(_tool_call_pieces(message))
        return pieces, message, _words(messages)

    def with_structured_output(
        self, schema: Any, *, method: StructuredMethod = "json_schema", strict: bool | None = None
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose scripted reply is parsed and validated against ``schema``.

        ``method="json_schema"`` (default) reads the reply's text as JSON (script
        ``'{"city": "sf"}'``); ``"function_calling"`` reads the arguments of its tool call
        (script an ``AIMessage`` calling a tool named after the schema). Partial dicts stream
        as the JSON arrives, as with a real model.
        """
        return StructuredOutput.for_model(self, schema, method=method, strict=strict)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None, **kwargs: Any
    ) -> int:
        """The prompt's size as this model counts it (its words): the reply's
        ``usage_metadata["input_tokens"]``, known before generating."""
        return _words(messages)

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable offering ``tools`` on every call, as a real provider's ``bind_tools``.

        The replies still come from the script: an ``AIMessage`` with ``tool_calls`` streams
        each call as a provider does (name and id first, then the JSON arguments in several
        pieces, each with the call's ``index``). ``tools`` are checked (anything
        ``convert_to_openai_tool`` accepts) and ``tool_choice`` must name a bound tool.

        Example::

            model = FakeChatModel(responses=[
                AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "sf"},
                                           "id": "call_1"}]),
                "It is sunny in San Francisco.",
            ]).bind_tools([get_weather])
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        names = [t["function"]["name"] for t in formatted]
        if isinstance(tool_choice, str) and tool_choice not in (
            "auto",
            "none",
            "required",
            "any",
            *names,
        ):
            raise ValueError(f"tool_choice={tool_choice!r} names no bound tool (tools: {names})")
        return self.bind(
            tools=formatted,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            **kwargs,
        )

    def _usage_so_far(
        self, call: StreamCall, acc: ChunkAccumulator
    ) -> tuple[UsageMetadata, bool] | None:
        n_in, n_out = _words(call.messages), acc.count
        return {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}, False

    def _final(
        self, n_in: int, n_out: int, message: AIMessage | None, hit: str | None = None
    ) -> AIMessageChunk:
        usage: UsageMetadata = {
            "input_tokens": n_in,
            "output_tokens": n_out,
            "total_tokens": n_in + n_out,
        }
        reason = "tool_calls" if message is not None and message.tool_calls else "stop"
        meta: dict[str, Any] = {"finish_reason": reason, "model_name": self.model_name}
        if hit is not None:
            meta["finish_reason"] = "stop"
            meta["stop_sequence"] = hit
        return AIMessageChunk(
            content="", usage_metadata=usage, response_metadata=meta, chunk_position="last"
        )

    def _fail(self, n: int) -> StreamInterrupted:
        return StreamInterrupted(f"scripted failure after {n} chunks (error_after={n})")

    def _script(
        self, messages: list[BaseMessage], stop: list[str] | None
    ) -> tuple[Sequence[str | AIMessageChunk], str, AIMessageChunk | StreamInterrupted]:
        """What one stream sends: its pieces, their message id and how it ends (the last chunk
        with the usage, or the scripted failure after ``error_after`` pieces): the sans-I/O
        core of :meth:`_stream` and :meth:`_astream`, which add only the pacing."""
        pieces, message, n_in = self._plan(messages)
        pieces, hit = cut_at_stop(pieces, stop)
        error_after = self.error_after
        end: AIMessageChunk | StreamInterrupted
        if error_after is not None and error_after <= len(pieces):
            pieces, end = pieces[:error_after], self._fail(error_after)
        else:
            end = self._final(n_in, len(pieces), message, hit)
        return pieces, f"lc_run--{fast_uuid4()}", end

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        pieces, msg_id, end = self._script(messages, stop)
        delay = self.delay
        for text in pieces:
            if delay:
                time.sleep(delay)
            yield _as_chunk(text, msg_id)
        if isinstance(end, StreamInterrupted):
            raise end
        yield end

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        pieces, msg_id, end = self._script(messages, stop)
        delay = self.delay
        for text in pieces:
            if delay:
                await asyncio.sleep(delay)
            yield _as_chunk(text, msg_id)
        if isinstance(end, StreamInterrupted):
            raise end
        yield end


def cut_at_stop(
    pieces: Sequence[str | AIMessageChunk], stop: Sequence[str] | None
) -> tuple[Sequence[str | AIMessageChunk], str | None]:
    """The scripted pieces up to the first of the ``stop`` strings in the reply's text, as a
    model that stops there (the stop string and everything after it dropped, tool calls too),
    and the stop string hit (``None``: no stop string in the text)."""
    if not stop:
        return pieces, None
    texts: list[str] = []
    for piece in pieces:
        if not isinstance(piece, str):
            break
        texts.append(piece)
    text = "".join(texts)
    hits = [(i, s) for s in stop if s and (i := text.find(s)) >= 0]
    if not hits:
        return pieces, None
    cut, hit = min(hits)
    kept: list[str | AIMessageChunk] = []
    at = 0
    for piece in texts:
        if at + len(piece) > cut:
            if cut > at:
                kept.append(piece[: cut - at])
            break
        kept.append(piece)
        at += len(piece)
    return kept, hit


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\],:]|[^{}\[\],:"\s]+|\s+')


def _tool_call_pieces(message: AIMessage) -> list[str | AIMessageChunk]:
    """Each tool call as a provider streams it: the name and id with the first piece of the
    JSON arguments, then the rest of the arguments a token at a time (same ``index``)."""
    pieces: list[str | AIMessageChunk] = []
    for i, call in enumerate(message.tool_calls):
        call_id = call.get("id") or f"call_{uuid4().hex[:24]}"
        tokens = _JSON_TOKEN.findall(json.dumps(call["args"], ensure_ascii=False)) or [""]
        for n, token in enumerate(tokens):
            chunk = {
                "name": call["name"] if n == 0 else None,
                "args": token,
                "id": call_id if n == 0 else None,
                "index": i,
                "type": "tool_call_chunk",
            }
            pieces.append(AIMessageChunk("", tool_call_chunks=[chunk]))  # type: ignore[list-item]
    return pieces


def _as_chunk(piece: str | AIMessageChunk, msg_id: str) -> AIMessageChunk:
    if isinstance(piece, AIMessageChunk):
        piece.id = msg_id
        return piece
    return AIMessageChunk(content=piece, id=msg_id)


def _words(messages: list[BaseMessage]) -> int:
    return sum(len(m.content.split()) for m in messages)
