"""One life cycle for every kind of run: the early-exit policy of ``runtime._observer``.

{chain, chat model, completion model, graph} x {completes, fails, closed by break, cancelled}
x {sync, async}: the run's sink hears the same sequence for every kind. "Cancelled" is task
cancellation on the async side and Ctrl-C (``KeyboardInterrupt`` raised while the producer
runs) on the sync side. Each source streams "a", "b", then (by outcome) "c", a failure, a
Ctrl-C, or (async) waits until cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypedDict

import pytest

from tokentide.errors import StreamError
from tokentide.graph import END, START, StateGraph
from tokentide.messages import AIMessageChunk, BaseMessage
from tokentide.models import BaseChatModel, BaseLLM
from tokentide.runnables import Runnable, RunnableGenerator
from tokentide.runtime._context import _CURRENT, RunContext
from tokentide.runtime._sink import CLOSED_EARLY, RunSink

OUTCOMES = ["completes", "fails", "break", "cancelled"]
KINDS = [
    "chain",
    "chat model",
    "completion model",
    "graph",
]

EXPECTED = {
    "completes": ["start", "stream", "stream", "stream", "end"],
    "fails": ["start", "stream", "stream", "error"],
    "break": ["start", "stream", "stream", "end (closed early)"],
    "cancelled": ["start", "stream", "stream", "end (closed early)"],
}
# What the end event's output holds after an early exit: what was produced (a graph: its state
# so far, which the node that was cut short has not updated).
PARTIAL = {"chain": "ab", "chat model": "ab", "completion model": "ab", "graph": ""}
# A graph's producer (a task, or a driver thread) runs ahead of its consumer by up to its
# buffer, so after a ``break`` its state is either before the node or after it, as far as the
# producer got; it is always a state (the node's partial output is never folded into it).
PARTIAL_AFTER_BREAK = {"graph": ("", "abc")}


class Boom(Exception):
    pass


class Recorder(RunSink):
    """Records the life of the first run it hears of (the root run)."""

    __slots__ = ("events", "outputs", "root")

    def __init__(self) -> None:
        self.root: str | None = None
        self.events: list[str] = []
        self.outputs: list[Any] = []

    def _mine(self, run: RunContext) -> bool:
        if self.root is None:
            self.root = run.run_id
        return run.run_id == self.root

    def on_start(self, run: RunContext, input: Any) -> None:
        if self._mine(run):
            self.events.append("start")

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        if self._mine(run):
            self.events.append("stream")

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        if self._mine(run):
            early = " (closed early)" if run.extra.get(CLOSED_EARLY) else ""
            self.events.append("end" + early)
            self.outputs.append(output)

    def on_error(self, run: RunContext, error: BaseException) -> None:
        if self._mine(run):
            self.events.append("error")


# ------------------------------------------------------------------ the scripted sources


def sync_source(outcome: str, wrap: Callable[[str], Any]) -> Iterator[Any]:
    yield wrap("a")
    yield wrap("b")
    if outcome == "fails":
        raise Boom("the source failed")
    if outcome == "cancelled":
        raise KeyboardInterrupt
    yield wrap("c")


async def async_source(outcome: str, wrap: Callable[[str], Any]) -> AsyncIterator[Any]:
    yield wrap("a")
    yield wrap("b")
    if outcome == "fails":
        raise Boom("the source failed")
    if outcome == "cancelled":
        await asyncio.Event().wait()  # until the consumer's task is cancelled
    yield wrap("c")


class ScriptedChat(BaseChatModel):
    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kw: Any
    ) -> Iterator[AIMessageChunk]:
        return sync_source(self.outcome, AIMessageChunk)

    def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kw: Any
    ) -> AsyncIterator[AIMessageChunk]:
        return async_source(self.outcome, AIMessageChunk)


class ScriptedLLM(BaseLLM):
    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome

    def _stream(self, prompt: str, *, stop: list[str] | None = None, **kw: Any) -> Iterator[str]:
        return sync_source(self.outcome, str)

    def _astream(
        self, prompt: str, *, stop: list[str] | None = None, **kw: Any
    ) -> AsyncIterator[str]:
        return async_source(self.outcome, str)


class State(TypedDict, total=False):
    text: str


def make(kind: str, outcome: str) -> tuple[Runnable[Any, Any] | _Pair, Any, dict[str, Any]]:
    """The runnable of one kind, its input, and the keyword arguments of its stream call."""
    if kind == "chain":

        def gen(_inputs: Iterator[Any]) -> Iterator[str]:
            yield from sync_source(outcome, str)

        async def agen(_inputs: AsyncIterator[Any]) -> AsyncIterator[str]:
            async for item in async_source(outcome, str):
                yield item

        return RunnableGenerator(gen, agen), "go", {}
    if kind == "chat model":
        return ScriptedChat(outcome), "go", {}
    if kind == "completion model":
        return ScriptedLLM(outcome), "go", {}
    model = ScriptedChat(outcome)

    def node(state: State) -> State:
        return {"text": str(model.invoke("go").content)}

    async def anode(state: State) -> State:
        return {"text": str((await model.ainvoke("go")).content)}

    builder = StateGraph(State)
    builder.add_node("sync", node)
    builder.add_edge(START, "sync")
    builder.add_edge("sync", END)
    sync_graph = builder.compile()
    builder2 = StateGraph(State)
    builder2.add_node("async", anode)
    builder2.add_edge(START, "async")
    builder2.add_edge("async", END)
    return _Pair(sync_graph, builder2.compile()), {"text": ""}, {"stream_mode": "messages"}


class _Pair:
    """A sync-node graph for ``stream`` and an async-node graph for ``astream``."""

    def __init__(self, sync: Any, async_: Any) -> None:
        self.sync, self.async_ = sync, async_

    def stream(self, input: Any, **kwargs: Any) -> Any:
        return self.sync.stream(input, **kwargs)

    def astream(self, input: Any, **kwargs: Any) -> Any:
        return self.async_.astream(input, **kwargs)


def text_of(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return str(output.content)
    if isinstance(output, dict) and "generations" in output:
        return str(output["generations"][0][0]["text"])
    if isinstance(output, dict):
        return str(output.get("text", ""))
    raise AssertionError(f"unexpected output {output!r}")


# ------------------------------------------------------------------ the shells


def run_sync(runnable: Any, input: Any, kwargs: dict[str, Any], outcome: str) -> Recorder:
    recorder = Recorder()
    token = _CURRENT.set(RunContext("", "scope", sink=recorder))
    try:
        stream = runnable.stream(input, **kwargs)
        try:
            for n, _ in enumerate(stream, 1):
                if outcome == "break" and n == 2:
                    break
        except (Boom, StreamError):
            assert outcome == "fails"
        except KeyboardInterrupt:
            assert outcome == "cancelled"
        finally:
            stream.close()
    finally:
        _CURRENT.reset(token)
    return recorder


async def run_async(runnable: Any, input: Any, kwargs: dict[str, Any], outcome: str) -> Recorder:
    recorder = Recorder()
    token = _CURRENT.set(RunContext("", "scope", sink=recorder))
    try:
        two = asyncio.Event()

        async def consume() -> None:
            stream = runnable.astream(input, **kwargs)
            try:
                n = 0
                async for _ in stream:
                    n += 1
                    if n == 2:
                        two.set()
                        if outcome == "break":
                            break
            finally:
                await stream.aclose()

        task = asyncio.ensure_future(consume())
        if outcome == "cancelled":
            await asyncio.wait_for(two.wait(), 30)
            task.cancel()
        try:
            await task
        except (Boom, StreamError):
            assert outcome == "fails"
        except asyncio.CancelledError:
            assert outcome == "cancelled"
    finally:
        _CURRENT.reset(token)
    return recorder


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_run_reports_the_same_life(kind: str, outcome: str, sync: bool) -> None:
    runnable, input, kwargs = make(kind, outcome)
    if sync:
        recorder = run_sync(runnable, input, kwargs, outcome)
    else:
        recorder = asyncio.run(run_async(runnable, input, kwargs, outcome))
    assert recorder.events == EXPECTED[outcome]
    if outcome == "break" and kind in PARTIAL_AFTER_BREAK:
        assert isinstance(recorder.outputs[-1], dict)
        assert text_of(recorder.outputs[-1]) in PARTIAL_AFTER_BREAK[kind]
    elif outcome in ("break", "cancelled"):
        assert text_of(recorder.outputs[-1]) == PARTIAL[kind]
    if outcome == "completes":
        assert text_of(recorder.outputs[-1]) == "abc"
