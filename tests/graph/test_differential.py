"""Differential suite: the same graphs, run by tokentide and by LangGraph, stream the same items.

Each recipe builds a graph from a *library* (tokentide's or LangGraph's names, and that
library's own fake chat model) with the same node functions; both runs are normalized
(messages -> type, content, id presence; task ids and timestamps stripped) and compared item
by item. Needs ``langgraph`` (a test-only dependency): the module is skipped without it.
"""

from __future__ import annotations

import ast
import asyncio
import json
import operator
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")

import langchain_core.language_models.fake_chat_models as lc_fakes  # noqa: E402
import langchain_core.messages as lc_messages  # noqa: E402
import langgraph.config as lg_config  # noqa: E402
import langgraph.errors as lg_errors  # noqa: E402
import langgraph.graph as lg_graph  # noqa: E402
import langgraph.types as lg_types  # noqa: E402

import tokentide.errors as tt_errors  # noqa: E402
import tokentide.graph as tt_graph  # noqa: E402
import tokentide.messages as tt_messages  # noqa: E402
from differential_support import UUID, GraphLib, comparable_fields  # noqa: E402
from tokentide.models import FakeChatModel  # noqa: E402


@dataclass
class Lib(GraphLib):
    writer: Callable[[], Any]
    AIMessage: Any
    recursion_error: type[BaseException]

    @property
    def needs_config(self) -> bool:
        """LangGraph on Python < 3.11 loses its run context in nodes (its documented
        limitation): its nodes then take the injected ``writer`` and pass ``config`` to the
        model by hand. tokentide's nodes never do, on any version."""
        return self.name == "langgraph" and sys.version_info < (3, 11)

    def node_writer(self, writer: Any) -> Any:
        return writer if self.needs_config else self.writer()

    def node_config(self, config: Any) -> Any:
        return config if self.needs_config else None

    def model(self, text: str, tags: list[str] | None = None) -> Any:
        if self.name == "langgraph":
            reply = lc_messages.AIMessage(text)
            return lc_fakes.GenericFakeChatModel(messages=iter([reply] * 50), tags=tags)
        return FakeChatModel([re.split(r"(\s)", text)], tags=tags)


LANGGRAPH = Lib(
    "langgraph",
    lg_graph,
    lg_types,
    lg_config.get_stream_writer,
    lc_messages.AIMessage,
    lg_errors.GraphRecursionError,
)
TOKENTIDE = Lib(
    "tokentide",
    tt_graph,
    tt_graph,
    tt_graph.get_stream_writer,
    tt_messages.AIMessage,
    tt_errors.GraphRecursionError,
)


class S(TypedDict, total=False):
    out: Annotated[list[str], operator.add]
    n: int
    topic: str
    joke: str


def step(name: str, delay: float = 0.0) -> Callable[[S], dict[str, Any]]:
    def node(state: S) -> dict[str, Any]:
        if delay:
            time.sleep(delay)
        return {"out": [name]}

    return node


# ------------------------------------------------------------------------------- recipes


def linear(lib: Lib) -> Any:
    g = lib.graph.StateGraph(S)
    g.add_node("a", step("a")).add_node("b", step("b"))
    return (
        g.add_edge(lib.graph.START, "a").add_edge("a", "b").add_edge("b", lib.graph.END).compile()
    )


def branching(lib: Lib) -> Any:
    def route(state: S) -> str:
        return "yes" if state.get("n", 0) > 0 else "no"

    g = lib.graph.StateGraph(S)
    g.add_node("check", lambda s: {"n": 1}).add_node("yes", step("yes")).add_node("no", step("no"))
    g.add_edge(lib.graph.START, "check").add_conditional_edges("check", route, ["yes", "no"])
    return g.compile()


def fan_in(lib: Lib) -> Any:
    g = lib.graph.StateGraph(S)
    g.add_node("fast", step("fast")).add_node("slow", step("slow", 0.05))
    g.add_node("after", step("after")).add_node("join", step("join"))
    g.add_edge(lib.graph.START, "fast").add_edge(lib.graph.START, "slow")
    g.add_edge("fast", "after").add_edge(["after", "slow"], "join")
    return g.compile()


