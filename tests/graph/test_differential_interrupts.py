"""Differential suite, interrupts: the same graphs that pause (``interrupt()``,
``interrupt_before`` / ``interrupt_after``) and resume (``Command(resume=..., goto=...,
update=...)``, ``update_state``, ``None``), run by tokentide and by LangGraph 1.2 on one thread
each, stream the same items turn by turn, leave the same ``get_state()`` snapshots and return
the same ``invoke`` results. Sync runs use sync nodes, async runs async nodes.

Ids are compared by identity, not value: every task, checkpoint and interrupt id is replaced by
the order in which it first appears, so a resumed task must carry its paused id again.
"""

from __future__ import annotations

import ast
import json
import operator
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")

import langgraph.checkpoint.memory as lg_memory  # noqa: E402
import langgraph.graph as lg_graph  # noqa: E402
import langgraph.types as lg_types  # noqa: E402

import tokentide.checkpoint.memory as tt_memory  # noqa: E402
import tokentide.graph as tt_graph  # noqa: E402
import tokentide.types as tt_types  # noqa: E402
from differential_support import GraphLib, cases  # noqa: E402


@dataclass
class Lib(GraphLib):
    saver: Callable[[], Any]


LANGGRAPH = Lib("langgraph", lg_graph, lg_types, lg_memory.InMemorySaver)
TOKENTIDE = Lib("tokentide", tt_graph, tt_types, tt_memory.InMemorySaver)


class S(TypedDict, total=False):
    topic: str
    answer: str
    log: Annotated[list[str], operator.add]


def node(lib: Lib, use_sync: bool, body: Callable[[Any, S], dict[str, Any]]) -> Any:
    """A node running ``body(interrupt, state)``: a sync function or an async one."""
    if use_sync:
        return lambda state: body(lib.types.interrupt, state)

    async def anode(state: S) -> dict[str, Any]:
        return body(lib.types.interrupt, state)

    return anode


def log(name: str) -> Callable[[Any, S], dict[str, Any]]:
    return lambda interrupt, state: {"log": [name]}


def ask(name: str, key: str = "log") -> Callable[[Any, S], dict[str, Any]]:
    def body(interrupt: Any, state: S) -> dict[str, Any]:
        answer = interrupt({"question": f"{name}?", "topic": state.get("topic")})
        return {key: [f"{name}:{answer}"]} if key == "log" else {key: answer}

    return body


def two_questions(interrupt: Any, state: S) -> dict[str, Any]:
    name = interrupt("name?")
    age = interrupt("age?")
    return {"answer": f"{name}/{age}", "log": ["form"]}


# ------------------------------------------------------------------------------- scenarios
# Each builds the graph with ``lib`` and returns it with its turns: inputs of stream/invoke,
# or callables ``turn(graph, config, lib, use_sync)`` making the input from the saved state
# (or doing an ``update_state`` and returning ``None``).


def _line(lib: Lib, use_sync: bool, **kw: Any) -> Any:
    g = lib.graph.StateGraph(S)
    for name in ("x", "y", "z"):
        g.add_node(name, node(lib, use_sync, log(name)))
    g.add_edge(lib.graph.START, "x").add_edge("x", "y").add_edge("y", "z")
    return g.compile(checkpointer=lib.saver(), **kw)


