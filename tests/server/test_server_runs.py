"""The runs API: SSE streams with ids and event names, resume with ``Last-Event-ID``, cancel,
status/output/usage, ``on_disconnect``, error events, heartbeats, headers and bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fakes.live_server import LiveServer, live_server
from fakes.waiting import async_wait_until
from tokentide.graph import START, MessagesState, StateGraph, get_stream_writer
from tokentide.models import FakeChatModel
from tokentide.server import TokentideApp, create_app
from tokentide.wire import SSEDecoder

from .run_events import run_events

pytestmark = pytest.mark.timeout(60)

WORDS = [f"w{i} " for i in range(40)]
TEXT = "".join(WORDS)
USER = [{"role": "user", "content": "hi"}]


def _graph() -> Any:
    model = FakeChatModel([list(WORDS)])

    async def chat(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"progress": "thinking"})
        return {"messages": [await model.ainvoke(state["messages"])]}

    return StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()


def _app(**options: Any) -> TokentideApp:
    return create_app(
        models={
            "fast": FakeChatModel([list(WORDS)]),
            "slow": FakeChatModel([list(WORDS)], delay=0.03),
            "broken": FakeChatModel([list(WORDS)], error_after=5, delay=0.001),
        },
        graphs={"graph": _graph()},
        **options,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(_app(heartbeat=0.05)) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        yield client


@pytest.fixture
def sync_http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


def _text(events: list[dict[str, Any]]) -> str:
    return "".join(e["data"][0]["content"] for e in events if e["event"] == "messages")


async def _start(http: httpx.AsyncClient, **body: Any) -> tuple[str, list[dict[str, Any]]]:
    res = await http.post("/v1/runs", json=body)
    assert res.status_code == 200, res.text
    return res.headers["x-run-id"], run_events(res.content)


# ---------------------------------------------------------------------- streams


@pytest.mark.parametrize("sync", [True, False])
async def test_model_run_streams_ids_and_events(
    http: httpx.AsyncClient, sync_http: httpx.Client, sync: bool
) -> None:
    body = {"assistant": "fast", "input": USER}
    if sync:
        res = await asyncio.to_thread(sync_http.post, "/v1/runs", json=body)
    else:
        res = await http.post("/v1/runs", json=body)
    assert res.status_code == 200
    run_id = res.headers["x-run-id"]
    assert res.headers["content-location"] == f"/v1/runs/{run_id}"
    assert res.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert res.headers["cache-control"] == "no-cache"
    assert res.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in res.headers
    events = run_events(res.content)
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "metadata" and events[0]["data"]["run_id"] == run_id
    assert events[-1]["event"] == "end" and events[-1]["data"]["status"] == "success"
    assert {e["event"] for e in events[1:-1]} == {"messages"}
    assert _text(events) == TEXT
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["status"] == "success"
    assert record["output"] == {"role": "assistant", "content": TEXT}
    assert record["usage"]["output_tokens"] == len(WORDS)


async def test_graph_run_modes(http: httpx.AsyncClient) -> None:
    run_id, events = await _start(
        http,
        assistant="graph",
        input={"messages": USER},
        stream_mode=["messages", "values", "updates", "custom"],
    )
    kinds = [e["event"] for e in events]
    assert {"metadata", "messages", "values", "updates", "custom", "end"} <= set(kinds)
    assert _text(events) == TEXT
    custom = [e["data"] for e in events if e["event"] == "custom"]
    assert custom == [{"progress": "thinking"}]
    final = [e["data"] for e in events if e["event"] == "values"][-1]
    assert final["messages"][-1]["content"] == TEXT
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["output"]["messages"][-1]["content"] == TEXT
    assert record["usage"]["output_tokens"] == len(WORDS)


async def test_graph_default_mode_is_values(http: httpx.AsyncClient) -> None:
    _, events = await _start(http, assistant="graph", input={"messages": USER})
    assert {e["event"] for e in events} == {"metadata", "values", "end"}


async def test_background_run_without_stream(http: httpx.AsyncClient) -> None:
    res = await http.post("/v1/runs", json={"assistant": "slow", "input": USER, "stream": False})
    assert res.status_code == 201
    run_id = res.json()["run_id"]
    stream = await http.get(f"/v1/runs/{run_id}/stream")
    assert _text(run_events(stream.content)) == TEXT


# ---------------------------------------------------------------------- resume


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resume_with_last_event_id_is_byte_identical(
    http: httpx.AsyncClient, how: str
) -> None:
    body = {"assistant": "slow", "input": USER, "on_disconnect": "continue"}
    first: list[bytes] = []
    last_id = ""
    async with http.stream("POST", "/v1/runs", json=body) as res:
        run_id = res.headers["x-run-id"]
        decoder = SSEDecoder()
        async for raw in res.aiter_raw():
            for sse in decoder.feed(raw):
                if sse.event == "messages":
                    first.append(json.loads(sse.data)[0]["content"].encode())
                last_id = sse.id or last_id
            if len(first) >= 10:
                break  # the client goes away mid-stream
    headers = {"Last-Event-ID": last_id} if how == "header" else {}
    params = {"last_event_id": last_id} if how == "query" else {}
    res = await http.get(f"/v1/runs/{run_id}/stream", headers=headers, params=params)
    rest = run_events(res.content)
    assert int(rest[0]["id"]) == int(last_id) + 1
    assert b"".join(first) + _text(rest).encode() == TEXT.encode()
    assert rest[-1]["event"] == "end"


async def test_join_from_the_start_and_after_the_end(http: httpx.AsyncClient) -> None:
    run_id, events = await _start(http, assistant="fast", input=USER)
    again = run_events((await http.get(f"/v1/runs/{run_id}/stream")).content)
    assert again == events
    tail = await http.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": events[-1]["id"]})
    assert tail.status_code == 200 and tail.content == b""


async def test_several_live_readers(http: httpx.AsyncClient) -> None:
    res = await http.post("/v1/runs", json={"assistant": "slow", "input": USER, "stream": False})
    run_id = res.json()["run_id"]
    readers = [http.get(f"/v1/runs/{run_id}/stream") for _ in range(3)]
    for res in await asyncio.gather(*readers):
        assert _text(run_events(res.content)) == TEXT


# ---------------------------------------------------------------------- cancel


@pytest.mark.parametrize("sync", [True, False])
async def test_cancel_keeps_partial_output_and_usage(
    http: httpx.AsyncClient, sync_http: httpx.Client, sync: bool
) -> None:
    res = await http.post("/v1/runs", json={"assistant": "slow", "input": USER, "stream": False})
    run_id = res.json()["run_id"]
    async with http.stream("GET", f"/v1/runs/{run_id}/stream") as joined:
        async for line in joined.aiter_lines():
            if line == "event: messages":  # the run has produced its first chunk
                break
    url = f"/v1/runs/{run_id}/cancel"
    res = await asyncio.to_thread(sync_http.post, url) if sync else await http.post(url)
    assert res.status_code == 200
    record = res.json()
    assert record["status"] == "cancelled"
    content = record["output"]["content"]
    assert content and TEXT.startswith(content) and content != TEXT
    produced = len(content.split())
    assert record["usage"]["output_tokens"] == produced
    events = run_events((await http.get(f"/v1/runs/{run_id}/stream")).content)
    assert events[-1]["event"] == "end" and events[-1]["data"]["status"] == "cancelled"
    assert _text(events) == content
    again = await http.post(url)  # idempotent
    assert again.json()["status"] == "cancelled"


async def test_on_disconnect_cancel_and_continue(http: httpx.AsyncClient) -> None:
    ids = {}
    for mode in ("cancel", "continue"):
        body = {"assistant": "slow", "input": USER, "on_disconnect": mode}
        async with http.stream("POST", "/v1/runs", json=body) as res:
            ids[mode] = res.headers["x-run-id"]
            async for _ in res.aiter_raw():
                break
    await async_wait_until(lambda: _status(http, ids["cancel"]), is_="cancelled", interval=0.02)
    events = run_events((await http.get(f"/v1/runs/{ids['continue']}/stream")).content)
    assert _text(events) == TEXT and events[-1]["data"]["status"] == "success"


async def test_join_stream_can_cancel_on_disconnect(http: httpx.AsyncClient) -> None:
    res = await http.post("/v1/runs", json={"assistant": "slow", "input": USER, "stream": False})
    run_id = res.json()["run_id"]
    url = f"/v1/runs/{run_id}/stream?on_disconnect=cancel"
    async with http.stream("GET", url) as res:
        async for _ in res.aiter_raw():
            break
    await async_wait_until(lambda: _status(http, run_id), is_="cancelled", interval=0.02)


async def _status(http: httpx.AsyncClient, run_id: str) -> str:
    return str((await http.get(f"/v1/runs/{run_id}")).json()["status"])


# ---------------------------------------------------------------------- errors


async def test_error_event_carries_partial_output(http: httpx.AsyncClient) -> None:
    run_id, events = await _start(http, assistant="broken", input=USER)
    assert events[-1]["event"] == "error"
    assert "end" not in [e["event"] for e in events]
    error = events[-1]["data"]
    assert error["type"] == "StreamInterrupted" and error["retryable"] is True
    assert error["partial"]["content"] == "".join(WORDS[:5]) == _text(events)
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["status"] == "error" and record["error"] == error
    assert record["output"]["content"] == "".join(WORDS[:5])
    assert record["usage"]["output_tokens"] == 5


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"input": USER}, 400, "'assistant' is required"),
        ({"assistant": "nope", "input": USER}, 404, "no assistant named 'nope'"),
        ({"assistant": "fast"}, 400, "'input' is required"),
        ({"assistant": "fast", "input": 3}, 400, "invalid 'input'"),
        ({"assistant": "fast", "input": USER, "stream_mode": ["values"]}, 400, "not available"),
        ({"assistant": "graph", "input": {}, "stream_mode": ["debug"]}, 400, "not available"),
        ({"assistant": "graph", "input": {}, "stream_mode": []}, 400, "'stream_mode' must"),
        ({"assistant": "fast", "input": USER, "on_disconnect": "x"}, 400, "'on_disconnect'"),
        (
            {"assistant": "fast", "input": USER, "config": {"callbacks": []}},
            400,
            "unknown 'config'",
        ),
        ({"assistant": "fast", "input": USER, "config": 1}, 400, "'config' must be an object"),
        *[
            (
                {"assistant": "fast", "input": USER, "config": {key: value}},
                400,
                f"'config.{key}' must be",
            )
            for key, value in [
                ("tags", "web"),
                ("tags", [1]),
                ("metadata", ["x"]),
                ("configurable", "thread-1"),
                ("recursion_limit", "25"),
                ("recursion_limit", True),
                ("recursion_limit", 0),
                ("run_name", 5),
            ]
        ],
        ([1, 2], 400, "must be a JSON object"),
    ],
)
async def test_bad_run_requests(
    http: httpx.AsyncClient, body: Any, status: int, needle: str
) -> None:
    res = await http.post("/v1/runs", json=body)
    assert res.status_code == status
    error = res.json()["error"]
    assert needle in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


async def test_unknown_runs_and_bad_last_event_id(http: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/v1/runs/run_x"),
        ("GET", "/v1/runs/run_x/stream"),
        ("POST", "/v1/runs/run_x/cancel"),
    ]:
        res = await http.request(method, url)
        assert res.status_code == 404 and res.json()["error"]["code"] == "run_not_found"
    run_id, _ = await _start(http, assistant="fast", input=USER)
    for bad in ("abc", "-1"):
        res = await http.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": bad})
        assert res.status_code == 400 and "Last-Event-ID" in res.json()["error"]["message"]
    res = await http.get(f"/v1/runs/{run_id}/stream?on_disconnect=maybe")
    assert res.status_code == 400
    assert (await http.delete(f"/v1/runs/{run_id}")).status_code == 405


async def test_trimmed_events_give_an_error_event() -> None:
    from tokentide.server import MemoryStreamStore

    app = create_app(
        models={"fast": FakeChatModel([list(WORDS)])}, store=MemoryStreamStore(max_events=5)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        run_id, _ = await _start(http, assistant="fast", input=USER)
        events = run_events((await http.get(f"/v1/runs/{run_id}/stream")).content)
    assert events == [
        {
            "event": "error",
            "id": None,
            "data": {
                "type": "EventsExpired",
                "message": events[0]["data"]["message"],
                "retryable": False,
                "partial": None,
            },
        }
    ]


# ---------------------------------------------------------------------- heartbeats


async def test_heartbeat_comments_while_quiet(server: LiveServer) -> None:
    app = create_app(models={"pause": FakeChatModel([["a", "b"]], delay=0.3)}, heartbeat=0.05)
    with live_server(app) as live:
        async with httpx.AsyncClient(base_url=live.url) as http:
            body = {"assistant": "pause", "input": USER}
            res = await http.post("/v1/runs", json=body)
            chat = await http.post(
                "/v1/chat/completions", json={"model": "pause", "messages": USER, "stream": True}
            )
    assert res.content.count(b": ping\n\n") >= 3
    assert _text(run_events(res.content.replace(b": ping\n\n", b""))) == "ab"
    assert chat.content.count(b": ping\n\n") >= 2  # after the first token


async def test_last_event_id_past_the_end_is_a_400(http: httpx.AsyncClient) -> None:
    run_id, events = await _start(http, assistant="fast", input=USER)
    last = int(events[-1]["id"])
    for after in (last + 1, last + 1000):
        res = await http.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(after)})
        assert res.status_code == 400
        assert res.headers["content-type"] == "application/json"
        error = res.json()["error"]
        assert error["code"] == "last_event_id_out_of_range"
        assert error["param"] == "last_event_id"
        assert f"(id {last})" in error["message"]
    at_end = await http.get(f"/v1/runs/{run_id}/stream", params={"last_event_id": str(last)})
    assert at_end.status_code == 200 and at_end.content == b""


async def test_last_event_id_past_the_live_end_is_a_400(http: httpx.AsyncClient) -> None:
    res = await http.post(
        "/v1/runs",
        json={"assistant": "slow", "input": USER, "stream": False, "on_disconnect": "continue"},
    )
    run_id = res.json()["run_id"]
    ahead = await http.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": "1000"})
    assert ahead.status_code == 400
    assert ahead.json()["error"]["code"] == "last_event_id_out_of_range"
    rest = run_events((await http.get(f"/v1/runs/{run_id}/stream")).content)
    assert rest[-1]["event"] == "end"