def loop(lib: Lib) -> Any:
    def count(state: S) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1, "out": ["tick"]}

    def again(state: S) -> str:
        return lib.graph.END if state["n"] >= 3 else "count"

    g = lib.graph.StateGraph(S).add_node("count", count)
    return g.add_edge(lib.graph.START, "count").add_conditional_edges("count", again).compile()


def command(lib: Lib) -> Any:
    def decide(state: S) -> Any:
        return lib.types.Command(update={"n": 7, "out": ["decide"]}, goto="b")

    g = lib.graph.StateGraph(S).add_node("decide", decide)
    g.add_node("a", step("a")).add_node("b", step("b"))
    return g.add_edge(lib.graph.START, "decide").compile()


def send(lib: Lib) -> Any:
    def fan(state: S) -> list[Any]:
        return [lib.types.Send("work", {"topic": t}) for t in ("x", "y")]

    def work(arg: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.03 if arg["topic"] == "y" else 0)
        return {"out": [arg["topic"]]}

    g = lib.graph.StateGraph(S).add_node("split", lambda s: None).add_node("work", work)
    return g.add_edge(lib.graph.START, "split").add_conditional_edges("split", fan).compile()


def chat_sync(lib: Lib) -> Any:
    model = lib.model("hello big world", tags=["m"])

    def chat(state, config, writer):
        lib.node_writer(writer)({"progress": "start"})
        reply = model.invoke(state["messages"], lib.node_config(config))
        return {"messages": [reply, lib.AIMessage("note", id="fixed-note")]}

    g = lib.graph.StateGraph(lib.graph.MessagesState).add_node("chat", chat)
    return g.add_edge(lib.graph.START, "chat").compile()


def chat_async(lib: Lib) -> Any:
    joke = lib.model("why did it cross", tags=["joke"])
    poem = lib.model("roses are red", tags=["poem"])

    async def call_model(state, config, writer):  # as in the seed
        writer({"stage": "joke"})
        j = await joke.ainvoke("joke please", lib.node_config(config))
        writer({"stage": "poem"})
        text = ""
        async for chunk in poem.astream("poem please", lib.node_config(config)):
            text += chunk.content
        return {"joke": j.content, "topic": text}

    g = lib.graph.StateGraph(S).add_node("call_model", call_model)
    return g.add_edge(lib.graph.START, "call_model").compile()


def subgraph(lib: Lib) -> Any:
    model = lib.model("sub tok", tags=["inner"])

    def inner(state, config, writer):
        lib.node_writer(writer)({"inner": 1})
        return {"messages": [model.invoke(state["messages"], lib.node_config(config))]}

    sub = lib.graph.StateGraph(lib.graph.MessagesState).add_node("inner", inner)
    sub = sub.add_edge(lib.graph.START, "inner").compile()

    def after(state: Any) -> dict[str, Any]:
        return {"messages": [lib.AIMessage("done", id="after-1")]}

    g = lib.graph.StateGraph(lib.graph.MessagesState).add_node("sub", sub).add_node("after", after)
    return g.add_edge(lib.graph.START, "sub").add_edge("sub", "after").compile()


def send_many(lib: Lib) -> Any:
    """Twelve ``Send`` tasks: updates and state writes keep the send order (10 after 9)."""

    def fan(state: S) -> list[Any]:
        return [lib.types.Send("work", {"topic": str(i)}) for i in range(12)]

    def work(arg: dict[str, Any]) -> dict[str, Any]:
        return {"out": [arg["topic"]]}

    g = lib.graph.StateGraph(S).add_node("split", lambda s: None).add_node("work", work)
    return g.add_edge(lib.graph.START, "split").add_conditional_edges("split", fan).compile()


class Private(TypedDict, total=False):
    out: Annotated[list[str], operator.add]
    scratch: str


def subgraph_private(lib: Lib) -> Any:
    """A subgraph node with a key of its own: the parent's update holds only parent keys."""
    inner = lib.graph.StateGraph(Private)
    inner.add_node("think", lambda s: {"scratch": "x", "out": ["think"]})
    sub = inner.add_edge(lib.graph.START, "think").compile()
    g = lib.graph.StateGraph(S).add_node("sub", sub).add_node("after", step("after"))
    return g.add_edge(lib.graph.START, "sub").add_edge("sub", "after").compile()


