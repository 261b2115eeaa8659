"""Composition: sequences (``a | b``), parallel maps, lambdas, generators, passthrough."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from ._base import (
    Accumulator,
    AddableDict,
    Runnable,
    aclose_if_closable,
    fold,
    run_sync_in_thread,
)
from ._channel import Channel, ChannelClosed
from ._config import RunnableConfig
from ._context import RunContext, enter_run, leave_run

__all__ = [
    "RunnableAssign",
    "RunnableGenerator",
    "RunnableLambda",
    "RunnableParallel",
    "RunnablePassthrough",
    "RunnableSequence",
    "chain",
    "coerce_to_runnable",
]

#: How many chunks the branches of a sync ``RunnableParallel`` stream may queue for the consumer.
PARALLEL_BUFFER = 64


def coerce_to_runnable(thing: Any) -> Runnable[Any, Any]:
    """Turn what ``|`` accepts into a runnable: a runnable, a callable, or a dict of them."""
    if isinstance(thing, Runnable):
        return thing
    if inspect.isgeneratorfunction(thing) or inspect.isasyncgenfunction(thing):
        return RunnableGenerator(thing)
    if callable(thing):
        return RunnableLambda(thing)
    if isinstance(thing, Mapping):
        return RunnableParallel(dict(thing))
    raise TypeError(
        f"cannot compose {type(thing).__name__!r} with '|': expected a Runnable, a function, "
        "or a dict of them"
    )


# ---------------------------------------------------------------------------------- sequence


class RunnableSequence(Runnable[Any, Any]):
    """Steps run one after the other, each streaming into the next.

    Streaming passes chunks through every step as they are produced: the first chunk leaves the
    last step before the first step has finished, as long as every step streams (a plain
    ``RunnableLambda`` collects its input first).

    Example::

        chain = prompt | model | StrOutputParser()
        for text in chain.stream({"topic": "cats"}):
            print(text, end="", flush=True)
    """

    def __init__(self, *steps: Runnable[Any, Any], name: str | None = None) -> None:
        flat: list[Runnable[Any, Any]] = []
        for step in steps:
            if isinstance(step, RunnableSequence) and step.name is None:
                flat.extend(step.steps)
            else:
                flat.append(coerce_to_runnable(step))
        if len(flat) < 2:
            raise ValueError("a RunnableSequence needs at least two steps")
        self.steps: list[Runnable[Any, Any]] = flat
        self.name = name

    @property
    def first(self) -> Runnable[Any, Any]:
        return self.steps[0]

    @property
    def last(self) -> Runnable[Any, Any]:
        return self.steps[-1]

    def get_name(self) -> str:
        return self.name or "RunnableSequence"

    def _configs(self, run: RunContext) -> list[RunnableConfig]:
        # Each step's run is tagged with its position, as LangChain does ("seq:step:1", ...).
        return [run.child_config(tags) for tags in _step_tags(len(self.steps))]

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        value = input
        for step, config in zip(self.steps, self._configs(run), strict=True):
            value = step.invoke(value, config)
        return value

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        value = input
        for step, config in zip(self.steps, self._configs(run), strict=True):
            value = await step.ainvoke(value, config)
        return value

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[Any]:
        configs = self._configs(run)
        chunks = self.steps[0].stream(input, configs[0])
        for step, config in zip(self.steps[1:], configs[1:], strict=True):
            chunks = step.transform(chunks, config)
        yield from chunks

    async def _aiter(self, input: Any, run: RunContext, **kwargs: Any) -> AsyncIterator[Any]:
        configs = self._configs(run)
        chunks = self.steps[0].astream(input, configs[0])
        for step, config in zip(self.steps[1:], configs[1:], strict=True):
            chunks = step.atransform(chunks, config)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await aclose_if_closable(chunks)

    def _transform(self, inputs: Iterator[Any], run: RunContext, **kwargs: Any) -> Iterator[Any]:
        chunks: Iterator[Any] = inputs
        for step, config in zip(self.steps, self._configs(run), strict=True):
            chunks = step.transform(chunks, config)
        yield from chunks

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[Any]:
        chunks: AsyncIterator[Any] = inputs
        for step, config in zip(self.steps, self._configs(run), strict=True):
            chunks = step.atransform(chunks, config)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await aclose_if_closable(chunks)

    def __repr__(self) -> str:
        return " | ".join(step.get_name() for step in self.steps)


# ---------------------------------------------------------------------------------- lambda


def _accepts_config(fn: Callable[..., Any]) -> bool:
    try:
        return "config" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


_STEP_TAGS: list[list[str]] = []


def _step_tags(count: int) -> list[list[str]]:
    """``[["seq:step:1"], ..., ["seq:step:<count>"]]`` (made once; never changed)."""
    global _STEP_TAGS
    tags = _STEP_TAGS
    if len(tags) < count:
        tags = _STEP_TAGS = [[f"seq:step:{i}"] for i in range(1, count + 1)]
    return tags[:count]


class RunnableLambda(Runnable[Any, Any]):
    """A plain function (sync or async) as a runnable.

    The function gets the whole input: when its input is streamed, it is collected first (use
    :class:`RunnableGenerator` to transform a stream chunk by chunk). A function with a
    ``config`` parameter receives the run's config. A runnable returned by the function is run
    in its place. Models called inside the function are nested under this run.

    Example::

        shout = RunnableLambda(lambda text: text.upper())
        assert shout.invoke("hi") == "HI"
    """

    def __init__(
        self,
        func: Callable[..., Any],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None:
        if inspect.iscoroutinefunction(func):
            afunc, func = func, None  # type: ignore[assignment]
        self.func: Callable[..., Any] | None = func
        self.afunc = afunc
        fn = func if func is not None else afunc
        assert fn is not None
        self._pass_config = _accepts_config(fn)
        self.name = name or getattr(fn, "__name__", None)
        if self.name == "<lambda>":
            self.name = "RunnableLambda"

    def _args(self, input: Any, run: RunContext) -> tuple[Any, ...]:
        return (input, run.as_config()) if self._pass_config else (input,)

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        if self.func is None:
            raise TypeError(
                f"{self.get_name()} is an async function: use ainvoke/astream, not invoke/stream"
            )
        output = self._call_func_in_run(input, run)
        if isinstance(output, Runnable):
            return output.invoke(input, run.child_config())
        return output

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        if self.afunc is None:
            output = await run_sync_in_thread(self._call_func_in_run, input, run)
        else:
            token = enter_run(run)
            try:
                output = await self.afunc(*self._args(input, run))
            finally:
                leave_run(token)
        if isinstance(output, Runnable):
            return await output.ainvoke(input, run.child_config())
        return output

    def _call_func_in_run(self, input: Any, run: RunContext) -> Any:
        assert self.func is not None
        token = enter_run(run)
        try:
            return self.func(*self._args(input, run))
        finally:
            leave_run(token)

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[Any]:
        if self.func is None:
            raise TypeError(
                f"{self.get_name()} is an async function: use ainvoke/astream, not invoke/stream"
            )
        output = self._call_func_in_run(input, run)
        if isinstance(output, Runnable):
            yield from output.stream(input, run.child_config())
        else:
            yield output

    async def _aiter(self, input: Any, run: RunContext, **kwargs: Any) -> AsyncIterator[Any]:
        if self.afunc is None:
            output = await run_sync_in_thread(self._call_func_in_run, input, run)
        else:
            token = enter_run(run)
            try:
                output = await self.afunc(*self._args(input, run))
            finally:
                leave_run(token)
        if isinstance(output, Runnable):
            stream = output.astream(input, run.child_config())
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                await aclose_if_closable(stream)
        else:
            yield output


# ---------------------------------------------------------------------------------- generator


class RunnableGenerator(Runnable[Any, Any]):
    """A generator function that transforms a stream chunk by chunk.

    ``transform(chunks) -> chunks`` (sync generator) and/or ``atransform(chunks)`` (async
    generator). Each step of the generator body runs as this run (models called inside are
    nested under it).

    Example::

        def upper(chunks):
            for chunk in chunks:
                yield chunk.upper()

        chain = model | StrOutputParser() | RunnableGenerator(upper)
    """

    def __init__(
        self,
        transform: Callable[..., Any],
        atransform: Callable[..., Any] | None = None,
        name: str | None = None,
    ) -> None:
        if inspect.isasyncgenfunction(transform):
            atransform, transform = transform, None  # type: ignore[assignment]
        self._sync = transform
        self._async = atransform
        fn = transform if transform is not None else atransform
        self.name = name or getattr(fn, "__name__", "RunnableGenerator")

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return fold(list(self._transform(iter([input]), run)))

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return fold([c async for c in self._atransform(_aiter_of([input]), run)])

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[Any]:
        return self._transform(iter([input]), run)

    def _aiter(self, input: Any, run: RunContext, **kwargs: Any) -> AsyncIterator[Any]:
        return self._atransform(_aiter_of([input]), run)

    def _transform(self, inputs: Iterator[Any], run: RunContext, **kwargs: Any) -> Iterator[Any]:
        if self._sync is None:
            raise TypeError(f"{self.get_name()} is an async generator: use astream/atransform")
        gen = self._sync(inputs)
        try:
            while True:
                token = enter_run(run)
                try:
                    chunk = next(gen)
                except StopIteration:
                    return
                finally:
                    leave_run(token)
                yield chunk
        finally:
            gen.close()

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if self._async is None:
            # A sync generator cannot read an async stream: collect it, then transform.
            items = [c async for c in inputs]
            for chunk in self._transform(iter(items), run):
                yield chunk
            return
        gen = self._async(inputs)
        try:
            while True:
                token = enter_run(run)
                try:
                    chunk = await gen.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    leave_run(token)
                yield chunk
        finally:
            await gen.aclose()


async def _aiter_of(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


# ---------------------------------------------------------------------------------- passthrough


class RunnablePassthrough(Runnable[Any, Any]):
    """Passes its input through unchanged (streamed input streams through).

    Example::

        chain = {"question": RunnablePassthrough(), "n": lambda _: 3} | prompt | model
    """

    def __init__(self, func: Callable[[Any], Any] | None = None, name: str | None = None) -> None:
        self.func = func
        self.name = name

    @classmethod
    def assign(cls, **kwargs: Any) -> RunnableAssign:
        """Pass a dict input through, adding keys computed from it."""
        return RunnableAssign(RunnableParallel(kwargs))

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        if self.func is not None:
            self.func(input)
        return input

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return self._call(input, run)

    def _transform(self, inputs: Iterator[Any], run: RunContext, **kwargs: Any) -> Iterator[Any]:
        acc = Accumulator() if self.func is not None else None
        for chunk in inputs:
            if acc is not None:
                acc.add(chunk)
            yield chunk
        if acc is not None and self.func is not None:
            self.func(acc.result())

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[Any]:
        acc = Accumulator() if self.func is not None else None
        async for chunk in inputs:
            if acc is not None:
                acc.add(chunk)
            yield chunk
        if acc is not None and self.func is not None:
            self.func(acc.result())


# ---------------------------------------------------------------------------------- parallel


class RunnableParallel(Runnable[Any, dict[str, Any]]):
    """Runs a dict of runnables on the same input; the output is a dict of their outputs.

    Streaming yields ``{key: chunk}`` dicts as each branch produces chunks.

    Example::

        both = RunnableParallel(joke=joke_chain, poem=poem_chain)
        print(both.invoke({"topic": "cats"}))  # {"joke": ..., "poem": ...}
    """

    def __init__(self, steps: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged = {**(steps or {}), **kwargs}
        self.steps: dict[str, Runnable[Any, Any]] = {
            k: coerce_to_runnable(v) for k, v in merged.items()
        }
        self.name = None

    def get_name(self) -> str:
        return self.name or "RunnableParallel<" + ",".join(self.steps) + ">"

    def _config(self, run: RunContext, key: str) -> RunnableConfig:
        # Each branch's run is tagged with its key, as LangChain does ("map:key:joke", ...).
        return run.child_config([f"map:key:{key}"])

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> dict[str, Any]:
        items = list(self.steps.items())
        if len(items) == 1:
            key, step = items[0]
            return {key: step.invoke(input, self._config(run, key))}
        from concurrent.futures import ThreadPoolExecutor

        limit = run.max_concurrency or len(items)
        with ThreadPoolExecutor(max_workers=limit) as pool:
            futures = {
                key: pool.submit(
                    contextvars.copy_context().run, step.invoke, input, self._config(run, key)
                )
                for key, step in items
            }
            return {key: f.result() for key, f in futures.items()}

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> dict[str, Any]:
        keys = list(self.steps)
        values = await asyncio.gather(
            *(s.ainvoke(input, self._config(run, k)) for k, s in self.steps.items())
        )
        return dict(zip(keys, values, strict=True))

    def _transform(
        self, inputs: Iterator[Any], run: RunContext, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        yield from self._iter(fold(list(inputs)), run)

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[dict[str, Any]]:
        # One thread per branch, all handing chunks to this consumer through one channel.
        out: Channel[tuple[str, Any]] = Channel(PARALLEL_BUFFER)
        done = object()

        def pump(key: str, step: Runnable[Any, Any]) -> None:
            stream = step.stream(input, self._config(run, key))
            try:
                for chunk in stream:
                    out.put((key, chunk))
                out.put((key, done))
            except ChannelClosed:
                return  # the consumer left
            except BaseException as exc:
                try:
                    out.put((key, exc))
                except ChannelClosed:
                    return
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # the consumer left: stop the branch's model now, not at GC

        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(pump, k, s), daemon=True)
            for k, s in self.steps.items()
        ]
        for t in threads:
            t.start()
        remaining = len(threads)
        try:
            while remaining:
                batch = out.take()
                assert isinstance(batch, list)  # nobody closes ``out``, no timeout
                for key, item in batch:
                    if item is done:
                        remaining -= 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield AddableDict({key: item})
        finally:
            out.cancel()  # blocked and later puts raise: every branch stops at its next chunk
            for t in threads:
                t.join()

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        folded = fold([c async for c in inputs])
        it = self._aiter(folded, run)
        try:
            async for chunk in it:
                yield chunk
        finally:
            await aclose_if_closable(it)

    async def _aiter(
        self, input: Any, run: RunContext, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        out: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=64)
        done = object()

        async def pump(key: str, step: Runnable[Any, Any]) -> None:
            stream = step.astream(input, self._config(run, key))
            try:
                async for chunk in stream:
                    await out.put((key, chunk))
                await out.put((key, done))
            except asyncio.CancelledError:
                raise  # the consumer is gone: nobody reads the queue any more
            except BaseException as exc:
                await out.put((key, exc))
            finally:
                await aclose_if_closable(stream)

        tasks = [asyncio.ensure_future(pump(k, s)) for k, s in self.steps.items()]
        remaining = len(tasks)
        try:
            while remaining:
                key, item = await out.get()
                if item is done:
                    remaining -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield AddableDict({key: item})
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class RunnableAssign(Runnable[dict[str, Any], dict[str, Any]]):
    """Adds the outputs of a :class:`RunnableParallel` to a dict input.

    Example::

        chain = RunnablePassthrough.assign(n_words=lambda d: len(d["text"].split()))
    """

    def __init__(self, mapper: RunnableParallel) -> None:
        self.mapper = mapper
        self.name = "RunnableAssign<" + ",".join(mapper.steps) + ">"

    def _check(self, input: Any) -> dict[str, Any]:
        if not isinstance(input, dict):
            raise TypeError(
                f"RunnablePassthrough.assign() needs a dict input, got {type(input).__name__}"
            )
        return input

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> dict[str, Any]:
        base = self._check(input)
        return {**base, **self.mapper.invoke(base, run.child_config())}

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> dict[str, Any]:
        base = self._check(input)
        return {**base, **await self.mapper.ainvoke(base, run.child_config())}

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[dict[str, Any]]:
        base = self._check(input)
        yield AddableDict(base)
        yield from self.mapper.stream(base, run.child_config())

    async def _aiter(
        self, input: Any, run: RunContext, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        base = self._check(input)
        yield AddableDict(base)
        stream = self.mapper.astream(base, run.child_config())
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_if_closable(stream)


def chain(func: Callable[..., Any]) -> RunnableLambda:
    """Make a function a runnable named after it, as LangChain's ``@chain`` decorator.

    Models and chains called inside the function become child runs of it (their events and
    tokens stream through ``astream_events`` and graph ``"messages"`` mode).

    Example::

        @chain
        def shout(text: str) -> str:
            return text.upper()

        assert shout.invoke("hi") == "HI"
    """
    return RunnableLambda(func, name=getattr(func, "__name__", None))
