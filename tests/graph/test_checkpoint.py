"""Checkpointers: a second call on the same thread continues the conversation."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from tokentide.checkpoint import InMemorySaver, MemorySaver, SqliteSaver
from tokentide.checkpoint._serde import dumps, loads
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage, HumanMessage
from tokentide.models import FakeChatModel
from tokentide.runnables import RunnableConfig

from .conftest import run_invoke, run_stream


def chat_builder() -> StateGraph:
    model = FakeChatModel(["Hello Bob!", "Your name is Bob."])

    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    return StateGraph(MessagesState).add_node(chat).add_edge(START, "chat")


@pytest.fixture(params=["memory", "sqlite"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        yield MemorySaver()
        return
    with SqliteSaver.from_conn_string(str(tmp_path / "state.db")) as s:
        yield s


async def test_thread_continues(saver: Any, sync: bool) -> None:
    graph = chat_builder().compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "t1"}}
    await run_invoke(graph, {"messages": [("user", "hi, I'm Bob")]}, sync, config)
    result = await run_invoke(graph, {"messages": [("user", "what's my name?")]}, sync, config)
    assert [m.content for m in result["messages"]] == [
        "hi, I'm Bob",
        "Hello Bob!",
        "what's my name?",
        "Your name is Bob.",
    ]
    snapshot = graph.get_state(config)
    assert [m.type for m in snapshot.values["messages"]] == ["human", "ai", "human", "ai"]
    assert snapshot.next == ()
    assert snapshot.config["configurable"]["thread_id"] == "t1"
    assert snapshot.config["configurable"]["checkpoint_id"]
    other = await run_invoke(
        graph, {"messages": [("user", "new")]}, sync, {"configurable": {"thread_id": "t2"}}
    )
    assert len(other["messages"]) == 2
    history = list(graph.get_state_history(config))
    # As LangGraph: per turn the input checkpoint, the one after the input, one per step.
    steps = [(m["step"], m["source"], s.next) for s in history if (m := s.metadata) is not None]
    assert [s[:2] for s in steps] == [
        (4, "loop"),
        (3, "loop"),
        (2, "input"),
        (1, "loop"),
        (0, "loop"),
        (-1, "input"),
    ]
    assert [s[2] for s in steps] == [(), ("chat",), ("__start__",), (), ("chat",), ("__start__",)]
    assert history[-1].parent_config is None and history[0].parent_config is not None
    assert (await graph.aget_state(config)).values == snapshot.values


async def test_streaming_run_is_saved(saver: Any, sync: bool) -> None:
    graph = chat_builder().compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "s"}}
    items = await run_stream(
        graph, {"messages": [("user", "hi")]}, sync, config, stream_mode="messages"
    )
    assert "".join(m.content for m, _ in items) == "Hello Bob!"
    assert graph.get_state(config).values["messages"][-1].content == "Hello Bob!"


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with SqliteSaver.from_conn_string(path) as saver:
        chat_builder().compile(checkpointer=saver).invoke({"messages": [("user", "hi")]}, config)
    with SqliteSaver.from_conn_string(path) as saver:
        graph = chat_builder().compile(checkpointer=saver)
        values = graph.get_state(config).values
    assert [(m.type, m.content) for m in values["messages"]] == [
        ("human", "hi"),
        ("ai", "Hello Bob!"),
    ]
    assert isinstance(values["messages"][0], HumanMessage)


def test_pending_nodes_resume_with_none_input() -> None:
    class S(TypedDict, total=False):
        out: Annotated[list[str], operator.add]

    builder = StateGraph(S)
    for name in ("a", "b", "c"):
        builder.add_node(name, lambda s, n=name: {"out": [n]})
    builder.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c")
    graph = builder.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "r"}, "recursion_limit": 1}
    with pytest.raises(Exception, match="Recursion limit of 1"):
        graph.invoke({"out": []}, config)
    assert graph.get_state(config).next == ("b",)
    assert graph.invoke(None, {"configurable": {"thread_id": "r"}})["out"] == ["a", "b", "c"]


def test_no_checkpointer_or_thread() -> None:
    graph = chat_builder().compile()
    with pytest.raises(ValueError, match="checkpointer"):
        graph.get_state({"configurable": {"thread_id": "x"}})
    saved = chat_builder().compile(checkpointer=MemorySaver())
    with pytest.raises(ValueError, match="thread_id"):
        saved.invoke({"messages": []})


def test_serde_round_trip() -> None:
    value = {
        "messages": [HumanMessage("hi", id="1"), AIMessage("yo", id="2")],
        "pair": (1, "a"),
        "tags": {"x"},
        "odd": {1: "int key"},
        "nested": {"__tt__": "literal"},
        "blob": b"bytes",
    }
    assert loads(dumps(value)) == value
