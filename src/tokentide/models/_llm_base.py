"""`BaseLLM`: text-completion models (text in, text out); a provider is one generator of text.

A provider implements ``_stream(prompt, *, stop=None, **kwargs)`` (sync) and/or ``_astream``
(async), yielding ``str`` deltas; it may also yield `CompletionInfo` items (usage, finish
reason), which are recorded and not passed on. A provider that cannot stream implements
``_generate(prompt, *, stop=None, **kwargs) -> str`` or LangChain's ``_call(prompt, stop=None,
**kwargs) -> str`` instead; its stream then yields one chunk.

Where usage goes (per stream, never on the model object, so one model serves many threads):

- ``invoke()`` returns a `CompletionText`: a ``str`` that also carries ``usage_metadata`` and
  ``response_metadata`` (``finish_reason``, ``model_name`` ...);
- ``stream()`` / ``astream()`` return a `CompletionStream` / `AsyncCompletionStream`: iterate it
  for ``str`` chunks, then read ``stream.result`` (the same `CompletionText`, also mid-stream);
- the ``on_llm_end`` event's output is LangChain's ``{"generations": [[{"text", "generation_info",
  "type"}]], "llm_output": {"token_usage", "model_name"}}`` with the usage in both places;
- a failure after the first chunk raises a `StreamError` whose ``.partial`` is the
  `CompletionText` so far (usage included when it was known).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tokentide.errors import StreamError, StreamInterrupted
from tokentide.messages import BaseMessage, UsageMetadata, convert_to_messages
from tokentide.runtime import (
    RunContext,
    RunnableConfig,
    aclose_if_closable,
    get_buffer_string,
    left_early,
    run_sync_in_thread,
)

from ._base import _last_input, _quiet_tokens, sync_to_async_stream
from ._model_base import LanguageModel, LanguageModelInput, StreamArgs
from ._streams import AsyncModelStream, ModelStream

__all__ = [
    "AsyncCompletionStream",
    "BaseLLM",
    "CompletionInfo",
    "CompletionStream",
    "CompletionText",
    "prompt_from_input",
]


@dataclass(frozen=True, slots=True)
class CompletionInfo:
    """What a provider knows about a completion besides its text; yield it from ``_stream``.

    ``usage_metadata``: token counts (the last one seen wins: providers report cumulative
    counts). ``response_metadata``: ``finish_reason``, ``model_name``, ... (merged key by key).

    Example::

        yield CompletionInfo(usage_metadata={"input_tokens": 5, "output_tokens": 2,
                                             "total_tokens": 7},
                             response_metadata={"finish_reason": "stop"})
    """

    usage_metadata: UsageMetadata | None = None
    response_metadata: Mapping[str, Any] = field(default_factory=dict)


class CompletionText(str):
    """The text of a completion, with its usage and response metadata.

    It *is* a ``str`` (compares, prints and concatenates as one); ``.text`` gives the plain
    ``str``.

    Example::

        answer = llm.invoke("Say hi")
        print(answer)                 # the text
        answer.usage_metadata         # {"input_tokens": 3, "output_tokens": 2, ...} or None
        answer.response_metadata      # {"finish_reason": "stop", "model_name": ...}
    """

    usage_metadata: UsageMetadata | None
    response_metadata: dict[str, Any]

    def __new__(
        cls,
        text: str = "",
        *,
        usage_metadata: UsageMetadata | None = None,
        response_metadata: Mapping[str, Any] | None = None,
    ) -> CompletionText:
        self = super().__new__(cls, text)
        self.usage_metadata = usage_metadata
        self.response_metadata = dict(response_metadata or {})
        return self

    @property
    def text(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"CompletionText({str(self)!r}, usage_metadata={self.usage_metadata!r})"


class _State:
    """The text, usage and metadata of one stream so far."""

    __slots__ = ("meta", "parts", "usage")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.usage: UsageMetadata | None = None
        self.meta: dict[str, Any] = {}

    def take(self, item: str | CompletionInfo) -> str | None:
        """Record one item of the provider stream; the text to hand on, if it is text."""
        if type(item) is not str:
            self.note(item)
            if not isinstance(item, str):
                return None
        self.parts.append(item)
        return item

    def note(self, item: Any) -> None:
        if isinstance(item, CompletionInfo):
            if item.usage_metadata is not None:
                self.usage = item.usage_metadata
            self.meta.update(item.response_metadata)
        elif isinstance(item, CompletionText):
            if item.usage_metadata is not None:
                self.usage = item.usage_metadata
            self.meta.update(item.response_metadata)
        else:
            raise TypeError(
                f"a completion model's stream yields str or CompletionInfo, got {type(item)!r}"
            )

    def result(self) -> CompletionText:
        return CompletionText(
            "".join(self.parts), usage_metadata=self.usage, response_metadata=self.meta
        )

    def failure(self, exc: BaseException) -> BaseException:
        """What to raise for ``exc``: after the first chunk, a `StreamError` with ``.partial``."""
        if isinstance(exc, StreamError):
            if exc.partial is None and self.parts:
                exc.partial = self.result()
            return exc
        if not self.parts or left_early(exc) or not isinstance(exc, Exception):
            return exc
        error = StreamInterrupted(
            f"the stream failed after it had started: {type(exc).__name__}: {exc}",
            partial=self.result(),
            retryable=False,
        )
        error.__cause__ = exc  # as ``raise error from exc``
        error.__suppress_context__ = True
        return error


class _EndOutput:
    """The fold a completion run reports at its end: LangChain's ``LLMResult`` shape of the
    text so far (the stream's `_State` is filled by the guard, so ``add`` does nothing)."""

    __slots__ = ("state",)

    def __init__(self, state: _State) -> None:
        self.state = state

    def add(self, chunk: Any, /) -> None:
        pass

    def result(self) -> Any:
        return end_output(self.state.result())


def end_output(result: CompletionText) -> dict[str, Any]:
    """The output of an ``on_llm_end`` event (LangChain's ``LLMResult`` shape, as a dict)."""
    info: dict[str, Any] = dict(result.response_metadata)
    usage = result.usage_metadata
    llm_output: dict[str, Any] = {}
    if usage is not None:
        info["usage_metadata"] = usage
        llm_output["token_usage"] = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
        }
    if "model_name" in info:
        llm_output["model_name"] = info["model_name"]
    generation = {"text": str(result), "generation_info": info or None, "type": "Generation"}
    return {"generations": [[generation]], "llm_output": llm_output or None}