def one_interrupt(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    g = lib.graph.StateGraph(S)
    g.add_node("first", node(lib, use_sync, log("first")))
    g.add_node("ask", node(lib, use_sync, ask("ask", "answer")))
    g.add_node("last", node(lib, use_sync, log("last")))
    g.add_edge(lib.graph.START, "first").add_edge("first", "ask").add_edge("ask", "last")
    graph = g.compile(checkpointer=lib.saver())
    return graph, [{"topic": "cats"}, lib.types.Command(resume="bob")]


def two_in_one_node(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    g = lib.graph.StateGraph(S).add_node("form", node(lib, use_sync, two_questions))
    graph = g.add_edge(lib.graph.START, "form").compile(checkpointer=lib.saver())
    Command = lib.types.Command
    return graph, [{"topic": "t"}, Command(resume="Ann"), Command(resume=41)]


def _answer_by_id(question: str, answer: str) -> Callable[..., Any]:
    def turn(graph: Any, config: Any, lib: Lib, use_sync: bool) -> Any:
        pending = graph.get_state(config).interrupts
        (found,) = [i for i in pending if i.value["question"] == question]
        return lib.types.Command(resume={found.id: answer})

    return turn


def parallel_by_id(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    g = lib.graph.StateGraph(S)
    g.add_node("p1", node(lib, use_sync, ask("p1"))).add_node("p2", node(lib, use_sync, ask("p2")))
    g.add_node("ok", node(lib, use_sync, log("ok")))
    for name in ("p1", "p2", "ok"):
        g.add_edge(lib.graph.START, name)
    g.add_node("join", node(lib, use_sync, log("join"))).add_edge(["p1", "p2", "ok"], "join")
    graph = g.compile(checkpointer=lib.saver())
    return graph, [{"topic": "t"}, _answer_by_id("p1?", "A"), _answer_by_id("p2?", "B")]


def before_and_after(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    graph = _line(lib, use_sync, interrupt_before=["y"], interrupt_after=["y"])
    return graph, [{"topic": "t"}, None, None]


def every_node(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    graph = _line(lib, use_sync, interrupt_after="*")
    return graph, [{"topic": "t"}, None, None, None]


def _update(values: dict[str, Any], as_node: str | None = None) -> Callable[..., Any]:
    async def turn(graph: Any, config: Any, lib: Lib, use_sync: bool) -> Any:
        if use_sync:
            graph.update_state(config, values, as_node=as_node)
        else:
            await graph.aupdate_state(config, values, as_node=as_node)

    turn.update = True  # type: ignore[attr-defined]
    return turn


def update_then_resume(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    graph = _line(lib, use_sync, interrupt_before=["y", "z"])
    turns = [
        {"topic": "t"},
        _update({"topic": "edited", "log": ["manual"]}),
        None,
        _update({"log": ["as-z"]}, as_node="z"),
        None,
    ]
    return graph, turns


def update_then_answer(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    graph, _ = one_interrupt(lib, use_sync)
    turns = [{"topic": "dogs"}, _update({"topic": "cats"}), lib.types.Command(resume="yes")]
    return graph, turns


def goto_on_resume(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    g = lib.graph.StateGraph(S)
    g.add_node("ask", node(lib, use_sync, ask("ask"))).add_node("y", node(lib, use_sync, log("y")))
    g.add_node("z", node(lib, use_sync, log("z")))
    g.add_edge(lib.graph.START, "ask").add_edge("ask", "y")
    graph = g.compile(checkpointer=lib.saver())
    resume = lib.types.Command(resume="ok", goto="z", update={"topic": "changed"})
    return graph, [{"topic": "t"}, resume]


def subgraph(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    sub = lib.graph.StateGraph(S)
    sub.add_node("pre", node(lib, use_sync, log("pre")))
    sub.add_node("ask", node(lib, use_sync, ask("inner")))
    sub.add_edge(lib.graph.START, "pre").add_edge("pre", "ask")
    g = lib.graph.StateGraph(S)
    g.add_node("first", node(lib, use_sync, log("first"))).add_node("sub", sub.compile())
    g.add_node("after", node(lib, use_sync, log("after")))
    g.add_edge(lib.graph.START, "first").add_edge("first", "sub").add_edge("sub", "after")
    graph = g.compile(checkpointer=lib.saver())
    return graph, [{"topic": "t"}, lib.types.Command(resume="yes")]


def to_parent(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    Command = lib.types.Command

    def route(interrupt: Any, state: S) -> Any:
        answer = interrupt("leave the subgraph?")
        return Command(graph=Command.PARENT, goto="done", update={"answer": answer})

    sub = lib.graph.StateGraph(S).add_node("route", node(lib, use_sync, route))
    sub.add_edge(lib.graph.START, "route")
    g = lib.graph.StateGraph(S).add_node("sub", sub.compile())
    g.add_node("done", node(lib, use_sync, log("done"))).add_edge(lib.graph.START, "sub")
    graph = g.compile(checkpointer=lib.saver())
    return graph, [{"topic": "t"}, Command(resume="yes")]


def time_travel(lib: Lib, use_sync: bool) -> tuple[Any, list[Any]]:
    graph = _line(lib, use_sync)

    def back(graph: Any, config: Any, lib: Lib, use_sync: bool) -> Any:
        before_y = [h for h in graph.get_state_history(config) if h.next == ("y",)][0]
        config["configurable"]["checkpoint_id"] = before_y.config["configurable"]["checkpoint_id"]

    def forward(graph: Any, config: Any, lib: Lib, use_sync: bool) -> Any:
        config["configurable"].pop("checkpoint_id", None)

    # No snapshot after ``back``: LangGraph saves every finished task's writes on the
    # checkpoint it ran from, so an old snapshot shows their results; tokentide saves them
    # only for a step that paused (its old snapshots list the tasks without results).
    back.update = forward.update = True  # type: ignore[attr-defined]
    back.record = False  # type: ignore[attr-defined]
    return graph, [{"topic": "t"}, back, None, forward, {"topic": "again"}]


SCENARIOS: dict[str, Callable[[Lib, bool], tuple[Any, list[Any]]]] = {
    "one_interrupt": one_interrupt,
    "two_in_one_node": two_in_one_node,
    "parallel_by_id": parallel_by_id,
    "before_and_after": before_and_after,
    "every_node": every_node,
    "update_then_resume": update_then_resume,
    "update_then_answer": update_then_answer,
    "goto_on_resume": goto_on_resume,
    "subgraph": subgraph,
    "time_travel": time_travel,
    "to_parent": to_parent,
}
#: Scenarios whose steps run several tasks at once: their items are compared as multisets per
#: turn (the order of finishing tasks is thread timing), their ids as "<id>".
CONCURRENT = {"parallel_by_id", "goto_on_resume"}
MODES: list[Any] = [["updates", "values", "tasks", "checkpoints"], "updates", "debug"]

# ------------------------------------------------------------------------------- normalizing

_ID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{32}\b"
)


class Ids:
    """Replaces ids by their order of first appearance (or by ``<id>``)."""

    def __init__(self, numbered: bool) -> None:
        self.numbered = numbered
        self.seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if not self.numbered:
            return _ID.sub("<id>", text)
        return _ID.sub(lambda m: self.seen.setdefault(m.group(0), f"<id{len(self.seen)}>"), text)


def norm(value: Any, ids: Ids) -> Any:
    if isinstance(value, (lg_types.Interrupt, tt_types.Interrupt)):
        return {"Interrupt": norm(value.value, ids), "id": ids(value.id)}
    if isinstance(value, (lg_types.StateSnapshot, tt_graph.StateSnapshot)):
        snap = value._asdict()
        snap.pop("created_at")
        tasks = sorted(snap["tasks"], key=lambda t: t.name)
        snap["tasks"] = [norm(t._asdict(), ids) for t in tasks]
        return norm(snap, ids)
    if isinstance(value, str):
        return ids(value)
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in ("timestamp", "ts")}
        if "__interrupt__" in value and not ids.numbered:  # concurrent: in finishing order
            found = [norm(i, ids) for i in value["__interrupt__"]]
            value["__interrupt__"] = type(value["__interrupt__"])(sorted(found, key=repr))
        return {ids(k): norm(v, ids) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(norm(v, ids) for v in value)
    return value


# ------------------------------------------------------------------------------- running


async def transcript(lib: Lib, scenario: str, use_sync: bool, mode: Any) -> list[Any]:
    """Every turn's stream items, then the saved state after it; last, the ``invoke`` results
    of the same turns on a second thread."""
    graph, turns = SCENARIOS[scenario](lib, use_sync)
    ids = Ids(numbered=scenario not in CONCURRENT)
    out: list[Any] = []
    for thread, kind in (("streamed", "stream"), ("invoked", "invoke")):
        config: dict[str, Any] = {"configurable": {"thread_id": thread}}
        latest = {"configurable": {"thread_id": thread}}
        for turn in turns:
            if callable(turn):
                made = turn(graph, config, lib, use_sync)
                if getattr(made, "__await__", None) is not None:
                    made = await made
                if getattr(turn, "update", False):
                    if getattr(turn, "record", True):
                        out.append(("state", norm(graph.get_state(latest), ids)))
                    continue
                turn = made
            if kind == "invoke":
                result = (
                    graph.invoke(turn, config) if use_sync else await graph.ainvoke(turn, config)
                )
                items = [result]
            elif use_sync:
                items = list(graph.stream(turn, config, stream_mode=mode, subgraphs=True))
            else:
                items = [
                    i async for i in graph.astream(turn, config, stream_mode=mode, subgraphs=True)
                ]
            items = [norm(i, ids) for i in items]
            if scenario in CONCURRENT:
                items = sorted(items, key=repr)
            out.append((kind, items))
            out.append(("state", norm(graph.get_state(latest), ids)))
    return out


# LangGraph's interrupt() cannot run in async nodes on Python < 3.11 (it reads its config from
# a context variable that asyncio tasks lose there: "Called get_config outside of a runnable
# context", its documented limitation), so those cases have no live reference there. Their
# LangGraph transcript is recorded here on Python 3.11+ (where the test also checks that the
# record still equals LangGraph's live output); on 3.10 tokentide is compared with the record.
# Re-record with TOKENTIDE_RECORD_GOLDEN=1 on Python 3.11+.
GOLDEN = Path(__file__).with_name("differential_interrupts_golden.json")
RECORDED: dict[str, str] = json.loads(GOLDEN.read_text("utf-8")) if GOLDEN.exists() else {}


@pytest.mark.parametrize(("scenario", "mode", "use_sync"), cases(SCENARIOS, MODES))
async def test_same_transcript_as_langgraph(
    request: pytest.FixtureRequest, scenario: str, mode: Any, use_sync: bool
) -> None:
    case = request.node.callspec.id
    ours = await transcript(TOKENTIDE, scenario, use_sync, mode)
    if not use_sync and sys.version_info < (3, 11):
        theirs = ast.literal_eval(RECORDED[case])
    else:
        theirs = await transcript(LANGGRAPH, scenario, use_sync, mode)
        if not use_sync:
            if os.environ.get("TOKENTIDE_RECORD_GOLDEN") == "1":
                RECORDED[case] = repr(theirs)
                GOLDEN.write_text(json.dumps(RECORDED, indent=1, sort_keys=True) + "\n", "utf-8")
            assert ast.literal_eval(RECORDED[case]) == theirs, "stale record: re-record it"
    assert len(ours) == len(theirs)
    for turn, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == reference, f"turn {turn}"
