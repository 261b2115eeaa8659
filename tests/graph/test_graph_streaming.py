"""Stream modes of graphs: messages, custom, subgraphs, events, early exit, bounded hand-off."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

import pytest

from fakes.waiting import async_wait_until
from tokentide.callbacks import BaseCallbackHandler
from tokentide.graph import START, MessagesState, StateGraph, _compiled, get_stream_writer
from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage
from tokentide.models import FakeChatModel

from .conftest import run_stream

WORDS = "one two three four five"


class CountingModel(FakeChatModel):
    """A fake model that counts the chunks it generated (to see generation stop)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.generated = 0
        self.closed = threading.Event()  # its stream was closed (ended or stopped)

    def _stream(self, messages: list[BaseMessage], **kw: Any) -> Iterator[AIMessageChunk]:
        try:
            for chunk in super()._stream(messages, **kw):
                self.generated += 1
                yield chunk
        finally:
            self.closed.set()

    async def _astream(
        self, messages: list[BaseMessage], **kw: Any
    ) -> AsyncIterator[AIMessageChunk]:
        try:
            async for chunk in super()._astream(messages, **kw):
                self.generated += 1
                yield chunk
        finally:
            self.closed.set()


def model_node(model: FakeChatModel, how: str) -> Any:
    """A node calling the model one of four ways, without passing config."""
    if how == "invoke":

        def node(state: MessagesState) -> dict[str, Any]:
            return {"messages": [model.invoke(state["messages"])]}

    elif how == "stream":

        def node(state: MessagesState) -> dict[str, Any]:
            acc = None
            for chunk in model.stream(state["messages"]):
                acc = chunk if acc is None else acc + chunk
            return {"messages": [acc]}

    elif how == "ainvoke":

        async def node(state: MessagesState) -> dict[str, Any]:  # type: ignore[misc]
            return {"messages": [await model.ainvoke(state["messages"])]}

    else:

        async def node(state: MessagesState) -> dict[str, Any]:  # type: ignore[misc]
            acc = None
            async for chunk in model.astream(state["messages"]):
                acc = chunk if acc is None else acc + chunk
            return {"messages": [acc]}

    return node


def chat_graph(node: Any) -> Any:
    return StateGraph(MessagesState).add_node("chat", node).add_edge(START, "chat").compile()


@pytest.mark.parametrize("how", ["invoke", "stream", "ainvoke", "astream"])
async def test_messages_every_token_once(how: str) -> None:
    model = FakeChatModel([WORDS], tags=["m"])
    graph = chat_graph(model_node(model, how))
    sync = how in ("invoke", "stream")
    for use_sync in [True, False] if sync else [False]:
        items = await run_stream(
            graph, {"messages": [("user", "hi")]}, use_sync, stream_mode="messages"
        )
        texts = [chunk.content for chunk, _ in items]
        assert "".join(texts) == WORDS
        assert len([t for t in texts if t]) == 5  # token by token
        assert all(isinstance(chunk, AIMessageChunk) for chunk, _ in items)
        assert all(meta["tags"] == ["m"] and meta["langgraph_node"] == "chat" for _, meta in items)


async def test_nostream_model_and_returned_messages(sync: bool) -> None:
    hidden = FakeChatModel(["secret words"], tags=["nostream"])

    def node(state: MessagesState) -> dict[str, Any]:
        hidden.invoke("x")
        return {"messages": [AIMessage("whole reply", id="r1")]}

    graph = chat_graph(node)
    items = await run_stream(graph, {"messages": [("user", "hi")]}, sync, stream_mode="messages")
    assert [(type(m).__name__, m.content) for m, _ in items] == [("AIMessage", "whole reply")]
    assert items[0][1]["langgraph_node"] == "chat"


