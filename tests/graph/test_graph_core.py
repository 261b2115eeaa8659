"""Building, compiling and running graphs: reducers, routing, errors, limits."""

from __future__ import annotations

import asyncio
import operator
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import pytest

from fakes.waiting import DEADLINE
from tokentide.errors import GraphRecursionError, InvalidUpdateError
from tokentide.graph import END, START, Command, MessagesState, Send, StateGraph, add_messages
from tokentide.graph.message import add_messages as add_messages_path
from tokentide.messages import AIMessage, HumanMessage

from .conftest import run_invoke, run_stream


class S(TypedDict, total=False):
    out: Annotated[list[str], operator.add]
    n: int
    route: str


def appender(name: str, delay: float = 0.0) -> Any:
    def node(state: S) -> dict[str, Any]:
        if delay:
            time.sleep(delay)
        return {"out": [name]}

    node.__name__ = name
    return node


def test_add_messages_merges_by_id() -> None:
    assert add_messages is add_messages_path
    left = [HumanMessage("hi", id="1"), AIMessage("draft", id="2")]
    merged = add_messages(left, [AIMessage("final", id="2"), ("user", "more")])
    assert [m.content for m in merged] == ["hi", "final", "more"]
    assert merged[2].id is not None and merged[2].type == "human"


async def test_linear_values_and_updates(sync: bool) -> None:
    graph = (
        StateGraph(S)
        .add_node(appender("a"))
        .add_node(appender("b"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", END)
        .compile()
    )
    assert await run_invoke(graph, {"out": []}, sync) == {"out": ["a", "b"]}
    updates = await run_stream(graph, {"out": []}, sync)
    assert updates == [{"a": {"out": ["a"]}}, {"b": {"out": ["b"]}}]
    values = await run_stream(graph, {"out": ["x"]}, sync, stream_mode="values")
    assert values == [{"out": ["x"]}, {"out": ["x", "a"]}, {"out": ["x", "a", "b"]}]
    both = await run_stream(graph, {"out": ["x"]}, sync, stream_mode=["values", "updates"])
    assert [mode for mode, _ in both] == ["values", "updates", "values", "updates", "values"]
    # an input that writes nothing emits no first "values" item (as LangGraph)
    nothing = await run_stream(graph, {}, sync, stream_mode=["values", "updates"])
    assert [mode for mode, _ in nothing] == ["updates", "values", "updates", "values"]


async def test_fan_out_fan_in_waits_for_all_and_applies_in_order(sync: bool) -> None:
    graph = (
        StateGraph(S)
        .add_node(appender("z", 0.02))
        .add_node(appender("a"))
        .add_node(appender("slow", 0.05))
        .add_node(appender("join"))
        .add_edge(START, "z")
        .add_edge(START, "a")
        .add_edge("a", "slow")
        .add_edge(["z", "slow"], "join")
        .compile()
    )
    result = await run_invoke(graph, {}, sync)
    # step 1 applies a before z (task order), join runs once after both z and slow
    assert result == {"out": ["a", "z", "slow", "join"]}


async def test_parallel_nodes_run_concurrently(sync: bool) -> None:
    # Each node waits until all three have started: run one by one, they would time out.
    barrier = threading.Barrier(3, timeout=DEADLINE)
    started: list[str] = []
    all_in = asyncio.Event()
    graph = StateGraph(S)
    for name in ("p1", "p2", "p3"):
        if sync:

            def sync_node(state: S, name: str = name) -> dict[str, Any]:
                barrier.wait()
                return {"out": [name]}

            graph.add_node(name, sync_node)
        else:

            async def node(state: S, name: str = name) -> dict[str, Any]:
                started.append(name)
                if len(started) == 3:
                    all_in.set()
                await asyncio.wait_for(all_in.wait(), DEADLINE)
                return {"out": [name]}

            graph.add_node(name, node)
        graph.add_edge(START, name)
    compiled = graph.compile()
    result = await run_invoke(compiled, {}, sync)
    assert result["out"] == ["p1", "p2", "p3"]


async def test_two_writes_to_plain_key_in_one_step(sync: bool) -> None:
    def one(state: S) -> dict[str, Any]:
        return {"n": 1}

    graph = (
        StateGraph(S)
        .add_node("x", one)
        .add_node("y", one)
        .add_edge(START, "x")
        .add_edge(START, "y")
        .compile()
    )
    with pytest.raises(InvalidUpdateError, match="At key 'n': Can receive only one value per step"):
        await run_invoke(graph, {}, sync)


async def test_conditional_loop_and_recursion_limit(sync: bool) -> None:
    calls = []

    def count(state: S) -> dict[str, Any]:
        calls.append(1)
        return {"n": state.get("n", 0) + 1}

    def again(state: S) -> str:
        return END if state["n"] >= 3 else "count"

    graph = (
        StateGraph(S)
        .add_node(count)
        .add_edge(START, "count")
        .add_conditional_edges("count", again)
        .compile()
    )
    assert (await run_invoke(graph, {}, sync))["n"] == 3
    forever = StateGraph(S).add_node(count).add_edge(START, "count").add_edge("count", "count")
    calls.clear()
    with pytest.raises(GraphRecursionError, match="Recursion limit of 4 reached"):
        await run_invoke(forever.compile(), {}, sync, {"recursion_limit": 4})
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(GraphRecursionError, match="Recursion limit of 25"):
        await run_invoke(forever.compile(), {}, sync)
    assert len(calls) == 25


async def test_path_map_and_list_of_destinations(sync: bool) -> None:
    def router(state: S) -> list[str]:
        return ["left", "right"]

    graph = (
        StateGraph(S)
        .add_node(appender("start"))
        .add_node(appender("l"))
        .add_node(appender("r"))
        .add_edge(START, "start")
        .add_conditional_edges("start", router, {"left": "l", "right": "r"})
        .compile()
    )
    assert (await run_invoke(graph, {}, sync))["out"] == ["start", "l", "r"]


async def test_command_update_and_goto(sync: bool) -> None:
    def decide(state: S) -> Command[str]:
        return Command(update={"route": "b", "out": ["decide"]}, goto="b")

    graph = (
        StateGraph(S)
        .add_node(decide)
        .add_node(appender("a"))
        .add_node(appender("b"))
        .add_edge(START, "decide")
        .compile()
    )
    updates = await run_stream(graph, {}, sync)
    assert updates == [{"decide": {"route": "b", "out": ["decide"]}}, {"b": {"out": ["b"]}}]


async def test_send_fans_out_with_own_inputs(sync: bool) -> None:
    def split(state: S) -> None:
        return None

    def work(arg: dict[str, Any]) -> dict[str, Any]:
        return {"out": [arg["item"].upper()]}

    def fan(state: S) -> list[Send]:
        return [Send("work", {"item": x}) for x in ("a", "b", "c")]

    graph = (
        StateGraph(S)
        .add_node(split)
        .add_node(work)
        .add_edge(START, "split")
        .add_conditional_edges("split", fan)
        .compile()
    )
    assert (await run_invoke(graph, {}, sync))["out"] == ["A", "B", "C"]


async def test_node_error_names_the_node(sync: bool) -> None:
    def boom(state: S) -> None:
        raise KeyError("kk")

    graph = StateGraph(S).add_node(boom).add_edge(START, "boom").compile()
    with pytest.raises(KeyError) as info:
        await run_invoke(graph, {}, sync)
    assert any("boom" in note for note in getattr(info.value, "__notes__", []))
    with pytest.raises(KeyError):
        await run_stream(graph, {}, sync, stream_mode="messages")


async def test_node_must_return_a_dict(sync: bool) -> None:
    graph = StateGraph(S).add_node("bad", lambda state: 5).add_edge(START, "bad").compile()
    with pytest.raises(InvalidUpdateError, match="Expected dict, got 5"):
        await run_invoke(graph, {}, sync)


async def test_injected_config_and_async_node_in_sync_run() -> None:
    seen: dict[str, Any] = {}

    def node(state: S, config: dict[str, Any]) -> None:
        seen.update(config["metadata"])
        seen["tags"] = config["tags"]

    graph = StateGraph(S).add_node(node).add_edge(START, "node").compile()
    graph.invoke({}, {"tags": ["t1"], "metadata": {"user": "u"}})
    assert seen["langgraph_node"] == "node" and seen["user"] == "u" and seen["tags"] == ["t1"]

    async def anode(state: S) -> None:
        return None

    agraph = StateGraph(S).add_node(anode).add_edge(START, "anode").compile()
    with pytest.raises(TypeError, match="ainvoke"):
        agraph.invoke({})
    assert await agraph.ainvoke({"n": 1}) == {"n": 1, "out": []}


async def test_dataclass_state(sync: bool) -> None:
    @dataclass
    class D:
        name: str = "x"
        items: Annotated[list[str], operator.add] = field(default_factory=list)

    def node(state: D) -> dict[str, Any]:
        assert isinstance(state, D)
        return {"items": [state.name]}

    graph = StateGraph(D).add_node(node).add_edge(START, "node").compile()
    assert await run_invoke(graph, {"name": "q"}, sync) == {"name": "q", "items": ["q"]}


async def test_messages_state(sync: bool) -> None:
    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"echo {state['messages'][-1].content}")]}

    graph = StateGraph(MessagesState).add_node(reply).add_edge(START, "reply").compile()
    result = await run_invoke(graph, {"messages": [("user", "hi")]}, sync)
    assert [(m.type, m.content) for m in result["messages"]] == [("human", "hi"), ("ai", "echo hi")]