class CompletionStream(ModelStream[str]):
    """The ``str`` chunks of one completion; ``result`` is the text so far with its usage.

    Closing it (``close()``, ``break`` out of a ``with`` block or a ``for`` loop that drops it)
    stops generation at once.

    Example::

        stream = llm.stream("Write a haiku")
        for chunk in stream:
            print(chunk, end="|")
        stream.result.usage_metadata
    """

    __slots__ = ("_state",)

    def __init__(self, items: Iterator[str], state: _State) -> None:
        super().__init__(items)
        self._state = state

    def __enter__(self) -> CompletionStream:
        return self

    @property
    def result(self) -> CompletionText:
        """The text so far, with usage and metadata (complete once the stream ended)."""
        return self._state.result()

    @property
    def usage_metadata(self) -> UsageMetadata | None:
        return self._state.usage


class AsyncCompletionStream(AsyncModelStream[str]):
    """Async `CompletionStream`: ``aclose()`` or cancellation stops generation at once.

    Example::

        stream = llm.astream("Write a haiku")
        async for chunk in stream:
            print(chunk, end="|")
        stream.result.usage_metadata
    """

    __slots__ = ("_state",)

    def __init__(self, items: AsyncIterator[str], state: _State) -> None:
        super().__init__(items)
        self._state = state

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    @property
    def result(self) -> CompletionText:
        """The text so far, with usage and metadata (complete once the stream ended)."""
        return self._state.result()

    @property
    def usage_metadata(self) -> UsageMetadata | None:
        return self._state.usage


def prompt_from_input(value: Any) -> str:
    """The prompt text of a model input: a ``str``, a prompt value (``.to_string()``), or
    messages (one ``Role: content`` line each, as LangChain's ``get_buffer_string``)."""
    if isinstance(value, str):
        return value
    to_string = getattr(value, "to_string", None)
    if callable(to_string):
        return str(to_string())
    if isinstance(value, (BaseMessage, Mapping)):
        value = [value]
    if isinstance(value, Sequence):
        return get_buffer_string(convert_to_messages(list(value)))
    raise TypeError(
        "a completion model takes a str, a prompt value or a list of messages, "
        f"got {type(value).__name__}"
    )


