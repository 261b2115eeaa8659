"""Differential suite, persistence: the same graphs with a checkpointer, run by tokentide and by
LangGraph 1.2, save the same checkpoints (per turn: the input checkpoint, the one after the
input, one per step; ``metadata["step"]`` -1, 0, 1 ...), list the same history, and stream the
same ``"checkpoints"`` items and ``"debug"`` checkpoint events.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import pytest

pytest.importorskip("langgraph")

from langgraph.checkpoint.memory import InMemorySaver as LgSaver  # noqa: E402

from tokentide.checkpoint.memory import InMemorySaver as TtSaver  # noqa: E402
from tokentide.graph.message import MessagesState, add_messages  # noqa: E402
from tokentide.messages import AIMessage  # noqa: E402

from .test_differential import (  # noqa: E402
    CHAT_INPUT,
    LANGGRAPH,
    RECIPES,
    STATE_INPUT,
    TOKENTIDE,
    Lib,
    collect,
    normalize,
    settle,
)

PERSISTED = [
    "linear",
    "branching",
    "loop",
    "send",
    "send_many",
    "returned_message",
    "subgraph_private",
]


def saver_for(lib: Lib) -> Any:
    return LgSaver() if lib is LANGGRAPH else TtSaver()


def compiled(lib: Lib, recipe: str) -> Any:
    """The recipe's graph, compiled again with a checkpointer of ``lib``."""
    graph = RECIPES[recipe][0](lib)
    builder = graph.builder if lib is LANGGRAPH else None
    if builder is not None:
        return builder.compile(checkpointer=saver_for(lib))
    graph.checkpointer = saver_for(lib)
    return graph


def second_input(recipe: str) -> dict[str, Any]:
    return {"messages": [("user", "again")]} if recipe == "returned_message" else {"out": ["again"]}


def first_input(recipe: str) -> dict[str, Any]:
    return RECIPES[recipe][1]


def history(graph: Any, config: Any) -> list[Any]:
    return [
        (
            s.metadata["source"],
            s.metadata["step"],
            s.next,
            normalize([s.values])[0],
            s.parent_config is None,
        )
        for s in graph.get_state_history(config)
    ]


@pytest.mark.parametrize("recipe", PERSISTED)
@pytest.mark.parametrize("use_sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize(
    "mode", ["checkpoints", "debug", ["checkpoints", "values", "updates"]], ids=str
)
async def test_checkpoints_match_langgraph(recipe: str, use_sync: bool, mode: Any) -> None:
    results = []
    for lib in (TOKENTIDE, LANGGRAPH):
        graph = compiled(lib, recipe)
        config = {"configurable": {"thread_id": "t"}}
        items = []
        for turn in (first_input(recipe), second_input(recipe)):
            kw = {"stream_mode": mode}
            if use_sync:
                items += list(graph.stream(turn, config, **kw))
            else:
                items += [i async for i in graph.astream(turn, config, **kw)]
        results.append((settle(normalize(items)), history(graph, config)))
    ours, theirs = results
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]


async def test_state_after_two_turns() -> None:
    states = []
    for lib in (TOKENTIDE, LANGGRAPH):
        graph = compiled(lib, "loop")
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke(STATE_INPUT, config)
        await graph.ainvoke({"out": ["b"]}, config)
        snap = graph.get_state(config)
        states.append(
            (snap.values, snap.next, snap.metadata, len(list(graph.get_state_history(config))))
        )
    assert states[0] == states[1]


def test_no_checkpoint_events_without_a_checkpointer() -> None:
    for lib in (TOKENTIDE, LANGGRAPH):
        graph = RECIPES["linear"][0](lib)
        items = list(graph.stream(STATE_INPUT, stream_mode=["checkpoints", "debug"]))
        assert [i for i in items if i[0] == "checkpoints"] == []
        assert all(i[1]["type"] != "checkpoint" for i in items)


_RECEIVED = threading.Event()


def _slow_add(left: Any, right: Any) -> Any:
    """``add_messages`` that, for the node's reply, first waits until the consumer got it."""
    if any(getattr(m, "content", None) == "not streamed" for m in right):
        assert _RECEIVED.wait(30), "the consumer never got the message"
    return add_messages(left, right)


class _SlowState(MessagesState):
    messages: Annotated[list[Any], _slow_add]


def test_returned_message_has_its_id_even_when_read_before_the_reducer() -> None:
    """Forced interleaving: the state reducer waits until the consumer has received the
    message in ``messages`` mode, so the consumer reads it before the reducer runs (the
    timing that used to hand out a message without an id)."""
    from tokentide.graph import START, StateGraph

    def answer(state: Any) -> dict[str, Any]:
        return {"messages": [AIMessage("not streamed")]}

    graph = StateGraph(_SlowState).add_node("answer", answer).add_edge(START, "answer").compile()
    _RECEIVED.clear()
    seen = []
    for message, _meta in graph.stream(CHAT_INPUT, stream_mode="messages"):
        seen.append(message.id)
        _RECEIVED.set()
    assert len(seen) == 1 and seen[0] is not None
    _RECEIVED.set()
    assert graph.invoke(CHAT_INPUT)["messages"][-1].id is not None


async def test_collect_helper_is_shared() -> None:
    assert await collect(RECIPES["linear"][0](TOKENTIDE), STATE_INPUT, True) != []