def test_compile_errors_name_the_problem() -> None:
    def n(state: S) -> None:
        return None

    with pytest.raises(ValueError, match="entrypoint"):
        StateGraph(S).add_node("a", n).compile()
    with pytest.raises(ValueError, match="unknown node `b`"):
        StateGraph(S).add_node("a", n).add_edge(START, "b").compile()
    with pytest.raises(ValueError, match="starting at unknown node 'q'"):
        StateGraph(S).add_node("a", n).add_edge(START, "a").add_edge("q", "a").compile()
    with pytest.raises(ValueError, match="unknown target 'x'"):
        (
            StateGraph(S)
            .add_node("a", n)
            .add_edge(START, "a")
            .add_conditional_edges("a", lambda s: "x", ["x"])
            .compile()
        )
    with pytest.raises(ValueError, match="END cannot be a start node"):
        StateGraph(S).add_node("a", n).add_edge(END, "a")
    with pytest.raises(ValueError, match="already present"):
        StateGraph(S).add_node("a", n).add_node("a", n)
    with pytest.raises(ValueError, match="reserved"):
        StateGraph(S).add_node(END, n)


async def test_unknown_route_at_runtime(sync: bool) -> None:
    graph = (
        StateGraph(S)
        .add_node(appender("a"))
        .add_edge(START, "a")
        .add_conditional_edges("a", lambda s: "nowhere")
        .compile()
    )
    with pytest.raises(InvalidUpdateError, match="unknown node 'nowhere'"):
        await run_invoke(graph, {}, sync)


def test_conditional_edge_changing_its_state_leaves_the_graph_state_alone() -> None:
    # The state after a step of one task is the state its conditional edge was shown: what
    # the edge does to that state (its reduced lists included) is not kept.
    def path(state: S) -> str:
        state["out"].append("edge")
        state["n"] = 99
        return END

    graph = StateGraph(S)
    graph.add_node("a", appender("a"))
    graph.add_edge(START, "a")
    graph.add_conditional_edges("a", path, [END])
    assert graph.compile().invoke({"out": ["in"], "n": 1}) == {"out": ["in", "a"], "n": 1}


def test_a_step_of_one_task_with_two_edges_gives_each_its_own_state() -> None:
    seen: list[list[str]] = []

    def first(state: S) -> str:
        seen.append(list(state["out"]))
        state["out"].clear()
        return END

    def second(state: S) -> str:
        seen.append(list(state["out"]))
        return END

    graph = StateGraph(S)
    graph.add_node("a", appender("a"))
    graph.add_edge(START, "a")
    graph.add_conditional_edges("a", first, [END])
    graph.add_conditional_edges("a", second, [END])
    assert graph.compile().invoke({"out": []}) == {"out": ["a"]}
    assert seen == [["a"], ["a"]]