class BaseLLM(LanguageModel[str]):
    """Base of every text-completion model: text in, ``str`` chunks out.

    Subclasses implement ``_stream`` and/or ``_astream`` (``str`` deltas, optionally
    `CompletionInfo` items), or only ``_generate`` / ``_call`` (one whole ``str``), and set
    ``provider`` and ``model_name`` for the run metadata (``ls_model_type`` is ``"llm"``).
    Events are ``on_llm_start`` / ``on_llm_stream`` (``data["chunk"]`` is the ``str``) /
    ``on_llm_end``; they are built only when someone listens.

    Example::

        class Echo(BaseLLM):
            def _stream(self, prompt, *, stop=None, **kwargs):
                yield from prompt.split(" ")

        for chunk in Echo().stream("a b c"):
            print(chunk, end="|")  # a|b|c|
        Echo().invoke("a b c")     # "abc"
    """

    run_type = "llm"
    ls_model_type: ClassVar[str] = "llm"

    # ------------------------------------------------------------------ provider hooks

    def _stream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[str | CompletionInfo]:
        yield self._complete(prompt, stop, kwargs)

    async def _astream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[str | CompletionInfo]:
        if type(self)._stream is BaseLLM._stream:
            yield await run_sync_in_thread(self._complete, prompt, stop, kwargs)
            return
        stream = sync_to_async_stream(self._stream, prompt, stop=stop, **kwargs)
        try:
            async for item in stream:
                yield item
        finally:
            await aclose_if_closable(stream)

    def _generate(self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any) -> str:
        raise NotImplementedError

    def _call(  # type: ignore[override]
        self, prompt: str, stop: list[str] | None = None, **kwargs: Any
    ) -> str:
        raise NotImplementedError

    def _complete(self, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]) -> str:
        cls = type(self)
        if cls._generate is not BaseLLM._generate:
            return self._generate(prompt, stop=stop, **kwargs)
        if cls._call is not BaseLLM._call:
            return self._call(prompt, stop=stop, **kwargs)
        raise NotImplementedError(f"{cls.__name__} implements none of _stream, _generate, _call")

    # ------------------------------------------------------------------ public API

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> CompletionStream:
        """Yield the completion as ``str`` chunks. ``close()`` stops generation at once."""
        return self._open((input, config, stop, kwargs))

    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncCompletionStream:
        """Async :meth:`stream`; ``aclose()`` or cancellation stops generation at once."""
        return self._aopen((input, config, stop, kwargs))

    def _open(self, call: StreamArgs, tokens: bool = True) -> CompletionStream:
        input, config, stop, kwargs = call
        run, prompt, state = self._begin(input, config, tokens)
        items = self._text(self._stream(prompt, stop=stop, **kwargs), state)
        if run.sink is not None:
            items = self._observe(run, {"prompts": [prompt]}, items, output=_EndOutput(state))
        return CompletionStream(items, state)

    def _aopen(self, call: StreamArgs, tokens: bool = True) -> AsyncCompletionStream:
        input, config, stop, kwargs = call
        run, prompt, state = self._begin(input, config, tokens)
        items = self._atext(self._astream(prompt, stop=stop, **kwargs), state)
        if run.sink is not None:
            items = self._aobserve(run, {"prompts": [prompt]}, items, output=_EndOutput(state))
        return AsyncCompletionStream(items, state)

    def _begin(
        self, input: LanguageModelInput, config: RunnableConfig | None, tokens: bool
    ) -> tuple[RunContext, str, _State]:
        run = self._new_run(config)
        if not tokens and run.sink is not None:
            _quiet(self, run)
        return run, prompt_from_input(input), _State()

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> CompletionText:
        """The whole completion (the merged stream: listeners still see every chunk)."""
        stream = self._open((input, config, stop, kwargs), tokens=False)
        try:
            for _ in stream:
                pass
        finally:
            stream.close()
        return stream.result

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> CompletionText:
        """Async :meth:`invoke`."""
        stream = self._aopen((input, config, stop, kwargs), tokens=False)
        try:
            async for _ in stream:
                pass
        finally:
            await stream.aclose()
        return stream.result

    def transform(
        self, inputs: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> CompletionStream:
        return self.stream(_last_input(list(inputs)), config, **kwargs)

    async def atransform(
        self, inputs: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        items = [item async for item in inputs]
        stream = self.astream(_last_input(items), config, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    # Runnable hooks, for completeness (the public methods above do not use them).
    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[str]:
        return self._text(self._stream(prompt_from_input(input), **kwargs), _State())

    def _aiter(self, input: Any, run: RunContext, **kwargs: Any) -> AsyncIterator[str]:
        return self._atext(self._astream(prompt_from_input(input), **kwargs), _State())

    # ------------------------------------------------------------------ the stream's life

    @staticmethod
    def _text(items: Iterator[str | CompletionInfo], state: _State) -> Iterator[str]:
        """The text of a provider stream, its other items recorded on ``state`` (sync)."""
        append = state.parts.append
        try:
            for item in items:
                if type(item) is str:  # _State.take, inlined for plain text (per token)
                    append(item)
                    yield item
                    continue
                text = state.take(item)
                if text is not None:
                    yield text
        except BaseException as exc:
            raise state.failure(exc)  # noqa: B904 - failure() chains the cause when it wraps
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    @staticmethod
    async def _atext(
        items: AsyncIterator[str | CompletionInfo], state: _State
    ) -> AsyncIterator[str]:
        """The async shell of :meth:`_text`."""
        append = state.parts.append
        try:
            async for item in items:
                if type(item) is str:
                    append(item)
                    yield item
                    continue
                text = state.take(item)
                if text is not None:
                    yield text
        except BaseException as exc:
            raise state.failure(exc)  # noqa: B904
        finally:
            await aclose_if_closable(items)


def _quiet(model: BaseLLM, run: RunContext) -> None:
    """``invoke``: handlers get no tokens unless ``streaming=True`` (as in LangChain)."""
    _quiet_tokens(model, run)