def returned_message(lib: Lib) -> Any:
    """A node returns a message it did not stream, without an id: it is streamed with one."""

    def answer(state: Any) -> dict[str, Any]:
        return {"messages": [lib.AIMessage("not streamed")]}

    g = lib.graph.StateGraph(lib.graph.MessagesState).add_node("answer", answer)
    return g.add_edge(lib.graph.START, "answer").compile()


STATE_INPUT: dict[str, Any] = {"out": []}
CHAT_INPUT: dict[str, Any] = {"messages": [("user", "hi")]}

RECIPES: dict[str, tuple[Callable[[Lib], Any], dict[str, Any], bool]] = {
    # name: (builder, input, runs synchronously)
    "linear": (linear, STATE_INPUT, True),
    "branching": (branching, STATE_INPUT, True),
    "fan_in": (fan_in, STATE_INPUT, True),
    "loop": (loop, STATE_INPUT, True),
    "command": (command, STATE_INPUT, True),
    "send": (send, STATE_INPUT, True),
    "chat_sync": (chat_sync, CHAT_INPUT, True),
    "chat_async": (chat_async, {"topic": "cats"}, False),
    "subgraph": (subgraph, CHAT_INPUT, True),
    "send_many": (send_many, STATE_INPUT, True),
    "subgraph_private": (subgraph_private, STATE_INPUT, True),
    "returned_message": (returned_message, CHAT_INPUT, True),
}

MODES: list[Any] = [
    "values",
    "updates",
    "messages",
    "custom",
    "debug",
    ["values", "updates", "messages", "custom"],
]

# ------------------------------------------------------------------------------- normalizer


def norm(value: Any) -> Any:
    if isinstance(value, (lc_messages.BaseMessage, tt_messages.BaseMessage)):
        return (type(value).__name__, value.content, value.id is not None)
    if isinstance(value, str):
        return UUID.sub("<id>", value)
    if isinstance(value, dict):
        value = comparable_fields(value)
        return {k: norm(v) for k, v in value.items() if k != "id"}
    if isinstance(value, (list, tuple)):
        return type(value)(norm(v) for v in value)
    return value


def is_empty_chunk(item: Any) -> bool:
    """Our fake model ends each reply with an empty chunk carrying usage (LangChain's does not)."""
    if isinstance(item, tuple) and item and isinstance(item[0], tt_messages.AIMessageChunk):
        return item[0].content == "" and not item[0].tool_call_chunks
    return isinstance(item, tuple) and any(is_empty_chunk(part) for part in item[-1:])


def normalize(items: list[Any]) -> list[Any]:
    return [norm(item) for item in items if not is_empty_chunk(item)]


def _finished_work(item: Any) -> bool:
    """An item reporting that a concurrent ``work`` task finished (updates / task_result)."""
    text = repr(item)
    return "'work'" in text and ("'updates'" in text or "task_result" in text or "{'work':" in text)


def settle(items: list[Any]) -> list[Any]:
    """Concurrent tasks report their end as they finish, in both libraries (an order that
    depends on thread timing): sort each run of such items. Their start (debug ``task``
    events) and their writes (``values``) keep the send order and are compared as they are."""
    out: list[Any] = []
    run: list[Any] = []
    for item in [*items, None]:
        if item is not None and _finished_work(item):
            run.append(item)
            continue
        out.extend(sorted(run, key=repr))
        run = []
        if item is not None:
            out.append(item)
    return out


async def collect(graph: Any, input: Any, use_sync: bool, **kw: Any) -> list[Any]:
    if use_sync:
        return list(graph.stream(input, **kw))
    return [item async for item in graph.astream(input, **kw)]


