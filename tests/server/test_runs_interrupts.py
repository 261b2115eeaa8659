"""Runs that pause: an agent with an approval-gated tool ends its run ``interrupted`` with an
``interrupt`` event, and a run on the same thread with ``command: {"resume": ...}`` continues
it (approve, reject), with the memory store and with a real Redis store; a plain
``interrupt()`` graph is answered with a plain value; bad thread / command bodies get 400."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fakes.live_server import LiveServer, live_server
from fakes.redis_server import RedisServer
from tokentide.agents import create_agent
from tokentide.agents.middleware import HumanInTheLoopMiddleware
from tokentide.checkpoint import InMemorySaver
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage, ToolCall
from tokentide.models import FakeChatModel
from tokentide.server import create_app
from tokentide.server._redis_store import RedisStreamStore
from tokentide.wire import SSEDecoder

from .asking_graph import asking_graph

pytestmark = pytest.mark.timeout(60)

USER = {"messages": [{"role": "user", "content": "Email bob."}]}
CALL: ToolCall = {"name": "send_email", "args": {"to": "bob", "body": "hi"}, "id": "c1"}


def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


def _agent() -> Any:
    model = FakeChatModel([AIMessage("Let me send it.", tool_calls=[CALL]), "Done, Bob has it."])
    gate = HumanInTheLoopMiddleware(interrupt_on={"send_email": True})
    return create_agent(model, [send_email], middleware=[gate], checkpointer=InMemorySaver())


def _asking_graph() -> Any:
    return asking_graph(lambda answer: f"Going to {answer}.")


@pytest.fixture(params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    store = None
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        store = RedisStreamStore(redis.url, prefix=f"t{uuid.uuid4().hex[:8]}", block_ms=200)
    graphs = {"agent": _agent(), "ask": _asking_graph(), "plain": _plain_graph()}
    app = create_app(models={"model": FakeChatModel(["hi"])}, graphs=graphs, store=store)
    with live_server(app) as live:
        yield live


def _plain_graph() -> Any:
    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("hello")]}

    return StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        yield client


def _events(body: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    return [
        {"event": sse.event, "data": json.loads(sse.data)}
        for sse in [*decoder.feed(body), *decoder.flush()]
    ]


async def _run(http: httpx.AsyncClient, **body: Any) -> tuple[str, list[dict[str, Any]]]:
    res = await http.post("/v1/runs", json=body)
    assert res.status_code == 200, res.text
    return res.headers["x-run-id"], _events(res.content)


def _messages(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"][0] for e in events if e["event"] == "messages"]


async def _pause(http: httpx.AsyncClient) -> tuple[str, str]:
    run_id, events = await _run(http, assistant="agent", input=USER, stream_mode=["messages"])
    thread_id = events[0]["data"]["thread_id"]
    assert thread_id.startswith("thread_")
    assert [e["event"] for e in events[-2:]] == ["interrupt", "end"]
    paused = events[-2]["data"]
    assert paused["run_id"] == run_id and paused["thread_id"] == thread_id
    [interrupt] = paused["interrupts"]
    assert interrupt["id"]
    assert interrupt["value"] == {
        "action_requests": [
            {
                "name": "send_email",
                "args": {"to": "bob", "body": "hi"},
                "description": "Tool execution requires approval\n\nTool: send_email\n"
                "Args: {'to': 'bob', 'body': 'hi'}",
            }
        ],
        "review_configs": [
            {
                "action_name": "send_email",
                "allowed_decisions": ["approve", "edit", "reject", "respond"],
            }
        ],
    }
    assert events[-1]["data"]["status"] == "interrupted"
    assert "".join(m["content"] for m in _messages(events)) == "Let me send it."
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["status"] == "interrupted"
    assert record["thread_id"] == thread_id
    assert record["interrupts"] == paused["interrupts"]
    # A paused run is over: cancelling it changes nothing.
    cancelled = (await http.post(f"/v1/runs/{run_id}/cancel")).json()
    assert cancelled["status"] == "interrupted"
    return run_id, thread_id


async def test_approve_continues_the_thread(http: httpx.AsyncClient) -> None:
    first, thread_id = await _pause(http)
    resume = {"decisions": [{"type": "approve"}]}
    run_id, events = await _run(
        http,
        assistant="agent",
        thread_id=thread_id,
        command={"resume": resume},
        stream_mode=["messages", "updates"],
    )
    assert run_id != first
    assert events[0]["data"]["thread_id"] == thread_id
    assert events[-1] == {
        "event": "end",
        "data": {"run_id": run_id, "status": "success", "usage": events[-1]["data"]["usage"]},
    }
    assert "interrupt" not in [e["event"] for e in events]
    tools = [m for m in _messages(events) if m["type"] == "tool"]
    assert [(t["content"], t["status"]) for t in tools] == [("sent to bob", "success")]
    text = "".join(m["content"] for m in _messages(events) if m["type"] == "AIMessageChunk")
    assert text == "Done, Bob has it."
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["status"] == "success" and record["interrupts"] is None
    kinds = [m["type"] for m in record["output"]["messages"]]
    assert kinds == ["human", "ai", "tool", "ai"]


async def test_reject_becomes_an_error_tool_message(http: httpx.AsyncClient) -> None:
    _, thread_id = await _pause(http)
    resume = {"decisions": [{"type": "reject", "message": "not now"}]}
    _, events = await _run(http, assistant="agent", thread_id=thread_id, command={"resume": resume})
    final = events[-2]["data"]  # the last `values` item, before `end`
    assert events[-1]["data"]["status"] == "success"
    tool = final["messages"][2]
    assert tool["type"] == "tool" and tool["status"] == "error"
    assert tool["content"] == "User rejected the tool call for `send_email` with reason: not now"
    assert final["messages"][-1]["content"] == "Done, Bob has it."


async def test_the_thread_may_be_named_in_the_config(http: httpx.AsyncClient) -> None:
    """As LangGraph: ``config.configurable.thread_id`` names the run's thread."""
    config = {"configurable": {"thread_id": "from-config"}}
    _, events = await _run(http, assistant="ask", input=USER, config=config)
    paused = events[-2]["data"]
    assert paused["thread_id"] == "from-config" and events[0]["data"]["thread_id"] == "from-config"
    _, events = await _run(http, assistant="ask", command={"resume": "Rome"}, config=config)
    assert events[-1]["data"]["status"] == "success"
    assert events[-2]["data"]["messages"][-1]["content"] == "Going to Rome."


