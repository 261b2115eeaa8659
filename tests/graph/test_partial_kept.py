"""A run that fails or is cancelled mid-step keeps its models' partial messages in the thread
(LangGraph drops them, langgraph #5672): the next turn's model sees them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tokentide.checkpoint import MemorySaver
from tokentide.errors import StreamError
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage, HumanMessage
from tokentide.models import FakeChatModel
from tokentide.runnables import RunnableConfig

WORDS = ["one", " two", " three", " four", " five", " six"]


def _chat(model: Any, seen: list[Any]) -> Any:
    def chat(state: MessagesState) -> dict[str, Any]:
        seen.append([m.content for m in state["messages"]])
        return {"messages": [model.invoke(state["messages"])]}

    async def achat(state: MessagesState) -> dict[str, Any]:
        seen.append([m.content for m in state["messages"]])
        return {"messages": [await model.ainvoke(state["messages"])]}

    return chat, achat


def _graph(model: Any, seen: list[Any], sync: bool) -> Any:
    chat, achat = _chat(model, seen)
    g = StateGraph(MessagesState).add_node("chat", chat if sync else achat)
    return g.add_edge(START, "chat").compile(checkpointer=MemorySaver())


async def test_a_failed_model_stream_leaves_its_partial_reply_in_the_thread(sync: bool) -> None:
    seen: list[Any] = []
    graph = _graph(FakeChatModel([WORDS], error_after=3), seen, sync)
    config = {"configurable": {"thread_id": "t"}}
    first = {"messages": [HumanMessage("count")]}
    with pytest.raises(StreamError):
        if sync:
            graph.invoke(first, config)
        else:
            await graph.ainvoke(first, config)
    state = graph.get_state(config)
    last = state.values["messages"][-1]
    assert isinstance(last, AIMessage)
    assert last.content == "one two three"
    assert last.response_metadata["partial"] is True
    assert state.next == ("chat",)  # the step can be retried with invoke(None)
    assert state.metadata["stopped"] == "StreamInterrupted"

    graph_ok = _graph(FakeChatModel(["fine"]), seen, sync)
    graph_ok.checkpointer = graph.checkpointer
    again = {"messages": [HumanMessage("go on")]}
    if sync:
        graph_ok.invoke(again, config)
    else:
        await graph_ok.ainvoke(again, config)
    assert seen[-1] == ["count", "one two three", "go on"]  # the next turn saw it


async def test_a_cancelled_stream_keeps_what_was_streamed(sync: bool) -> None:
    seen: list[Any] = []
    graph = _graph(FakeChatModel([WORDS], delay=0.01), seen, sync)
    config = {"configurable": {"thread_id": "t"}}
    first = {"messages": [HumanMessage("count")]}
    got: list[str] = []
    if sync:
        for chunk, _meta in graph.stream(first, config, stream_mode="messages"):
            got.append(chunk.content)
            if len(got) == 2:
                break
    else:
        stream = graph.astream(first, config, stream_mode="messages")
        async for chunk, _meta in stream:
            got.append(chunk.content)
            if len(got) == 2:
                break
        await stream.aclose()
    assert got == ["one", " two"]
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # the sync stream's driver thread saves when it notices the consumer left
        kept = graph.get_state(config).values["messages"]
        if len(kept) == 2 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)
    assert [m.content for m in kept][0] == "count"
    assert isinstance(kept[-1], AIMessage)
    assert kept[-1].content.startswith("one two")
    assert kept[-1].response_metadata["partial"] is True


async def test_nothing_is_written_without_partial_output(sync: bool) -> None:
    def boom(state: MessagesState) -> dict[str, Any]:
        raise ValueError("no model ran")

    g = StateGraph(MessagesState).add_node("boom", boom).add_edge(START, "boom")
    graph = g.compile(checkpointer=MemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with pytest.raises(ValueError):
        if sync:
            graph.invoke({"messages": [HumanMessage("x")]}, config)
        else:
            await graph.ainvoke({"messages": [HumanMessage("x")]}, config)
    history = graph.get_state_history(config)
    assert [m.get("stopped") for s in history if (m := s.metadata) is not None] == [None, None]
