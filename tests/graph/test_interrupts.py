"""``interrupt()`` / ``Command(resume=...)``: a node pauses, the thread keeps where it stopped,
the next run answers it (sync and async)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

import pytest

from tokentide.checkpoint import MemorySaver, SqliteSaver
from tokentide.graph import END, START, Command, Interrupt, StateGraph, interrupt
from tokentide.messages import ToolCall
from tokentide.runnables import RunnableConfig
from tokentide.tools import tool

from .conftest import run_invoke, run_stream


class S(TypedDict, total=False):
    topic: str
    answer: str
    log: Annotated[list[str], operator.add]


def _graph(checkpointer: Any = None, **kw: Any) -> Any:
    calls: list[str] = []

    def first(state: S) -> dict[str, Any]:
        return {"log": ["first"]}

    def ask(state: S) -> dict[str, Any]:
        calls.append("ask")
        answer = interrupt({"question": f"about {state['topic']}?"})
        return {"answer": answer, "log": ["ask"]}

    def last(state: S) -> dict[str, Any]:
        return {"log": ["last"]}

    g = StateGraph(S).add_node("first", first).add_node("ask", ask).add_node("last", last)
    g.add_edge(START, "first").add_edge("first", "ask").add_edge("ask", "last")
    graph = g.compile(
        checkpointer=checkpointer if checkpointer is not None else MemorySaver(), **kw
    )
    graph.calls = calls  # type: ignore[attr-defined]
    return graph


def _config(thread: str = "t") -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
async def test_invoke_pauses_and_resumes(sync: bool, saver: str) -> None:
    checkpointer = MemorySaver() if saver == "memory" else SqliteSaver(":memory:")
    try:
        await _pause_and_resume(_graph(checkpointer), sync)
    finally:
        if isinstance(checkpointer, SqliteSaver):
            checkpointer.close()


async def _pause_and_resume(graph: Any, sync: bool) -> None:
    config = _config()
    paused = await run_invoke(graph, {"topic": "cats"}, sync, config)
    assert paused["log"] == ["first"]
    (found,) = paused["__interrupt__"]
    assert isinstance(found, Interrupt)
    assert found.value == {"question": "about cats?"}
    assert len(found.id) == 32

    state = graph.get_state(config) if sync else await graph.aget_state(config)
    assert state.next == ("ask",)
    assert state.interrupts == (found,)
    (task,) = state.tasks
    assert (task.name, task.interrupts, task.result) == ("ask", (found,), None)

    done = await run_invoke(graph, Command(resume="yes"), sync, config)
    assert done == {"topic": "cats", "answer": "yes", "log": ["first", "ask", "last"]}
    assert graph.calls == ["ask", "ask"]  # the node ran again from its start
    after = graph.get_state(config)
    assert (after.next, after.interrupts, after.tasks) == ((), (), ())


async def test_stream_updates_and_values(sync: bool) -> None:
    graph = _graph()
    config = _config()
    items = await run_stream(
        graph, {"topic": "dogs"}, sync, config, stream_mode=["updates", "values"]
    )
    updates = [c for m, c in items if m == "updates"]
    assert updates[0] == {"first": {"log": ["first"]}}
    (found,) = updates[1]["__interrupt__"]
    assert isinstance(updates[1]["__interrupt__"], tuple)
    assert items[-1] == ("values", {"topic": "dogs", "log": ["first"], "__interrupt__": (found,)})

    resumed = await run_stream(graph, Command(resume="no"), sync, config)
    assert resumed == [{"ask": {"answer": "no", "log": ["ask"]}}, {"last": {"log": ["last"]}}]


async def test_two_interrupts_in_one_node_answered_in_order(sync: bool) -> None:
    seen: list[Any] = []

    def form(state: S) -> dict[str, Any]:
        name = interrupt("name?")
        age = interrupt("age?")
        seen.append((name, age))
        return {"answer": f"{name}/{age}"}

    graph = StateGraph(S).add_node(form).add_edge(START, "form").compile(checkpointer=MemorySaver())
    config = _config()
    first = await run_invoke(graph, {"topic": "x"}, sync, config)
    assert [i.value for i in first["__interrupt__"]] == ["name?"]
    second = await run_invoke(graph, Command(resume="Ann"), sync, config)
    assert [i.value for i in second["__interrupt__"]] == ["age?"]
    assert second["__interrupt__"][0].id != first["__interrupt__"][0].id
    done = await run_invoke(graph, Command(resume=41), sync, config)
    assert done["answer"] == "Ann/41"
    assert seen == [("Ann", 41)]


async def test_interrupt_in_a_tool_called_from_a_node(sync: bool) -> None:
    @tool
    def book(city: str) -> str:
        """Book a trip."""
        ok = interrupt({"confirm": city})
        return f"booked {city}" if ok else "cancelled"

    def node(state: S) -> dict[str, Any]:
        return {"answer": book.invoke({"city": state["topic"]})}

    async def anode(state: S) -> dict[str, Any]:
        return {"answer": await book.ainvoke({"city": state["topic"]})}

    g = StateGraph(S).add_node("node", node if sync else anode).add_edge(START, "node")
    graph = g.compile(checkpointer=MemorySaver())
    config = _config()
    paused = await run_invoke(graph, {"topic": "Oslo"}, sync, config)
    assert paused["__interrupt__"][0].value == {"confirm": "Oslo"}
    done = await run_invoke(graph, Command(resume=True), sync, config)
    assert done["answer"] == "booked Oslo"


async def test_without_a_checkpointer_the_error_says_what_to_do(sync: bool) -> None:
    def ask(state: S) -> dict[str, Any]:
        return {"answer": interrupt("?")}

    graph = StateGraph(S).add_node(ask).add_edge(START, "ask").compile()
    with pytest.raises(ValueError, match=r"needs a checkpointer.*compile\(checkpointer="):
        await run_invoke(graph, {"topic": "x"}, sync)
    with pytest.raises(RuntimeError, match="without checkpointer"):
        await run_invoke(graph, Command(resume="x"), sync)


def test_interrupt_outside_a_node() -> None:
    with pytest.raises(RuntimeError, match="outside a graph node"):
        interrupt("x")


async def test_node_retry_policy_does_not_retry_an_interrupt(sync: bool) -> None:
    from tokentide.types import RetryPolicy

    calls: list[int] = []

    def ask(state: S) -> dict[str, Any]:
        calls.append(1)
        return {"answer": interrupt("?")}

    g = StateGraph(S).add_node("ask", ask, retry_policy=RetryPolicy(initial_interval=0))
    graph = g.add_edge(START, "ask").compile(checkpointer=MemorySaver())
    await run_invoke(graph, {"topic": "x"}, sync, _config())
    assert calls == [1]


def test_command_is_generic_and_the_builder_reads_its_destinations() -> None:
    def route(state: S) -> Command[Literal["yes", "no"]]:
        return Command(update={"log": ["route"]}, goto="yes")

    g = StateGraph(S).add_node(route).add_node("yes", lambda s: {"log": ["yes"]})
    g.add_node("no", lambda s: {"log": ["no"]}).add_edge(START, "route")
    assert g.nodes["route"].ends == ("yes", "no")
    graph = g.compile()
    assert graph.invoke({"topic": "x"})["log"] == ["route", "yes"]
    assert repr(Command(resume=1)) == "Command(resume=1)"
    assert END == "__end__"


async def test_interrupt_in_a_tool_run_by_tool_node(sync: bool) -> None:
    from tokentide.graph import MessagesState
    from tokentide.messages import AIMessage
    from tokentide.prebuilt import ToolNode

    @tool
    def wire(amount: int) -> str:
        """Send money."""
        ok = interrupt({"approve": amount})
        return "sent" if ok else "refused"

    g = StateGraph(MessagesState).add_node("tools", ToolNode([wire], handle_tool_errors=True))
    graph = g.add_edge(START, "tools").compile(checkpointer=MemorySaver())
    call: ToolCall = {"name": "wire", "args": {"amount": 5}, "id": "c1", "type": "tool_call"}
    config = _config()
    paused = await run_invoke(graph, {"messages": [AIMessage("", tool_calls=[call])]}, sync, config)
    assert paused["__interrupt__"][0].value == {"approve": 5}
    done = await run_invoke(graph, Command(resume=True), sync, config)
    assert done["messages"][-1].content == "sent"


def _line(**kw: Any) -> Any:
    def node(name: str) -> Any:
        return lambda state: {"log": [name]}

    g = StateGraph(S).add_node("x", node("x")).add_node("y", node("y")).add_node("z", node("z"))
    g.add_edge(START, "x").add_edge("x", "y").add_edge("y", "z")
    return g.compile(checkpointer=MemorySaver(), **kw)


async def test_interrupt_before_and_after_stop_and_continue(sync: bool) -> None:
    for kw, stopped in (({"interrupt_before": ["y"]}, ["x"]), ({"interrupt_after": "*"}, ["x"])):
        graph = _line(**kw)
        config = _config()
        items = await run_stream(graph, {"topic": "t"}, sync, config)
        assert items[-1] == {"__interrupt__": ()}
        result = await run_invoke(graph, None, sync, config)
        assert "__interrupt__" not in result
        assert result["log"][: len(stopped)] == stopped
    graph = _line()
    config = _config()
    first = await run_invoke(graph, {"topic": "t"}, sync, config)  # per run, not compiled
    assert first["log"] == ["x", "y", "z"]
    if sync:
        graph.invoke({"topic": "t"}, _config("b"), interrupt_before=["z"])
        assert graph.get_state(_config("b")).next == ("z",)
    else:
        await graph.ainvoke({"topic": "t"}, _config("b"), interrupt_before=["z"])
        assert (await graph.aget_state(_config("b"))).next == ("z",)


def test_interrupt_node_must_exist() -> None:
    with pytest.raises(ValueError, match="Interrupt node `nope` not found"):
        StateGraph(S).add_node("x", lambda s: {}).add_edge(START, "x").compile(
            interrupt_before=["nope"]
        )


async def test_update_state_then_resume(sync: bool) -> None:
    graph = _line(interrupt_before=["y"])
    config = _config()
    await run_invoke(graph, {"topic": "t"}, sync, config)
    if sync:
        new = graph.update_state(config, {"topic": "edited", "log": ["manual"]})
    else:
        new = await graph.aupdate_state(config, {"topic": "edited", "log": ["manual"]})
    assert new["configurable"]["checkpoint_id"]
    state = graph.get_state(config)
    assert state.values == {"topic": "edited", "log": ["x", "manual"]}
    assert state.next == ("y",)
    assert state.metadata == {"source": "update", "step": 2, "parents": {}}
    done = await run_invoke(graph, None, sync, config)
    assert done["log"] == ["x", "manual", "y", "z"]

    other = _config("as-node")
    await run_invoke(graph, {"topic": "t"}, sync, other)
    graph.update_state(other, {"log": ["as-y"]}, as_node="y")
    assert graph.get_state(other).next == ("z",)
    with pytest.raises(Exception, match="does not exist"):
        graph.update_state(other, {"log": ["?"]}, as_node="nope")


async def test_time_travel_replays_from_an_earlier_checkpoint(sync: bool) -> None:
    graph = _line()
    config = _config()
    await run_invoke(graph, {"topic": "t"}, sync, config)
    history = list(graph.get_state_history(config))
    assert [h.metadata["source"] for h in history] == ["loop", "loop", "loop", "loop", "input"]
    before_y = next(h for h in history if h.next == ("y",))
    replay = await run_stream(graph, None, sync, before_y.config, stream_mode="updates")
    assert replay == [{"y": {"log": ["y"]}}, {"z": {"log": ["z"]}}]
    sources = [h.metadata["source"] for h in graph.get_state_history(config)]
    assert sources[:3] == ["loop", "loop", "fork"]


async def test_resume_with_goto_and_update(sync: bool) -> None:
    def ask(state: S) -> dict[str, Any]:
        return {"log": ["ask:" + interrupt("go?")]}

    g = StateGraph(S).add_node("ask", ask).add_node("y", lambda s: {"log": ["y"]})
    g.add_node("z", lambda s: {"log": ["z"]}).add_edge(START, "ask").add_edge("ask", "y")
    graph = g.compile(checkpointer=MemorySaver())
    config = _config()
    await run_invoke(graph, {"topic": "t"}, sync, config)
    done = await run_invoke(
        graph, Command(resume="ok", goto="z", update={"topic": "u"}), sync, config
    )
    assert done == {"topic": "u", "log": ["ask:ok", "z", "y"]}


async def test_parallel_interrupts_resumed_by_id(sync: bool) -> None:
    def asker(name: str) -> Any:
        return lambda state: {"log": [f"{name}:{interrupt(name + '?')}"]}

    g = StateGraph(S).add_node("p1", asker("p1")).add_node("p2", asker("p2"))
    g.add_node("ok", lambda s: {"log": ["ok"]})
    for name in ("p1", "p2", "ok"):
        g.add_edge(START, name)
    graph = g.compile(checkpointer=MemorySaver())
    config = _config()
    paused = await run_invoke(graph, {"topic": "t"}, sync, config)
    assert sorted(i.value for i in paused["__interrupt__"]) == ["p1?", "p2?"]
    assert paused["log"] == ["ok"]
    with pytest.raises(RuntimeError, match="multiple pending interrupts"):
        await run_invoke(graph, Command(resume="x"), sync, config)
    by_value = {i.value: i.id for i in graph.get_state(config).interrupts}
    half = await run_invoke(graph, Command(resume={by_value["p1?"]: "A"}), sync, config)
    assert [i.value for i in half["__interrupt__"]] == ["p2?"]
    done = await run_invoke(graph, Command(resume={by_value["p2?"]: "B"}), sync, config)
    assert done["log"] == ["ok", "p1:A", "p2:B"]


async def test_interrupt_in_a_subgraph_resumes_the_subgraph_where_it_stopped(sync: bool) -> None:
    calls: list[str] = []

    def pre(state: S) -> dict[str, Any]:
        calls.append("pre")
        return {"log": ["pre"]}

    def ask(state: S) -> dict[str, Any]:
        calls.append("ask")
        return {"log": ["ask:" + interrupt("sub?")]}

    sub = StateGraph(S).add_node("pre", pre).add_node("ask", ask)
    sub.add_edge(START, "pre").add_edge("pre", "ask")
    g = StateGraph(S).add_node("sub", sub.compile()).add_node("after", lambda s: {"log": ["a"]})
    graph = g.add_edge(START, "sub").add_edge("sub", "after").compile(checkpointer=MemorySaver())
    config = _config()
    paused = await run_invoke(graph, {"topic": "t"}, sync, config)
    (found,) = paused["__interrupt__"]
    state = graph.get_state(config)
    assert state.next == ("sub",)
    assert state.tasks[0].state["configurable"]["checkpoint_ns"].startswith("sub:")
    assert state.interrupts == (found,)
    done = await run_invoke(graph, Command(resume={found.id: "yes"}), sync, config)
    assert done["log"] == ["pre", "ask:yes", "a"]
    assert calls == ["pre", "ask", "ask"]  # the subgraph's first node did not run again


async def test_command_parent_goes_to_a_node_of_the_parent_graph(sync: bool) -> None:
    def inner(state: S) -> Command[Literal["done"]]:
        return Command(graph=Command.PARENT, goto="done", update={"answer": "from inside"})

    sub = StateGraph(S).add_node("inner", inner).add_edge(START, "inner").compile()
    g = StateGraph(S).add_node("sub", sub).add_node("done", lambda s: {"log": ["done"]})
    graph = g.add_edge(START, "sub").compile()
    result = await run_invoke(graph, {"topic": "t"}, sync)
    assert result == {"topic": "t", "answer": "from inside", "log": ["done"]}

    alone = StateGraph(S).add_node("inner", inner).add_edge(START, "inner").compile()
    with pytest.raises(Exception, match="no parent graph"):
        await run_invoke(alone, {"topic": "t"}, sync)


def test_get_state_with_subgraphs_shows_the_paused_subgraph() -> None:
    def ask(state: S) -> dict[str, Any]:
        return {"log": ["ask:" + interrupt("sub?")]}

    sub = StateGraph(S).add_node("pre", lambda s: {"log": ["pre"]}).add_node("ask", ask)
    sub.add_edge(START, "pre").add_edge("pre", "ask")
    g = StateGraph(S).add_node("sub", sub.compile()).add_edge(START, "sub")
    graph = g.compile(checkpointer=MemorySaver())
    config = _config()
    graph.invoke({"topic": "t"}, config)
    (task,) = graph.get_state(config, subgraphs=True).tasks
    inner = task.state
    assert inner.next == ("ask",)
    assert inner.values["log"] == ["pre"]
    assert inner.interrupts[0].value == "sub?"
    assert inner.config["configurable"]["checkpoint_ns"] == f"sub:{task.id}"
    assert (
        graph.get_state(config).tasks[0].state["configurable"]["checkpoint_ns"] == f"sub:{task.id}"
    )
