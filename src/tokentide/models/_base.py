"""`BaseChatModel`: a provider implements one generator of deltas; everything else follows.

A provider implements ``_stream`` (sync) and/or ``_astream`` (async), yielding
``AIMessageChunk``s; a provider that cannot stream may implement ``_generate`` instead (its
``stream()`` then yields one chunk). ``invoke`` is the merged stream.

The public methods add, only when someone listens to the run, the run's events; and always:

- the same message ``id`` on every chunk of one reply;
- after the first chunk, any failure becomes a ``StreamError`` carrying the partial message;
- closing the stream early (``break``, ``aclose()``, cancellation) closes the provider's
  generator at once, which stops generation or closes the HTTP response;
- a stream that ends before the provider reported usage (closed early, or failed) gets the
  usage so far from :meth:`BaseChatModel._usage_so_far`: exact where the provider knows it,
  else estimated (one output token per chunk received, input unknown = 0) and marked
  ``response_metadata["usage_estimated"] = True``. It reaches the end event's output and
  ``StreamError.partial``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, ClassVar

from tokentide.callbacks._dispatch import NO_TOKENS
from tokentide.errors import StreamError, StreamInterrupted
from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    UsageMetadata,
    convert_to_messages,
)
from tokentide.messages._ids import fast_uuid4
from tokentide.runtime import (
    INVOKED,
    RunContext,
    RunnableConfig,
    RunObserver,
    aclose_if_closable,
    left_early,
    may_backlog,
    stream_from_thread,
)

from ._model_base import LanguageModel, LanguageModelInput, StreamArgs
from ._streams import AsyncChatStream, ChatStream

__all__ = ["BaseChatModel", "LanguageModelInput", "sync_to_async_stream"]

#: How far a blocking provider's worker thread may run ahead of an async consumer.
SYNC_TO_ASYNC_BUFFER = 64


class StreamCall:
    """The state of one model call, sans-I/O, shared by its guard and its provider (never kept
    on the model, which many threads and tasks share).

    ``messages``: the call's input; ``acc``: the fold of its chunks (the one fold shared by
    error partials, the end event, ``invoke`` and a stream's ``.result``); ``stats``: whatever
    the provider records as it generates (e.g. the local model's token counts), read by
    :meth:`BaseChatModel._usage_so_far`. The guards feed it each chunk (:meth:`note`) and the
    exception that ended the stream (:meth:`failure`), and :meth:`settle` it when the stream
    ended early.
    """

    __slots__ = ("acc", "messages", "msg_id", "stats", "usage_so_far")

    def __init__(
        self,
        messages: list[BaseMessage],
        usage_so_far: UsageSoFar | None = None,
    ) -> None:
        self.messages = messages
        self.acc = ChunkAccumulator()
        self.msg_id: str | None = None
        self.stats: Any = None
        self.usage_so_far = usage_so_far

    def note(self, chunk: AIMessageChunk) -> None:
        """One chunk from the provider: the same message ``id`` on every chunk, then fold
        (the guards do the same inline)."""
        if chunk.id is None:
            chunk.id = self.msg_id or self.first_id()
        elif self.msg_id is None:
            self.msg_id = chunk.id or self.first_id()
        self.acc.add(chunk)

    def first_id(self) -> str:
        """A new message id for the call (its first chunk came without one)."""
        msg_id = self.msg_id = f"lc_run--{fast_uuid4()}"
        return msg_id

    def failure(self, exc: BaseException) -> BaseException:
        """What to raise for the exception that ended the provider stream: after the first
        chunk, a failure becomes a `StreamError` carrying the partial message (with the usage
        so far); a consumer leaving, or a failure before any chunk, is raised unchanged."""
        if isinstance(exc, StreamError):
            if exc.partial is None and self.msg_id is not None:
                self.settle()
                exc.partial = self.acc.result()
            return exc
        if self.msg_id is None or left_early(exc) or not isinstance(exc, Exception):
            return exc
        self.settle()
        error = StreamInterrupted(
            f"the stream failed after it had started: {type(exc).__name__}: {exc}",
            partial=self.acc.result(),
            retryable=False,
        )
        error.__cause__ = exc  # as ``raise error from exc``
        error.__suppress_context__ = True
        return error

    def settle(self) -> None:
        """Give a stream that ended early the usage so far, unless the provider sent some."""
        acc = self.acc
        if self.usage_so_far is None or acc.usage_metadata is not None:
            return
        found = self.usage_so_far(self, acc)
        if found is None:
            return
        usage, estimated = found
        acc.add(
            AIMessageChunk(
                "",
                usage_metadata=usage,
                response_metadata={"usage_estimated": True} if estimated else None,
            )
        )


UsageSoFar = Callable[[StreamCall, ChunkAccumulator], "tuple[UsageMetadata, bool] | None"]


class BaseChatModel(LanguageModel[AIMessage]):
    """Base of every chat model.

    Subclasses implement ``_stream(messages, stop=None, **kwargs)`` and/or ``_astream(...)``
    yielding ``AIMessageChunk``s (or ``_generate`` returning one ``AIMessage``), and set
    ``provider`` and ``model_name`` for the run metadata (``ls_provider``, ``ls_model_name``).

    Example::

        from tokentide.models import FakeChatModel

        model = FakeChatModel(responses=[["Hel", "lo"]])
        for chunk in model.stream("hi"):
            print(chunk.content, end="|")  # Hel|lo|
    """

    run_type = "chat_model"
    ls_model_type: ClassVar[str] = "chat"

    # ------------------------------------------------------------------ provider hooks

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        if type(self)._generate is BaseChatModel._generate:
            raise NotImplementedError(
                f"{type(self).__name__} implements neither _stream nor _generate"
            )
        message = self._generate(messages, stop=stop, **kwargs)
        yield _as_chunk(message)

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        stream = sync_to_async_stream(self._stream, messages, stop=stop, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_if_closable(stream)

    def _generate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AIMessage:
        raise NotImplementedError

    def _start(
        self, call: StreamCall, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Iterator[AIMessageChunk]:
        """The provider stream of one call (override to record counts on ``call.stats``)."""
        return self._stream(call.messages, stop=stop, **kwargs)

    def _astart(
        self, call: StreamCall, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[AIMessageChunk]:
        """Async :meth:`_start`."""
        return self._astream(call.messages, stop=stop, **kwargs)

    def _usage_so_far(
        self, call: StreamCall, acc: ChunkAccumulator
    ) -> tuple[UsageMetadata, bool] | None:
        """The usage of a call that ended (closed early or failed) before its provider
        reported any, with whether it is an estimate; called once, after the provider stream
        was closed. The default estimates one output token per chunk received (input unknown:
        0); a provider that knows better overrides it."""
        return _usage(0, acc.count), True

    # ------------------------------------------------------------------ public API

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> ChatStream:
        """Yield the reply chunk by chunk; ``break`` or ``close()`` stops generation at once.

        The `ChatStream` also gives ``.result``: the whole message with its usage and finish
        reason (after an early close, what was produced and the usage so far)."""
        return self._open((input, config, stop, kwargs))

    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncChatStream:
        """Async :meth:`stream`; ``aclose()`` or cancellation stops generation at once."""
        return self._aopen((input, config, stop, kwargs))

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """The whole reply (the merged stream: listeners still see every token)."""
        with self._open((input, config, stop, kwargs), tokens=False) as stream:
            for _ in stream:
                pass
        return stream.result

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async :meth:`invoke`."""
        async with self._aopen((input, config, stop, kwargs), tokens=False) as stream:
            async for _ in stream:
                pass
        return stream.result

    def _open(self, args: StreamArgs, tokens: bool = True) -> ChatStream:
        """Start one call: the guarded provider stream, observed when someone listens."""
        run, call = self._begin(args, tokens)
        provider = self._start(call, args[2], args[3])
        if run.sink is None:
            return ChatStream(self._guard(provider, call), call.acc)
        inputs = {"messages": [call.messages]}
        return ChatStream(self._guard_observed(provider, call, run, inputs), call.acc)

    def _aopen(self, args: StreamArgs, tokens: bool = True) -> AsyncChatStream:
        run, call = self._begin(args, tokens)
        provider = self._astart(call, args[2], args[3])
        if run.sink is None:
            return AsyncChatStream(self._aguard(provider, call), call.acc)
        inputs = {"messages": [call.messages]}
        return AsyncChatStream(self._aguard_observed(provider, call, run, inputs), call.acc)

    def _begin(self, args: StreamArgs, tokens: bool) -> tuple[RunContext, StreamCall]:
        run = self._new_run(args[1])
        if not tokens and run.sink is not None:
            _quiet_tokens(self, run)
        return run, StreamCall(convert_to_messages(args[0]), self._usage_so_far)

    # Composition hooks (a model inside a chain gets its input folded from the previous step).
    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> AIMessage:
        return self.invoke(input, run.child_config(), **kwargs)

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[AIMessageChunk]:
        call = StreamCall(convert_to_messages(input), self._usage_so_far)
        return self._guard(self._start(call, kwargs.pop("stop", None), kwargs), call)

    def _aiter(self, input: Any, run: RunContext, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        call = StreamCall(convert_to_messages(input), self._usage_so_far)
        return self._aguard(self._astart(call, kwargs.pop("stop", None), kwargs), call)

    def _transform(
        self, inputs: Iterator[Any], run: RunContext, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        return self._iter(_last_input(list(inputs)), run, **kwargs)

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        items = [item async for item in inputs]
        stream = self._aiter(_last_input(items), run, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_if_closable(stream)

    def transform(
        self, inputs: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        return self.stream(_last_input(list(inputs)), config, **kwargs)

    async def atransform(
        self, inputs: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        items = [item async for item in inputs]
        stream = self.astream(_last_input(items), config, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_if_closable(stream)

    # ------------------------------------------------------------------ guards

    def _guard(
        self, chunks: Iterator[AIMessageChunk], call: StreamCall
    ) -> Iterator[AIMessageChunk]:
        """The provider stream of one call, fed to its `StreamCall` (the sync shell)."""
        done = False
        add = call.acc.add
        try:
            for chunk in chunks:
                # StreamCall.note, inlined (this is the per-token path)
                if chunk.id is None:
                    chunk.id = call.msg_id or call.first_id()
                elif call.msg_id is None:
                    call.msg_id = chunk.id or call.first_id()
                add(chunk)
                yield chunk
            done = True
        except BaseException as exc:
            raise call.failure(exc)  # noqa: B904 - failure() chains the cause when it wraps
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            if not done:
                call.settle()

    async def _aguard(
        self, chunks: AsyncIterator[AIMessageChunk], call: StreamCall
    ) -> AsyncIterator[AIMessageChunk]:
        """The async shell of :meth:`_guard`."""
        done = False
        add = call.acc.add
        try:
            async for chunk in chunks:
                if chunk.id is None:
                    chunk.id = call.msg_id or call.first_id()
                elif call.msg_id is None:
                    call.msg_id = chunk.id or call.first_id()
                add(chunk)
                yield chunk
            done = True
        except BaseException as exc:
            raise call.failure(exc)  # noqa: B904
        finally:
            try:
                await aclose_if_closable(chunks)
            finally:
                if not done:
                    call.settle()

    def _guard_observed(
        self,
        chunks: Iterator[AIMessageChunk],
        call: StreamCall,
        run: RunContext,
        input: Any,
    ) -> Iterator[AIMessageChunk]:
        """:meth:`_guard` and ``Runnable._observe`` in one generator, for a call someone
        listens to: each chunk passes one generator layer, not two. The order of events is
        the nested shells' (see `RunObserver`): an exception raised by the provider becomes
        :meth:`StreamCall.failure`'s; one raised by the sink, or thrown in where the chunk
        is handed out, is reported unchanged; when the consumer leaves, the provider is
        closed and the usage settled before the end event."""
        done = sinking = False
        obs: RunObserver | None = None
        add = call.acc.add
        try:
            obs = self._observer(run, input, None, call.acc)
            on_stream = obs.sink.on_stream
            for chunk in chunks:
                # StreamCall.note, inlined (this is the per-token path)
                if chunk.id is None:
                    chunk.id = call.msg_id or call.first_id()
                elif call.msg_id is None:
                    call.msg_id = chunk.id or call.first_id()
                add(chunk)
                sinking = True
                on_stream(run, chunk)
                yield chunk
                sinking = False
            done = True
        except BaseException as exc:
            if obs is None:  # the start event failed: the provider never ran
                done = True
                raise
            error = exc
            if not sinking or left_early(exc):
                if not sinking:
                    error = call.failure(exc)
                _close(chunks)  # first, so the output reported is what it produced
                call.settle()
                done = True
            obs.stopped(error)
            raise error  # noqa: B904 - failure() chains the cause when it wraps
        finally:
            _close(chunks)
            if not done:
                call.settle()
        obs.finished()

    async def _aguard_observed(
        self,
        chunks: AsyncIterator[AIMessageChunk],
        call: StreamCall,
        run: RunContext,
        input: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """The async shell of :meth:`_guard_observed` (it also waits while the sink is
        backlogged, as ``Runnable._aobserve``)."""
        done = sinking = False
        obs: RunObserver | None = None
        add = call.acc.add
        try:
            obs = self._observer(run, input, None, call.acc)
            sink = obs.sink
            on_stream = sink.on_stream
            backlogs = may_backlog(sink)
            async for chunk in chunks:
                if chunk.id is None:
                    chunk.id = call.msg_id or call.first_id()
                elif call.msg_id is None:
                    call.msg_id = chunk.id or call.first_id()
                add(chunk)
                sinking = True
                on_stream(run, chunk)
                if backlogs and sink.backlogged:
                    await sink.drained()
                yield chunk
                sinking = False
            done = True
        except BaseException as exc:
            if obs is None:
                done = True
                raise
            error = exc
            if not sinking or left_early(exc):
                if not sinking:
                    error = call.failure(exc)
                await aclose_if_closable(chunks)
                call.settle()
                done = True
            obs.stopped(error)
            raise error  # noqa: B904
        finally:
            try:
                await aclose_if_closable(chunks)
            finally:
                if not done:
                    call.settle()
        obs.finished()


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def _quiet_tokens(model: LanguageModel[Any], run: RunContext) -> None:
    """``invoke`` of a model built without ``streaming=True``: callback handlers get no
    ``on_llm_new_token`` (as in LangChain), unless a sink that streams tokens listens
    (``astream_events``, a graph's ``messages`` mode), for which LangChain streams anyway."""
    sink = run.sink
    run.extra[INVOKED] = True
    if not model.streaming and sink is not None and not sink.streams_tokens:
        run.extra[NO_TOKENS] = True


def _usage(n_in: int, n_out: int) -> UsageMetadata:
    return {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}


def _last_input(items: Sequence[Any]) -> Any:
    """A model's input arriving as a stream: prompt values and messages come whole; text is
    joined."""
    if not items:
        raise ValueError("the model received an empty input stream")
    if all(isinstance(item, str) for item in items):
        return "".join(items)
    return items[-1]


def _as_chunk(message: AIMessage | AIMessageChunk) -> AIMessageChunk:
    if isinstance(message, AIMessageChunk):
        return message
    return AIMessageChunk(
        content=message.content,
        id=message.id,
        tool_call_chunks=[
            {
                "name": call["name"],
                "args": _json_dumps(call["args"]),
                "id": call.get("id"),
                "index": i,
                "type": "tool_call_chunk",
            }
            for i, call in enumerate(message.tool_calls)
        ],
        usage_metadata=message.usage_metadata,
        response_metadata=dict(message.response_metadata),
    )


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def sync_to_async_stream(fn: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """Run a blocking generator in a worker thread and hand its items to async code through
    the runtime's bounded channel (one wake-up per batch of items). Closing the async stream
    stops the generator at its next item."""
    return stream_from_thread(lambda _cancel: fn(*args, **kwargs), SYNC_TO_ASYNC_BUFFER)
