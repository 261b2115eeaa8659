"""`Runnable`: the one interface every model, prompt, parser, chain and graph implements.

A subclass implements the *hooks* (``_call``/``_acall`` for one whole output, ``_iter``/``_aiter``
to stream, ``_transform``/``_atransform`` to stream from a streamed input). The public methods
(``invoke``, ``stream``, ``astream_events``, ...) wrap the hooks with the run's life: they make
the run, tell the sink (if any) about start, chunks and end, and close what is under the stream
when the consumer stops early.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ._config import RunnableConfig, merge_configs
from ._context import RunContext, new_run, resolve_parent
from ._fold import NO_INPUT, Accumulator, AddableDict, InputTap, add_dicts, fold
from ._observer import Folder, RunObserver, left_early
from ._sink import may_backlog

if TYPE_CHECKING:
    from ._events import StreamEvent

__all__ = [
    "NO_INPUT",
    "Accumulator",
    "AddableDict",
    "Runnable",
    "RunnableBinding",
    "aclose_if_closable",
    "add_dicts",
    "fold",
    "run_sync_in_thread",
]

Input = TypeVar("Input")
Output = TypeVar("Output")
Other = TypeVar("Other")
T = TypeVar("T")


class Runnable(Generic[Input, Output]):
    """A unit of work that can be invoked, batched, streamed and observed.

    Example::

        from tokentide.runnables import RunnableLambda

        double = RunnableLambda(lambda x: x * 2)
        assert double.invoke(2) == 4
        assert (double | double).invoke(1) == 4
        for chunk in double.stream(3):
            print(chunk)  # 6
    """

    #: Kind of run reported in events (``on_<run_type>_start`` ...).
    run_type: str = "chain"
    name: str | None = None
    #: Tags and metadata of this runnable's own runs (models set these from their options).
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    #: Callback handlers of this runnable's own runs (``callbacks=[...]`` on a constructor).
    callbacks: Any = None

    # ------------------------------------------------------------------ naming

    def get_name(self) -> str:
        return self.name or type(self).__name__

    def _run_metadata(self) -> dict[str, Any] | None:
        """Metadata this runnable adds to its own runs (e.g. a model's ``ls_*`` keys)."""
        return self.metadata

    def _output_accumulator(self) -> Accumulator:
        """How this runnable's output chunks fold into the output reported at the end."""
        return Accumulator()

    def _new_run(self, config: RunnableConfig | None) -> RunContext:
        return new_run(
            self.get_name(),
            self.run_type,
            config,
            tags=self.tags,
            metadata=self._run_metadata(),
            callbacks=self.callbacks,
        )

    # ------------------------------------------------------------------ hooks

    def _call(self, input: Input, run: RunContext, **kwargs: Any) -> Output:
        """Compute the whole output (default: fold the stream)."""
        if type(self)._iter is Runnable._iter:
            raise NotImplementedError(f"{type(self).__name__} implements no _call or _iter")
        return cast(Output, fold(list(self._iter(input, run, **kwargs))))

    async def _acall(self, input: Input, run: RunContext, **kwargs: Any) -> Output:
        """Async whole output (default: ``_call`` in a worker thread, context kept)."""
        if type(self)._aiter is not Runnable._aiter:
            return cast(Output, fold([c async for c in self._aiter(input, run, **kwargs)]))
        return await run_sync_in_thread(self._call, input, run, **kwargs)

    def _iter(self, input: Input, run: RunContext, **kwargs: Any) -> Iterator[Output]:
        """Stream the output (default: one chunk, the whole output)."""
        yield self._call(input, run, **kwargs)

    async def _aiter(self, input: Input, run: RunContext, **kwargs: Any) -> AsyncIterator[Output]:
        """Async stream (default: one chunk, the whole output)."""
        yield await self._acall(input, run, **kwargs)

    def _transform(
        self, inputs: Iterator[Input], run: RunContext, **kwargs: Any
    ) -> Iterator[Output]:
        """Stream from a streamed input (default: fold the input, then stream)."""
        yield from self._iter(fold(list(inputs)), run, **kwargs)

    async def _atransform(
        self, inputs: AsyncIterator[Input], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[Output]:
        folded = fold([c async for c in inputs])
        it = self._aiter(folded, run, **kwargs)
        try:
            async for chunk in it:
                yield chunk
        finally:
            await aclose_if_closable(it)

    # ------------------------------------------------------------------ invoke

    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        """Run once and return the whole output."""
        run = self._new_run(config)
        if run.sink is None:
            return self._call(input, run, **kwargs)
        obs = RunObserver(run, input)
        obs.start()
        try:
            output = self._call(input, run, **kwargs)
        except BaseException as exc:
            obs.stopped(exc)
            raise
        obs.finished(output)
        return output

    async def ainvoke(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Output:
        """Async :meth:`invoke`."""
        run = self._new_run(config)
        if run.sink is None:
            return await self._acall(input, run, **kwargs)
        obs = RunObserver(run, input)
        obs.start()
        try:
            output = await self._acall(input, run, **kwargs)
        except BaseException as exc:
            obs.stopped(exc)
            raise
        obs.finished(output)
        if obs.backlogged:
            await obs.drained()
        return output

    # ------------------------------------------------------------------ stream

    def stream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        """Yield the output chunk by chunk as it is produced."""
        run = self._new_run(config)
        return self._observe(run, input, self._iter(input, run, **kwargs))

    def astream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        """Async :meth:`stream`. Leaving the loop early closes everything under the stream."""
        run = self._new_run(config)
        return self._aobserve(run, input, self._aiter(input, run, **kwargs))

    def transform(
        self, inputs: Iterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        """Stream the output of a streamed input."""
        run = self._new_run(config)
        if run.sink is None:
            return self._observe(run, NO_INPUT, self._transform(inputs, run, **kwargs), inputs)
        tap = InputTap(inputs, run)
        chunks = self._transform(tap, run, **kwargs)
        return self._observe(run, NO_INPUT, chunks, inputs, tap)

    def atransform(
        self, inputs: AsyncIterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        """Async :meth:`transform`."""
        run = self._new_run(config)
        if run.sink is None:
            return self._aobserve(run, NO_INPUT, self._atransform(inputs, run, **kwargs), inputs)
        tap = InputTap(inputs, run)
        chunks = self._atransform(tap, run, **kwargs)
        return self._aobserve(run, NO_INPUT, chunks, inputs, tap)

    def _observe(
        self,
        run: RunContext,
        input: Any,
        chunks: Iterator[Output],
        upstream: Iterator[Any] | None = None,
        tap: InputTap | None = None,
        output: Folder | None = None,
    ) -> Iterator[Output]:
        """Report a stream's life to the run's sink (the sync shell of a `RunObserver`).
        ``output``: an accumulator the producer already fills with the same chunks."""
        try:
            if run.sink is None:
                yield from chunks
                return
            obs = self._observer(run, input, tap, output)
            fold, on_stream = obs.fold, obs.sink.on_stream
            try:
                for chunk in chunks:
                    # RunObserver.chunk, inlined (this is the per-token path)
                    if fold is not None:
                        fold(chunk)
                    if tap is not None and not tap.started:
                        tap.start()
                    on_stream(run, chunk)
                    yield chunk
            except BaseException as exc:
                if left_early(exc):
                    _close(chunks)  # first, so the output reported is what it produced
                obs.stopped(exc)
                raise
            obs.finished()
        finally:
            _close(chunks)
            _close(upstream)

    async def _aobserve(
        self,
        run: RunContext,
        input: Any,
        chunks: AsyncIterator[Output],
        upstream: AsyncIterator[Any] | None = None,
        tap: InputTap | None = None,
        output: Folder | None = None,
    ) -> AsyncIterator[Output]:
        """The async shell of :meth:`_observe`."""
        try:
            if run.sink is None:
                async for chunk in chunks:
                    yield chunk
                return
            obs = self._observer(run, input, tap, output)
            sink = obs.sink
            fold, on_stream = obs.fold, sink.on_stream
            backlogs = may_backlog(sink)
            try:
                async for chunk in chunks:
                    if fold is not None:
                        fold(chunk)
                    if tap is not None and not tap.started:
                        tap.start()
                    on_stream(run, chunk)
                    if backlogs and sink.backlogged:
                        await sink.drained()
                    yield chunk
            except BaseException as exc:
                if left_early(exc):
                    await aclose_if_closable(chunks)
                obs.stopped(exc)
                raise
            obs.finished()
        finally:
            await aclose_if_closable(chunks)
            await aclose_if_closable(upstream)

    def _observer(
        self, run: RunContext, input: Any, tap: InputTap | None, output: Folder | None
    ) -> RunObserver:
        own = output is None
        acc = self._output_accumulator() if output is None else output
        obs = RunObserver(run, input, acc, own=own, tap=tap)
        obs.start()
        return obs

    # ------------------------------------------------------------------ events

    def astream_events(
        self,
        input: Input,
        config: RunnableConfig | None = None,
        *,
        version: str = "v2",
        include_names: Sequence[str] | None = None,
        include_types: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_names: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream the events of this run and of every run nested in it (LangChain "v2" dicts).

        Example::

            async for event in chain.astream_events({"topic": "cats"}, version="v2"):
                if event["event"] == "on_chat_model_stream":
                    print(event["data"]["chunk"].content, end="")
        """
        from ._events import EventFilter, stream_events

        event_filter = EventFilter.make(
            include_names, include_types, include_tags, exclude_names, exclude_types, exclude_tags
        )
        return stream_events(self, input, config, version, event_filter, kwargs)

    # ------------------------------------------------------------------ batch

    def batch(
        self,
        inputs: Sequence[Input],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """Invoke on each input in worker threads: at most ``max_concurrency`` at a time (with
        one config per input, the smallest of theirs, so that every config's cap holds)."""
        if not inputs:
            return []
        configs = _configs_for(config, len(inputs))
        limit = _concurrency(configs)

        def one(pair: tuple[Input, RunnableConfig]) -> Any:
            try:
                return self.invoke(pair[0], pair[1], **kwargs)
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        if len(inputs) == 1:
            return [one((inputs[0], configs[0]))]
        with ThreadPoolExecutor(max_workers=limit or min(32, len(inputs))) as pool:
            ctx = contextvars.copy_context
            futures = [
                pool.submit(ctx().run, one, pair) for pair in zip(inputs, configs, strict=True)
            ]
            return [f.result() for f in futures]

    async def abatch(
        self,
        inputs: Sequence[Input],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """Async :meth:`batch`: concurrent ``ainvoke`` calls, at most ``max_concurrency``."""
        if not inputs:
            return []
        configs = _configs_for(config, len(inputs))
        limit = _concurrency(configs)
        semaphore = asyncio.Semaphore(limit) if limit else None

        async def one(item: Input, cfg: RunnableConfig) -> Any:
            try:
                if semaphore is None:
                    return await self.ainvoke(item, cfg, **kwargs)
                async with semaphore:
                    return await self.ainvoke(item, cfg, **kwargs)
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        return list(
            await asyncio.gather(*(one(i, c) for i, c in zip(inputs, configs, strict=True)))
        )

    # ------------------------------------------------------------------ composition

    def __or__(self, other: Any) -> Runnable[Input, Any]:
        from ._compose import RunnableSequence, coerce_to_runnable

        return RunnableSequence(self, coerce_to_runnable(other))

    def __ror__(self, other: Any) -> Runnable[Any, Output]:
        from ._compose import RunnableSequence, coerce_to_runnable

        return RunnableSequence(coerce_to_runnable(other), self)

    def pipe(self, *others: Any, name: str | None = None) -> Runnable[Input, Any]:
        from ._compose import RunnableSequence, coerce_to_runnable

        return RunnableSequence(self, *(coerce_to_runnable(o) for o in others), name=name)

    def bind(self, **kwargs: Any) -> Runnable[Input, Output]:
        """Fix keyword arguments of every call (e.g. ``model.bind(stop=["\\n"])``)."""
        return RunnableBinding(self, kwargs=kwargs)

    def with_config(
        self, config: RunnableConfig | None = None, **options: Any
    ) -> Runnable[Input, Output]:
        """Fix config options of every call (e.g. ``.with_config(tags=["x"])``)."""
        return RunnableBinding(self, config=merge_configs(config, cast(RunnableConfig, options)))


def _concurrency(configs: Sequence[RunnableConfig]) -> int | None:
    """The most calls of a batch that may run at once: every config's ``max_concurrency``
    holds (``None``: no limit given)."""
    limits = [c["max_concurrency"] for c in configs if c.get("max_concurrency")]
    return min(limits) if limits else None  # type: ignore[type-var]


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


class RunnableBinding(Runnable[Input, Output]):
    """A runnable with fixed call keyword arguments and/or config.

    Example::

        tagged = model.with_config(tags=["joke"])
        short = model.bind(max_tokens=20)
    """

    def __init__(
        self,
        bound: Runnable[Input, Output],
        *,
        kwargs: Mapping[str, Any] | None = None,
        config: RunnableConfig | None = None,
    ) -> None:
        self.bound = bound
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.config: RunnableConfig = config or {}
        self.run_type = bound.run_type

    def get_name(self) -> str:
        return self.bound.get_name()

    def _merge(self, config: RunnableConfig | None) -> RunnableConfig:
        if self.config.get("tags") and not (config and "tags" in config):
            # As LangChain, whose call configs always carry the inherited tags: unite this
            # binding's tags with the caller's (sorted).
            parent = resolve_parent(config)
            if parent is not None and parent.inheritable_tags:
                config = {**(config or {}), "tags": list(parent.inheritable_tags)}
        return merge_configs(self.config, config) if config else self.config

    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        return self.bound.invoke(input, self._merge(config), **{**self.kwargs, **kwargs})

    async def ainvoke(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Output:
        return await self.bound.ainvoke(input, self._merge(config), **{**self.kwargs, **kwargs})

    def stream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        return self.bound.stream(input, self._merge(config), **{**self.kwargs, **kwargs})

    def astream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        return self.bound.astream(input, self._merge(config), **{**self.kwargs, **kwargs})

    def transform(
        self, inputs: Iterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        return self.bound.transform(inputs, self._merge(config), **{**self.kwargs, **kwargs})

    def atransform(
        self, inputs: AsyncIterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        return self.bound.atransform(inputs, self._merge(config), **{**self.kwargs, **kwargs})

    def bind(self, **kwargs: Any) -> Runnable[Input, Output]:
        return RunnableBinding(self.bound, kwargs={**self.kwargs, **kwargs}, config=self.config)

    def __getattr__(self, name: str) -> Any:
        # Delegate model-specific helpers (``bind_tools``, ``model_name`` ...) to the bound one.
        if name == "bound":
            raise AttributeError(name)
        return getattr(self.bound, name)


def _configs_for(
    config: RunnableConfig | Sequence[RunnableConfig] | None, n: int
) -> list[RunnableConfig]:
    if config is None:
        return [{} for _ in range(n)]
    if isinstance(config, dict):
        return [cast(RunnableConfig, dict(config)) for _ in range(n)]
    configs = list(config)
    if len(configs) != n:
        raise ValueError(f"got {len(configs)} configs for {n} inputs; pass one per input or one")
    return configs


async def aclose_if_closable(it: Any) -> None:
    """Close an async iterator if it has ``aclose`` (an async generator, a stream); an
    error raised while closing propagates."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


async def run_sync_in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking ``fn`` in the default executor, keeping the current context (run, vars)."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(None, call)
