"""Graphs that pause and resume give the same results on every saver: an ``interrupt()``
answered by ``Command(resume=...)``, parallel interrupts answered one at a time by id (the
pending writes of a half-resumed step), and an interrupt inside a subgraph (its own
namespace), through ``invoke`` on the sync savers and ``ainvoke`` on the async ones."""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from tokentide.checkpoint import BaseCheckpointSaver, MemorySaver
from tokentide.graph import START, Command, StateGraph, interrupt

from ._savers import SAVERS, open_saver

pytestmark = pytest.mark.timeout(60)


class S(TypedDict, total=False):
    topic: str
    log: Annotated[list[str], operator.add]


@pytest.fixture(params=SAVERS)
async def saver(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BaseCheckpointSaver, bool]]:
    kind, sync = request.param
    async with open_saver(kind, sync, tmp_path, request) as opened:
        yield opened, sync


async def _invoke(graph: Any, value: Any, sync: bool, config: dict[str, Any]) -> Any:
    return graph.invoke(value, config) if sync else await graph.ainvoke(value, config)


def _asker(name: str) -> Any:
    return lambda state: {"log": [f"{name}:{interrupt(name + '?')}"]}


def _parallel(checkpointer: BaseCheckpointSaver) -> Any:
    g = StateGraph(S).add_node("p1", _asker("p1")).add_node("p2", _asker("p2"))
    g.add_node("ok", lambda s: {"log": ["ok"]})
    for name in ("p1", "p2", "ok"):
        g.add_edge(START, name)
    return g.compile(checkpointer=checkpointer)


def _nested(checkpointer: BaseCheckpointSaver) -> Any:
    sub = StateGraph(S).add_node("pre", lambda s: {"log": ["pre"]}).add_node("ask", _asker("sub"))
    sub.add_edge(START, "pre").add_edge("pre", "ask")
    g = StateGraph(S).add_node("sub", sub.compile()).add_node("after", lambda s: {"log": ["a"]})
    return g.add_edge(START, "sub").add_edge("sub", "after").compile(checkpointer=checkpointer)


async def _session(checkpointer: BaseCheckpointSaver, sync: bool) -> list[Any]:
    trace: list[Any] = []
    graph = _parallel(checkpointer)
    config = {"configurable": {"thread_id": "parallel"}}
    paused = await _invoke(graph, {"topic": "t"}, sync, config)
    trace.append((paused["log"], sorted(i.value for i in paused["__interrupt__"])))
    state = graph.get_state(config) if sync else await graph.aget_state(config)
    ids = {i.value: i.id for i in state.interrupts}
    trace.append(state.next)
    half = await _invoke(graph, Command(resume={ids["p1?"]: "A"}), sync, config)
    trace.append([i.value for i in half["__interrupt__"]])
    done = await _invoke(graph, Command(resume={ids["p2?"]: "B"}), sync, config)
    trace.append(done)

    nested = _nested(checkpointer)
    config = {"configurable": {"thread_id": "nested"}}
    paused = await _invoke(nested, {"topic": "t"}, sync, config)
    (found,) = paused["__interrupt__"]
    trace.append(found.value)
    if sync:
        inside = nested.get_state(config, subgraphs=True)
    else:
        inside = await nested.aget_state(config, subgraphs=True)
    (task,) = inside.tasks
    trace.append((task.name, task.state.values, task.state.next))
    trace.append(await _invoke(nested, Command(resume={found.id: "yes"}), sync, config))
    if sync:
        history = [(h.metadata["source"], h.next) for h in nested.get_state_history(config)]
    else:
        history = [(h.metadata["source"], h.next) async for h in nested.aget_state_history(config)]
    trace.append(history)
    return trace


async def test_pausing_graphs_give_the_same_results_on_every_saver(
    saver: tuple[BaseCheckpointSaver, bool],
) -> None:
    checkpointer, sync = saver
    expected = await _session(MemorySaver(), sync)
    assert expected[-2] == {"topic": "t", "log": ["pre", "sub:yes", "a"]}
    assert expected[3] == {"topic": "t", "log": ["ok", "p1:A", "p2:B"]}
    assert await _session(checkpointer, sync) == expected