async def test_custom_writer_and_get_stream_writer(sync: bool) -> None:
    class S(TypedDict, total=False):
        x: int

    def sync_node(state: S, writer: Any) -> None:
        writer({"w": 1})
        get_stream_writer()({"g": 2})

    async def async_node(state: S, writer: Any) -> None:
        writer({"w": 1})
        await asyncio.sleep(0)
        get_stream_writer()({"g": 2})

    node = sync_node if sync else async_node
    graph = StateGraph(S).add_node("n", node).add_edge(START, "n").compile()
    assert await run_stream(graph, {}, sync, stream_mode="custom") == [{"w": 1}, {"g": 2}]
    mixed = await run_stream(graph, {}, sync, stream_mode=["custom", "updates"])
    assert mixed == [("custom", {"w": 1}), ("custom", {"g": 2}), ("updates", {"n": None})]
    assert get_stream_writer()("outside a graph") is None


async def test_subgraph_namespaces(sync: bool) -> None:
    model = FakeChatModel(["sub tok"])

    def inner(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"inner": 1})
        return {"messages": [model.invoke(state["messages"])]}

    sub = StateGraph(MessagesState).add_node(inner).add_edge(START, "inner").compile()
    graph = StateGraph(MessagesState).add_node("sub", sub).add_edge(START, "sub").compile()
    modes = ["messages", "custom", "updates"]
    flat = await run_stream(graph, {"messages": [("user", "hi")]}, sync, stream_mode=modes)
    # without subgraphs: no inner custom/tokens; the sub node's new message arrives whole
    assert [m for m, _ in flat] == ["messages", "updates"]
    assert isinstance(flat[0][1][0], AIMessage) and flat[0][1][0].content == "sub tok"
    nested = await run_stream(
        graph, {"messages": [("user", "hi")]}, sync, stream_mode=modes, subgraphs=True
    )
    kinds = [(len(ns), mode) for ns, mode, _ in nested]
    assert kinds == [
        (1, "custom"),
        (1, "messages"),
        (1, "messages"),
        (1, "messages"),
        (1, "updates"),
        (0, "updates"),
    ]
    ns = nested[0][0]
    assert ns[0].startswith("sub:")
    meta = nested[1][2][1]
    assert meta["langgraph_checkpoint_ns"].startswith(ns[0] + "|inner:")


async def test_astream_events_of_a_graph() -> None:
    model = FakeChatModel([WORDS])
    graph = chat_graph(model_node(model, "ainvoke"))
    events = [e async for e in graph.astream_events({"messages": [("user", "hi")]}, version="v2")]
    names = [(e["event"], e["name"]) for e in events if not e["event"].endswith("_stream")]
    assert names[0] == ("on_chain_start", "LangGraph")
    assert names[-1] == ("on_chain_end", "LangGraph")
    assert ("on_chain_start", "chat") in names and ("on_chain_end", "chat") in names
    tokens = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(tokens) == WORDS
    chat_start = next(e for e in events if e["event"] == "on_chat_model_start")
    assert chat_start["metadata"]["langgraph_node"] == "chat"


async def test_debug_and_tasks_modes(sync: bool) -> None:
    class S(TypedDict, total=False):
        x: int

    graph = StateGraph(S).add_node("n", lambda s: {"x": 1}).add_edge(START, "n").compile()
    debug = await run_stream(graph, {}, sync, stream_mode="debug")
    assert [(d["step"], d["type"], d["payload"]["name"]) for d in debug] == [
        (1, "task", "n"),
        (1, "task_result", "n"),
    ]
    assert debug[1]["payload"]["result"] == {"x": 1}
    tasks = await run_stream(graph, {}, sync, stream_mode="tasks")
    assert tasks[0]["triggers"] == ("branch:to:n",) and tasks[1]["error"] is None


async def test_early_exit_stops_generation(sync: bool) -> None:
    model = CountingModel([" ".join(f"w{i}" for i in range(200))], delay=0.005)
    graph = chat_graph(model_node(model, "invoke" if sync else "ainvoke"))
    taken = 0
    if sync:
        stream = graph.stream({"messages": [("user", "hi")]}, stream_mode="messages")
        for _ in stream:
            taken += 1
            if taken == 5:
                break
        stream.close()
    else:
        astream = graph.astream({"messages": [("user", "hi")]}, stream_mode="messages")
        async for _ in astream:
            taken += 1
            if taken == 5:
                break
        await astream.aclose()
    at_break = model.generated
    await async_wait_until(model.closed.is_set, message="the model's stream was not closed")
    assert model.generated - at_break <= 1
    assert model.generated < 20
    assert threading.active_count() < 40


