"""Composition: sequences, lambdas, generators, parallel maps, passthrough, bind, batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _runtime_helpers import InFlight, collect, events_of

from fakes.waiting import DEADLINE, async_wait_until, wait_until
from tokentide.models import FakeChatModel
from tokentide.output_parsers import StrOutputParser
from tokentide.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    coerce_to_runnable,
)
from tokentide.runtime._context import RunContext


def test_pipe_coerces_lambdas_dicts_and_generators() -> None:
    def gen(chunks: Iterator[Any]) -> Iterator[Any]:
        for chunk in chunks:
            yield chunk * 10

    chain = RunnableLambda(lambda x: x + 1) | {"a": lambda x: x, "b": lambda x: -x} | gen
    assert isinstance(chain, RunnableSequence)
    assert isinstance(chain.steps[1], RunnableParallel)
    assert isinstance(chain.steps[2], RunnableGenerator)
    # A dict multiplied by 10: the generator gets the merged dict.
    assert (RunnableLambda(lambda x: x + 1) | gen).invoke(1) == 20
    assert ({"x": lambda v: v} | RunnableLambda(lambda d: d["x"] * 2)).invoke(3) == 6
    assert (lambda x: x * 3) | RunnableLambda(str) is not None
    with pytest.raises(TypeError, match="cannot compose 'int'"):
        coerce_to_runnable(5)


def test_sequences_flatten_and_need_two_steps() -> None:
    a, b, c = (RunnableLambda(lambda x: x) for _ in range(3))
    assert len(((a | b) | c).steps) == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="two steps"):
        RunnableSequence(a)


@pytest.mark.parametrize("sync", [True, False])
def test_lambda_collects_streamed_input_first(sync: bool) -> None:
    seen: list[Any] = []

    def record(text: str) -> str:
        seen.append(text)
        return text.upper()

    model = FakeChatModel(responses=[["a", "b", "c"]])
    chain = model | StrOutputParser() | RunnableLambda(record)
    assert collect(chain, "hi", sync) == ["ABC"]
    assert seen == ["abc"]


@pytest.mark.parametrize("sync", [True, False])
def test_generator_streams_chunk_by_chunk(sync: bool) -> None:
    seen: list[str] = []

    def tag(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            seen.append(chunk)
            yield f"<{chunk}>"

    async def atag(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            seen.append(chunk)
            yield f"<{chunk}>"

    model = FakeChatModel(responses=[["a", "b"]])
    chain = model | StrOutputParser() | RunnableGenerator(tag, atag)
    assert collect(chain, "hi", sync) == ["<a>", "<b>", "<>"]
    assert seen == ["a", "b", ""]


def test_first_chunk_leaves_before_first_step_finishes_sync() -> None:
    """The first step waits for the consumer to have seen its first chunk: with a chain that
    buffered anywhere, the wait would time out."""
    got_first = threading.Event()
    log: list[str] = []

    def source(chunks: Iterator[Any]) -> Iterator[str]:
        for _ in chunks:
            pass
        log.append("yield a")
        yield "a"
        log.append("waiting")
        log.append("released" if got_first.wait(2) else "TIMEOUT")
        yield "b"

    def middle(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            yield chunk + "!"

    chain = RunnableGenerator(source) | middle | StrOutputParser()
    out = []
    for chunk in chain.stream(None):
        out.append(chunk)
        log.append(f"got {chunk}")
        got_first.set()
    assert out == ["a!", "b!"]
    assert log == ["yield a", "got a!", "waiting", "released", "got b!"]


async def test_first_chunk_leaves_before_first_step_finishes_async() -> None:
    got_first = asyncio.Event()
    log: list[str] = []

    async def source(chunks: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for _ in chunks:
            pass
        yield "a"
        try:
            await asyncio.wait_for(got_first.wait(), 2)
            log.append("released")
        except asyncio.TimeoutError:
            log.append("TIMEOUT")
        yield "b"

    async def middle(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk + "!"

    model_free = RunnableGenerator(source) | middle | StrOutputParser()
    out = []
    async for chunk in model_free.astream(None):
        out.append(chunk)
        got_first.set()
    assert out == ["a!", "b!"]
    assert log == ["released"]


@pytest.mark.parametrize("sync", [True, False])
def test_model_tokens_reach_the_end_of_the_chain_one_by_one(sync: bool) -> None:
    # Each token arrives before the next one is generated: the consumer sees the model
    # produce ``n`` chunks while it has received ``n`` (or n - 1) of them.
    produced: list[int] = []

    class Counting(FakeChatModel):
        def _stream(self, messages: Any, **kw: Any) -> Iterator[Any]:
            for chunk in super()._stream(messages, **kw):
                produced.append(1)
                yield chunk

        async def _astream(self, messages: Any, **kw: Any) -> AsyncIterator[Any]:
            async for chunk in super()._astream(messages, **kw):
                produced.append(1)
                yield chunk

    model = Counting(responses=[[str(i) for i in range(20)]])
    chain = model | StrOutputParser() | RunnablePassthrough()
    lags: list[int] = []

    if sync:
        for i, _ in enumerate(chain.stream("x")):
            lags.append(len(produced) - (i + 1))
    else:

        async def run() -> None:
            i = 0
            async for _ in chain.astream("x"):
                i += 1
                lags.append(len(produced) - i)

        asyncio.run(run())
    assert len(lags) == 21
    assert max(lags) <= 1


@pytest.mark.parametrize("sync", [True, False])
def test_break_closes_every_step(sync: bool) -> None:
    closed: list[str] = []

    def gen(chunks: Iterator[str]) -> Iterator[str]:
        try:
            yield from chunks
        finally:
            closed.append("gen")

    async def agen(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            closed.append("gen")

    model = FakeChatModel(responses=[[str(i) for i in range(1000)]])
    chain = model | StrOutputParser() | RunnableGenerator(gen, agen)
    if sync:
        stream = chain.stream("x")
        next(stream)
        stream.close()  # type: ignore[attr-defined]
    else:

        async def run() -> None:
            stream = chain.astream("x")
            await stream.__anext__()
            await stream.aclose()  # type: ignore[attr-defined]

        asyncio.run(run())
    assert closed == ["gen"]


# ---------------------------------------------------------------------------------- parallel


def test_parallel_invoke() -> None:
    both = RunnableParallel(a=lambda x: x + 1, b=RunnableLambda(lambda x: x * 2))
    assert both.invoke(3) == {"a": 4, "b": 6}
    assert both.get_name() == "RunnableParallel<a,b>"
    assert RunnableParallel({"only": lambda x: x}).invoke(1) == {"only": 1}


async def test_parallel_ainvoke_runs_branches_concurrently() -> None:
    started: list[int] = []
    all_in = asyncio.Event()

    async def slow(x: int) -> int:
        started.append(x)
        if len(started) == 3:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), DEADLINE)  # run one by one, this times out
        return x

    both = RunnableParallel(a=slow, b=slow, c=slow)
    assert await both.ainvoke(1) == {"a": 1, "b": 1, "c": 1}


@pytest.mark.parametrize("sync", [True, False])
def test_parallel_streams_keyed_chunks(sync: bool) -> None:
    both = RunnableParallel(
        joke=FakeChatModel(responses=[["ha", "ha"]]) | StrOutputParser(),
        n=lambda _: 7,
    )
    chunks = collect(both, "x", sync)
    assert all(len(c) == 1 for c in chunks)
    joke = "".join(c["joke"] for c in chunks if "joke" in c)
    assert joke == "haha"
    assert [c for c in chunks if "n" in c] == [{"n": 7}]
    assert both.invoke("x") == {"joke": "haha", "n": 7}


@pytest.mark.parametrize("sync", [True, False])
def test_parallel_branch_error_propagates(sync: bool) -> None:
    def boom(_: Any) -> Any:
        raise RuntimeError("branch failed")

    both = RunnableParallel(ok=lambda x: x, bad=boom)
    with pytest.raises(RuntimeError, match="branch failed"):
        collect(both, 1, sync)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("sync", [True, False])
def test_parallel_early_break_with_a_fast_branch_does_not_hang(sync: bool) -> None:
    model = FakeChatModel(responses=[[str(i) for i in range(2000)]])
    both = RunnableParallel(a=model | StrOutputParser(), b=model | StrOutputParser())
    if sync:
        for _ in both.stream("x"):
            break
    else:

        async def run() -> None:
            stream = both.astream("x")
            async for _ in stream:
                await asyncio.sleep(0.05)  # let the branches fill the queue
                break
            await stream.aclose()  # type: ignore[attr-defined]

        asyncio.run(run())


# ---------------------------------------------------------------------------------- passthrough


@pytest.mark.parametrize("sync", [True, False])
def test_passthrough_and_assign(sync: bool) -> None:
    seen: list[Any] = []
    assert RunnablePassthrough().invoke({"a": 1}) == {"a": 1}
    assert RunnablePassthrough(seen.append).invoke(5) == 5
    assert seen == [5]
    assign = RunnablePassthrough.assign(total=lambda d: d["a"] + d["b"])
    assert assign.invoke({"a": 1, "b": 2}) == {"a": 1, "b": 2, "total": 3}
    chunks = collect(assign, {"a": 1, "b": 2}, sync)
    assert chunks[0] == {"a": 1, "b": 2}
    merged: dict[str, Any] = {}
    for chunk in chunks:
        merged.update(chunk)
    assert merged == {"a": 1, "b": 2, "total": 3}
    with pytest.raises(TypeError, match="needs a dict input"):
        assign.invoke(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("sync", [True, False])
def test_passthrough_streams_through_and_sees_whole_value(sync: bool) -> None:
    seen: list[Any] = []
    model = FakeChatModel(responses=[["x", "y"]])
    chain = model | StrOutputParser() | RunnablePassthrough(seen.append)
    assert collect(chain, "q", sync) == ["x", "y", ""]
    assert seen == ["xy"]


def test_dict_input_feeds_prompt_style_step() -> None:
    chain = {"question": RunnablePassthrough(), "n": lambda _: 3} | RunnableLambda(
        lambda d: f"{d['question']}:{d['n']}"
    )
    assert chain.invoke("why") == "why:3"


# ---------------------------------------------------------------------------------- bind/config


class Echo(Runnable[Any, Any]):
    """Returns its input with the keyword arguments and config it was called with."""

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return {"input": input, "kwargs": kwargs, "tags": list(run.tags), "name": run.name}


def test_bind_fixes_keyword_arguments() -> None:
    bound = Echo().bind(stop=["\n"], temperature=0)
    assert bound.invoke(1)["kwargs"] == {"stop": ["\n"], "temperature": 0}
    assert bound.bind(temperature=1).invoke(1)["kwargs"] == {"stop": ["\n"], "temperature": 1}
    assert bound.invoke(1, temperature=2)["kwargs"]["temperature"] == 2
    assert bound.get_name() == "Echo"


def test_with_config_tags_and_run_name() -> None:
    tagged = Echo().with_config(tags=["a"], run_name="custom")
    out = tagged.invoke(1, {"tags": ["b"]})
    assert out["tags"] == ["a", "b"]
    assert out["name"] == "custom"


async def test_with_config_shows_in_events() -> None:
    model = FakeChatModel(responses=[["x"]]).with_config(
        tags=["joke"], metadata={"user": "u1"}, run_name="jokester"
    )
    events = await events_of(model, "hi")
    assert {e["name"] for e in events} == {"jokester"}
    assert all(e["tags"] == ["joke"] for e in events)
    assert all(e["metadata"]["user"] == "u1" for e in events)


def test_bad_config_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="config must be a dict"):
        Echo().invoke(1, ["tags"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config\\['tags'\\] must be a list"):
        Echo().invoke(1, {"tags": "a"})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- batch


def test_batch_respects_max_concurrency() -> None:
    meter = InFlight()

    def work(x: int) -> int:
        meter.enter()
        wait_until(lambda: meter.peak >= 3, message="fewer than 3 calls ran at once")
        meter.leave()
        return x * 2

    out = RunnableLambda(work).batch(list(range(12)), {"max_concurrency": 3})
    assert out == [x * 2 for x in range(12)]
    assert meter.peak == 3


async def test_abatch_respects_max_concurrency() -> None:
    meter = InFlight()

    wanted = [2]

    async def work(x: int) -> int:
        meter.enter()
        await async_wait_until(lambda: meter.peak >= wanted[0], message="too few ran at once")
        meter.leave()
        return x + 1

    out = await RunnableLambda(work).abatch(list(range(10)), {"max_concurrency": 2})
    assert out == [x + 1 for x in range(10)]
    assert meter.peak == 2
    meter.peak, wanted[0] = 0, 10
    await RunnableLambda(work).abatch(list(range(10)))
    assert meter.peak == 10


@pytest.mark.parametrize("sync", [True, False])
def test_batch_return_exceptions(sync: bool) -> None:
    def maybe(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    lam = RunnableLambda(maybe)
    if sync:
        out = lam.batch([1, 2, 3], return_exceptions=True)
    else:
        out = asyncio.run(lam.abatch([1, 2, 3], return_exceptions=True))
    assert out[0] == 1 and out[2] == 3
    assert isinstance(out[1], ValueError)
    with pytest.raises(ValueError, match="two"):
        lam.batch([1, 2, 3])
    with pytest.raises(ValueError, match="2 configs for 3 inputs"):
        lam.batch([1, 2, 3], [{}, {}])


def test_async_lambda_refuses_sync_calls() -> None:
    async def f(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="async function"):
        RunnableLambda(f).invoke(1)
    assert asyncio.run(RunnableLambda(f).ainvoke(1)) == 1


def test_lambda_returning_a_runnable_runs_it() -> None:
    inner = RunnableLambda(lambda x: x * 100)
    assert RunnableLambda(lambda x: inner).invoke(2) == 200
    assert list(RunnableLambda(lambda x: inner).stream(2)) == [200]


def test_lambda_receives_config_when_asked() -> None:
    def f(x: int, config: dict[str, Any]) -> list[str]:
        return list(config["tags"])

    assert RunnableLambda(f).invoke(1, {"tags": ["t"]}) == ["t"]