async def test_a_plain_interrupt_is_answered_with_a_value(http: httpx.AsyncClient) -> None:
    _, events = await _run(http, assistant="ask", input=USER)
    paused = events[-2]["data"]
    assert paused["interrupts"][0]["value"] == {"question": "Which city?"}
    _, events = await _run(
        http, assistant="ask", thread_id=paused["thread_id"], command={"resume": "Paris"}
    )
    assert events[-1]["data"]["status"] == "success"
    assert events[-2]["data"]["messages"][-1]["content"] == "Going to Paris."


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"assistant": "agent", "command": {"resume": 1}}, "thread_id", "give its 'thread_id'"),
        (
            {"assistant": "agent", "thread_id": "t", "input": USER, "command": {"resume": 1}},
            "command",
            "not both",
        ),
        ({"assistant": "agent", "thread_id": "t", "command": {"nope": 1}}, "command", "'resume'"),
        ({"assistant": "agent", "thread_id": "t", "command": "go"}, "command", "'resume'"),
        ({"assistant": "agent", "thread_id": 3, "input": USER}, "thread_id", "non-empty string"),
        ({"assistant": "model", "thread_id": "t", "input": USER}, "thread_id", "keeps no threads"),
        ({"assistant": "plain", "thread_id": "t", "input": USER}, "thread_id", "checkpointer"),
        (
            {"assistant": "agent", "input": USER, "config": {"configurable": {"thread_id": 7}}},
            "config",
            "non-empty string",
        ),
        (
            {
                "assistant": "agent",
                "thread_id": "a",
                "input": USER,
                "config": {"configurable": {"thread_id": "b"}},
            },
            "thread_id",
            "name different threads",
        ),
    ],
)
async def test_bad_thread_and_command_bodies(
    http: httpx.AsyncClient, body: dict[str, Any], param: str, says: str
) -> None:
    res = await http.post("/v1/runs", json=body)
    assert res.status_code == 400, res.text
    error = res.json()["error"]
    assert error["param"] == param and says in error["message"]