def _matrix() -> list[Any]:
    cases = []
    for recipe, (_, _, sync_ok) in RECIPES.items():
        for mode in MODES:
            for use_sync in (True, False) if sync_ok else (False,):
                for subgraphs in (False, True) if recipe in ("subgraph", "chat_sync") else (False,):
                    mode_id = "+".join(mode) if isinstance(mode, list) else mode
                    ids = f"{recipe}-{mode_id}-{'sync' if use_sync else 'async'}"
                    ids += "-subgraphs" if subgraphs else ""
                    cases.append(pytest.param(recipe, mode, use_sync, subgraphs, id=ids))
    return cases


# LangGraph's stream writer cannot run in async nodes on Python < 3.11 ("Called get_config
# outside of a runnable context", its documented limitation), so those cases have no live
# reference there. Their LangGraph output is recorded here on Python 3.11+ (where the test also
# checks that the record still equals LangGraph's live output); on 3.10 tokentide is compared
# with the record. Re-record with TOKENTIDE_RECORD_GOLDEN=1 on Python 3.11+.
GOLDEN = Path(__file__).with_name("differential_golden.json")
RECORDED: dict[str, str] = json.loads(GOLDEN.read_text("utf-8")) if GOLDEN.exists() else {}


def needs_record(mode: Any, use_sync: bool) -> bool:
    return not use_sync and "custom" in (mode if isinstance(mode, list) else [mode])


@pytest.mark.parametrize(("recipe", "mode", "use_sync", "subgraphs"), _matrix())
async def test_same_items_as_langgraph(
    request: pytest.FixtureRequest, recipe: str, mode: Any, use_sync: bool, subgraphs: bool
) -> None:
    build, input, _ = RECIPES[recipe]
    kw = {"stream_mode": mode, "subgraphs": subgraphs}
    case = request.node.callspec.id
    ours = normalize(await collect(build(TOKENTIDE), input, use_sync, **kw))
    try:
        theirs = normalize(await collect(build(LANGGRAPH), input, use_sync, **kw))
    except RuntimeError as exc:
        if not (LANGGRAPH.needs_config and "outside of a runnable context" in str(exc)):
            raise
        theirs = ast.literal_eval(RECORDED[case])
    else:
        if needs_record(mode, use_sync):
            if os.environ.get("TOKENTIDE_RECORD_GOLDEN") == "1":
                RECORDED[case] = repr(theirs)
                GOLDEN.write_text(json.dumps(RECORDED, indent=1, sort_keys=True) + "\n", "utf-8")
            recorded = ast.literal_eval(RECORDED[case])
            if recipe in CONCURRENT:  # its tasks' ends come in the order they finish
                recorded, live = settle(recorded), settle(theirs)
            else:
                live = theirs
            assert recorded == live, "stale record: re-record it"
    if recipe in CONCURRENT:
        ours, theirs = settle(ours), settle(theirs)
    assert ours == theirs


#: Recipes whose steps run many tasks at once (their end order is the finish order).
CONCURRENT = {"send_many"}


@pytest.mark.parametrize("use_sync", [True, False], ids=["sync", "async"])
async def test_same_final_state_and_default_mode(use_sync: bool) -> None:
    for recipe, (build, input, sync_ok) in RECIPES.items():
        if use_sync and not sync_ok:
            continue
        theirs = await collect(build(LANGGRAPH), input, use_sync)
        ours = await collect(build(TOKENTIDE), input, use_sync)
        assert settle(normalize(ours)) == settle(normalize(theirs)), recipe
        if use_sync:
            assert norm(build(TOKENTIDE).invoke(input)) == norm(build(LANGGRAPH).invoke(input))
        else:
            a = await build(TOKENTIDE).ainvoke(input)
            b = await build(LANGGRAPH).ainvoke(input)
            assert norm(a) == norm(b), recipe


async def test_same_recursion_error() -> None:
    def forever(lib: Lib) -> Any:
        g = lib.graph.StateGraph(S).add_node("a", step("a"))
        return g.add_edge(lib.graph.START, "a").add_edge("a", "a").compile()

    errors = []
    for lib in (LANGGRAPH, TOKENTIDE):
        with pytest.raises(lib.recursion_error) as info:
            forever(lib).invoke({}, {"recursion_limit": 3})
        errors.append(str(info.value).splitlines()[0])
    assert errors[0] == errors[1]
    await asyncio.sleep(0)