async def test_cancelling_the_consumer_task_cancels_nodes() -> None:
    model = CountingModel([" ".join(f"w{i}" for i in range(200))], delay=0.005)
    graph = chat_graph(model_node(model, "astream"))

    async def consume() -> None:
        async for _ in graph.astream({"messages": [("user", "hi")]}, stream_mode="messages"):
            pass

    task = asyncio.ensure_future(consume())
    await async_wait_until(lambda: model.generated > 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    at_cancel = model.generated
    await async_wait_until(model.closed.is_set, message="the model's stream was not closed")
    assert model.generated - at_cancel <= 1 and model.generated < 40


async def test_hand_off_is_bounded(sync: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A consumer that stops reading leaves the producer waiting, not buffering everything."""
    channels: list[Any] = []
    made = vars(_compiled)["Channel"]

    def recording(n: Any) -> Any:
        channels.append(made(n))
        return channels[-1]

    monkeypatch.setattr(_compiled, "Channel", recording)

    def producer_waits() -> bool:  # the graph waits for room in its hand-off channel
        if not channels:
            return False
        if sync:
            return bool(channels[0]._producers_waiting)
        waiter = channels[0]._room_waiter
        return waiter is not None and not waiter.done()

    model = CountingModel([" ".join(f"w{i}" for i in range(5000))])
    graph = chat_graph(model_node(model, "invoke" if sync else "astream"))
    if sync:
        stream = graph.stream({"messages": [("user", "hi")]}, stream_mode="messages")
        next(stream)
        await async_wait_until(producer_waits, message="the producer never waited for room")
        generated = model.generated
        stream.close()
    else:
        astream = graph.astream({"messages": [("user", "hi")]}, stream_mode="messages")
        await astream.__anext__()
        await async_wait_until(producer_waits, message="the producer never waited for room")
        generated = model.generated
        await astream.aclose()
    assert generated < 1200  # the buffer (a few hundred items) plus one batch, not 5000


class GraphRunEnds(BaseCallbackHandler):
    """Records how the root run (the graph's) ended: ``end`` (with its outputs) or ``error``."""

    def __init__(self) -> None:
        self.ends: list[tuple[str, Any]] = []

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        if kw.get("parent_run_id") is None:
            self.ends.append(("end", outputs))

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        if kw.get("parent_run_id") is None:
            self.ends.append(("error", error))


class Steps(TypedDict, total=False):
    steps: list[str]


def two_steps() -> Any:
    def first(state: Steps) -> Steps:
        get_stream_writer()("first")
        return {"steps": [*state.get("steps", []), "first"]}

    def second(state: Steps) -> Steps:
        get_stream_writer()("second")
        return {"steps": [*state.get("steps", []), "second"]}

    builder = StateGraph(Steps)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    return builder.compile()


@pytest.mark.parametrize("mode", ["updates", "custom"])  # the inline and the threaded stream
async def test_a_graph_stream_left_early_reports_its_end_to_callbacks(
    sync: bool, mode: str
) -> None:
    """The early-exit policy of every run: the graph run gets one end event (never an error)
    with the state it reached; before, a graph stream closed early reported nothing."""
    handler = GraphRunEnds()
    config: Any = {"callbacks": [handler]}
    graph = two_steps()
    if sync:
        stream = graph.stream({"steps": []}, config, stream_mode=mode)
        for _ in stream:
            break
        stream.close()
    else:
        astream = graph.astream({"steps": []}, config, stream_mode=mode)
        async for _ in astream:
            break
        await astream.aclose()
    assert [kind for kind, _ in handler.ends] == ["end"]
    # The state the producer reached (it may run ahead of the consumer by its buffer).
    assert handler.ends[0][1]["steps"] in ([], ["first"], ["first", "second"])
