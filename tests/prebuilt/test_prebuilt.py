"""`ToolNode`, `tools_condition`, `create_react_agent`, `create_agent`: behaviour of our own
(the item-by-item comparison with LangGraph is in ``tests/agents/test_agent_differential.py``)."""

# No `from __future__ import annotations`: tools annotate with local names.
import asyncio
import threading
import time
from typing import Annotated, Any

import pytest

from tokentide.agents import create_agent
from tokentide.graph import END, START, MessagesState, StateGraph
from tokentide.messages import AIMessage, HumanMessage, ToolMessage
from tokentide.models import FakeChatModel
from tokentide.prebuilt import (
    InjectedState,
    ToolNode,
    ToolRuntime,
    create_react_agent,
    tools_condition,
)
from tokentide.tools import tool


def calls(*pairs: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"name": n, "args": a, "id": f"call_{i}", "type": "tool_call"}
            for i, (n, a) in enumerate(pairs)
        ],
    )


@tool
def get_weather(city: str) -> str:
    """Get weather for a given city."""
    return f"It's always sunny in {city}!"


def test_langgraph_quickstart_ported_by_imports() -> None:
    """LangGraph's agent quick start, with ``langgraph.prebuilt`` replaced by
    ``tokentide.prebuilt`` and the hosted model by the scripted one."""

    def get_weather(city: str) -> str:
        """Get weather for a given city."""
        return f"It's always sunny in {city}!"

    model = FakeChatModel(
        [
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "sf"}, "id": "c1"}]),
            "It's always sunny in San Francisco!",
        ]
    )
    agent = create_react_agent(
        model=model,
        tools=[get_weather],
        prompt="You are a helpful assistant",
    )
    result = agent.invoke({"messages": [{"role": "user", "content": "what is the weather in sf"}]})
    kinds = [(m.type, m.content) for m in result["messages"]]
    assert kinds == [
        ("human", "what is the weather in sf"),
        ("ai", ""),
        ("tool", "It's always sunny in sf!"),
        ("ai", "It's always sunny in San Francisco!"),
    ]
    assert list(agent.nodes) == ["agent", "tools"]


def test_langchain_quickstart_ported_by_imports() -> None:
    model = FakeChatModel(
        [
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "sf"}, "id": "c1"}]),
            "Sunny.",
        ]
    )
    agent = create_agent(
        model=model, tools=[get_weather], system_prompt="You are a helpful assistant"
    )
    result = agent.invoke({"messages": [{"role": "user", "content": "what is the weather in sf"}]})
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
    assert list(agent.nodes) == ["model", "tools"]


def test_tool_node_runs_calls_in_parallel_and_answers_in_call_order() -> None:
    running: list[str] = []
    both = threading.Barrier(2, timeout=30)

    @tool
    def slow(name: str) -> str:
        """Wait for the other call, then answer."""
        running.append(name)
        both.wait()  # deadlocks unless the two calls run at the same time
        if name == "first":
            time.sleep(0.05)
        return name

    node = ToolNode([slow])
    out = node.invoke({"messages": [calls(("slow", {"name": "first"}), ("slow", {"name": "2nd"}))]})
    assert [(m.content, m.tool_call_id) for m in out["messages"]] == [
        ("first", "call_0"),
        ("2nd", "call_1"),
    ]


async def test_tool_node_async_runs_calls_concurrently() -> None:
    started = asyncio.Event()

    @tool
    async def waiter(x: int) -> int:
        """Wait for the other call."""
        if x == 0:
            await asyncio.wait_for(started.wait(), 30)
        else:
            started.set()
        return x

    node = ToolNode([waiter])
    out = await node.ainvoke([calls(("waiter", {"x": 0}), ("waiter", {"x": 1}))])
    assert [m.content for m in out] == ["0", "1"]  # a list in, a list out


def test_injected_state_and_runtime() -> None:
    @tool
    def count(
        state: Annotated[dict[str, Any], InjectedState],
        messages: Annotated[list[Any], InjectedState("messages")],
        runtime: ToolRuntime,
    ) -> str:
        """Count the messages."""
        return f"{len(state['messages'])}/{len(messages)}/{runtime.tool_call_id}"

    assert count.args == {}
    node = ToolNode([count])
    out = node.invoke({"messages": [HumanMessage("hi"), calls(("count", {}))]})
    assert out["messages"][0].content == "2/2/call_0"


@pytest.mark.parametrize(
    ("handling", "expected"),
    [
        (True, "Error: ValueError('bad')\n Please fix your mistakes."),
        ("custom text", "custom text"),
        (lambda e: f"caught {e}", "caught bad"),
        (ValueError, "Error: ValueError('bad')\n Please fix your mistakes."),
    ],
)
def test_handle_tool_errors(handling: Any, expected: str) -> None:
    @tool
    def bad(x: int) -> int:
        """Fails."""
        raise ValueError("bad")

    out = ToolNode([bad], handle_tool_errors=handling).invoke([calls(("bad", {"x": 1}))])
    assert (out[0].content, out[0].status, out[0].name) == (expected, "error", "bad")


