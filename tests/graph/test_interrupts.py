"""``interrupt()`` / ``Command(resume=...)``: a node pauses, the thread keeps where it stopped,
the next run answers it (sync and async)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

import pytest

from tokentide.checkpoint import MemorySaver, SqliteSaver
from tokentide.graph import END, START, Command, Interrupt, StateGraph, interrupt
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


def _config(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
async def test_invoke_pauses_and_resumes(sync: bool, saver: str) -> None:
    graph = _graph(MemorySaver() if saver == "memory" else SqliteSaver(":memory:"))
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
    call = {"name": "wire", "args": {"amount": 5}, "id": "c1", "type": "tool_call"}
    config = _config()
    paused = await run_invoke(graph, {"messages": [AIMessage("", tool_calls=[call])]}, sync, config)
    assert paused["__interrupt__"][0].value == {"approve": 5}
    done = await run_invoke(graph, Command(resume=True), sync, config)
    assert done["messages"][-1].content == "sent"