def test_default_error_handling_as_langgraph() -> None:
    @tool
    def bad(x: int) -> int:
        """Fails."""
        raise ValueError("bad")

    node = ToolNode([bad])
    with pytest.raises(ValueError, match="bad"):
        node.invoke([calls(("bad", {"x": 1}))])
    out = node.invoke([calls(("bad", {"y": 1}))])  # bad arguments: a message for the model
    assert out[0].content == (
        "Error invoking tool 'bad' with kwargs {'y': 1} with error:\n"
        " x: Field required\n"
        " Please fix the error and try again."
    )
    with pytest.raises(ValueError, match="bad"):  # a handler typed for other errors
        ToolNode([bad], handle_tool_errors=_only_key_errors).invoke([calls(("bad", {"x": 1}))])


def _only_key_errors(e: KeyError) -> str:
    return "key"


def test_tools_condition() -> None:
    assert tools_condition({"messages": [calls(("f", {}))]}) == "tools"
    assert tools_condition({"messages": [AIMessage("done")]}) == END
    assert tools_condition([calls(("f", {}))]) == "tools"
    with pytest.raises(ValueError, match="No messages found"):
        tools_condition({"messages": []})


def test_hand_built_graph_with_tool_node_and_tools_condition() -> None:
    model = FakeChatModel([calls(("get_weather", {"city": "Paris"})), "Sunny in Paris."])
    bound = model.bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    g = (
        StateGraph(MessagesState)
        .add_node("agent", agent)
        .add_node("tools", ToolNode([get_weather]))
    )
    g.add_edge(START, "agent").add_conditional_edges("agent", tools_condition)
    graph = g.add_edge("tools", "agent").compile()
    out = graph.invoke({"messages": [("user", "weather?")]})
    assert [m.type for m in out["messages"]] == ["human", "ai", "tool", "ai"]
    assert out["messages"][2].content == "It's always sunny in Paris!"


def test_create_agent_refuses_middleware_clearly() -> None:
    class Summarize:
        pass

    with pytest.raises(TypeError, match="Summarize is not supported"):
        create_agent(FakeChatModel(["hi"]), [get_weather], middleware=[Summarize()])
    assert create_agent(FakeChatModel(["hi"]), [get_weather], middleware=()) is not None


def test_create_agent_structured_response() -> None:
    schema = {
        "title": "Weather",
        "type": "object",
        "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
        "required": ["city", "sky"],
    }
    model = FakeChatModel(
        [
            calls(("get_weather", {"city": "sf"})),
            AIMessage(
                "",
                tool_calls=[
                    {"name": "Weather", "args": {"city": "sf", "sky": "clear"}, "id": "w1"}
                ],
            ),
        ]
    )
    agent = create_agent(model, [get_weather], response_format=schema)
    out = agent.invoke({"messages": [("user", "weather?")]})
    assert out["structured_response"] == {"city": "sf", "sky": "clear"}
    assert out["messages"][-1].type == "tool"
    assert out["messages"][-1].content.startswith("Returning structured response:")


async def test_messages_mode_streams_tool_arguments_as_they_arrive() -> None:
    """langchain #31620: the tool-call argument pieces stream in ``messages`` mode, and each
    ToolMessage appears once."""
    model = FakeChatModel([calls(("get_weather", {"city": "San Francisco"})), "Sunny."])
    agent = create_react_agent(model, [get_weather])
    pieces: list[Any] = []
    tool_messages: list[Any] = []
    async for chunk, _meta in agent.astream(
        {"messages": [("user", "weather?")]}, stream_mode="messages"
    ):
        if isinstance(chunk, ToolMessage):
            tool_messages.append(chunk)
        elif chunk.tool_call_chunks:
            pieces.extend(c["args"] for c in chunk.tool_call_chunks)
    assert len(pieces) > 3 and "".join(pieces) == '{"city": "San Francisco"}'
    assert len(tool_messages) == 1


def test_streamed_tool_output_reaches_the_tools_mode_as_it_is_produced() -> None:
    gate = threading.Semaphore(0)

    @tool
    def ticker(n: int) -> Any:
        """Tick n times."""
        for i in range(n):
            yield f"tick {i}"
            assert gate.acquire(timeout=30)  # the next piece only after the consumer saw this

    model = FakeChatModel([calls(("ticker", {"n": 3})), "Done."])
    agent = create_agent(model, [ticker])
    deltas = []
    for item in agent.stream({"messages": [("user", "go")]}, stream_mode="tools"):
        if item["event"] == "tool-output-delta":
            deltas.append(item["delta"])
            gate.release()
    assert deltas == ["tick 0", "tick 1", "tick 2"]


def test_create_react_agent_response_format() -> None:
    schema = {
        "title": "Weather",
        "type": "object",
        "properties": {"sky": {"type": "string"}},
        "required": ["sky"],
    }
    model = FakeChatModel(
        [calls(("get_weather", {"city": "sf"})), "It is sunny.", '{"sky": "clear"}']
    )
    agent = create_react_agent(model, [get_weather], response_format=schema)
    out = agent.invoke({"messages": [("user", "weather?")]})
    assert out["structured_response"] == {"sky": "clear"}
    assert list(agent.nodes) == ["agent", "tools", "generate_structured_response"]
