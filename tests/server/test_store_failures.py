"""The runs API on a real ``redis-server`` that misbehaves: a run silent for longer than
redis-py's default socket timeout (5 s, the same as ``XREAD BLOCK``) while Redis stalls for
0.8 s around the 5 s mark (SIGSTOP; a reply due then comes late), Redis killed with SIGKILL in
the middle of a run and started again, and a server started while Redis is down.

What must hold: a silent run delivers its later events and ends with ``end``; while Redis is
away every runs endpoint answers ``503`` with an OpenAI-shaped JSON error and ``Retry-After``,
a live stream ends with an ``error`` event (never a silent cut), no task dies unobserved and
the ASGI server logs no exception; once Redis is back, the very first request works.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from fakes.live_server import LiveServer, live_server
from fakes.redis_server import RedisServer, restartable_redis_server, running_redis_server
from tokentide.graph import START, MessagesState, StateGraph, get_stream_writer
from tokentide.models import FakeChatModel
from tokentide.server import (
    TERMINAL_STATUSES,
    MemoryStreamStore,
    RunRecord,
    StoreUnavailable,
    TokentideApp,
    create_app,
)
from tokentide.server._assistants import build_assistants
from tokentide.server._redis_store import RedisStreamStore
from tokentide.server._runs import RunManager, parse_run_request

from .run_events import run_events

pytestmark = pytest.mark.timeout(120)

WORDS = [f"w{i} " for i in range(100)]
USER = [{"role": "user", "content": "hi"}]
SILENCE = 6.5  # seconds: longer than redis-py's default socket timeout (5 s)


def _pausing_graph(seconds: float) -> Any:
    async def pause(state: MessagesState) -> dict[str, Any]:
        write = get_stream_writer()
        write({"step": "before"})
        await asyncio.sleep(seconds)
        write({"step": "after"})
        return {"messages": []}

    return StateGraph(MessagesState).add_node(pause).add_edge(START, "pause").compile()


def _prefix() -> str:
    return f"f{uuid.uuid4().hex[:8]}"


class _Problems(logging.Handler):
    """Collects what must never happen: exceptions logged by the ASGI server, and tasks
    that died with nobody looking at their exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.seen.append(str(context.get("message")))


@pytest.fixture
def problems() -> Iterator[_Problems]:
    handler = _Problems()
    loggers = [logging.getLogger("uvicorn.error"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _watch(server: LiveServer, problems: _Problems) -> None:
    assert server.loop is not None
    server.loop.call_soon_threadsafe(server.loop.set_exception_handler, problems.loop_handler)


async def _collect_garbage() -> None:
    gc.collect()  # a task that died unobserved reports it when collected


async def _wait_for(condition: Any, timeout: float = 40.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _pause_redis(redis: RedisServer, raw: aioredis.Redis, after: float) -> int:
    """Freeze Redis (SIGSTOP) from ``after`` s to ``after + 0.8`` s from now, so that a reply
    due at 5 s comes late; return the connections Redis accepted meanwhile (a client whose
    socket timed out reconnects)."""
    await asyncio.sleep(after)
    before = int((await raw.info("stats"))["total_connections_received"])
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(0.8)
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    await asyncio.sleep(0.5)
    return int((await raw.info("stats"))["total_connections_received"]) - before


async def test_a_run_silent_longer_than_the_socket_timeout_ends_normally(
    problems: _Problems,
) -> None:
    with running_redis_server() as redis:
        store = RedisStreamStore(redis.url, prefix=_prefix())
        assert store.block_ms == 5000  # the real default: readers block 5 s per XREAD
        raw = aioredis.Redis.from_url(redis.url)
        app = create_app(graphs={"pause": _pausing_graph(SILENCE)}, store=store)
        with live_server(app) as server:
            _watch(server, problems)
            body = {"assistant": "pause", "input": {"messages": USER}, "stream_mode": "custom"}
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                async with http.stream("POST", "/v1/runs", json=body) as response:
                    assert response.status_code == 200
                    run_id = response.headers["x-run-id"]
                    follower = asyncio.create_task(http.get(f"/v1/runs/{run_id}/stream"))
                    started = b""
                    pause: asyncio.Task[int] | None = None
                    async for piece in response.aiter_bytes():
                        started += piece
                        if pause is None and b'"before"' in started:
                            # Readers now block in XREAD for 5 s; Redis stalls around then.
                            pause = asyncio.create_task(_pause_redis(redis, raw, after=4.5))
                followed = await follower
                record = (await http.get(f"/v1/runs/{run_id}")).json()
            server.call(_collect_garbage())
        assert pause is not None
        reconnections = await pause
        await raw.aclose()
    for events in (run_events(started), run_events(followed.content)):
        assert [e["event"] for e in events] == ["metadata", "custom", "custom", "end"]
        assert [e["data"] for e in events[1:3]] == [{"step": "before"}, {"step": "after"}]
        assert events[-1]["data"]["status"] == "success"
    assert record["status"] == "success"
    assert reconnections == 0, "a reader's socket timed out while it waited for events"
    assert problems.seen == []


def _app(url: str) -> TokentideApp:
    return create_app(
        models={
            "slow": FakeChatModel([list(WORDS)], delay=0.05),
            "fast": FakeChatModel([list(WORDS[:5])]),
        },
        store=RedisStreamStore(url, prefix=_prefix()),
    )


def _assert_503(response: httpx.Response, port: int) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "store_unavailable"
    assert error["type"] == "server_error"
    assert "try again" in error["message"]
    assert str(port) not in response.text  # where the store lives stays in the server log


async def _assert_runs_endpoints_answer_503(
    http: httpx.AsyncClient, run_id: str, port: int
) -> None:
    start = {"assistant": "fast", "input": USER}
    for method, path, body in [
        ("POST", "/v1/runs", start),
        ("POST", "/v1/runs", {**start, "stream": False}),
        ("GET", f"/v1/runs/{run_id}", None),
        ("GET", f"/v1/runs/{run_id}/stream", None),
        ("POST", f"/v1/runs/{run_id}/cancel", None),
    ]:
        _assert_503(await http.request(method, path, json=body), port)


async def _a_run_works(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/runs", json={"assistant": "fast", "input": USER})
    assert response.status_code == 200, response.text
    events = run_events(response.content)
    assert events[0]["event"] == "metadata"
    assert events[-1]["event"] == "end" and events[-1]["data"]["status"] == "success"
    run_id: str = response.headers["x-run-id"]
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["status"] == "success"
    return run_id


async def test_redis_killed_mid_run_then_restarted(problems: _Problems) -> None:
    with restartable_redis_server() as redis:
        app = _app(redis.url)
        with live_server(app) as server:
            _watch(server, problems)
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                await _a_run_works(http)  # pooled connections exist before the crash
                body = {"assistant": "slow", "input": USER, "on_disconnect": "continue"}
                received = b""
                async with http.stream("POST", "/v1/runs", json=body) as response:
                    run_id = response.headers["x-run-id"]
                    async for piece in response.aiter_bytes():
                        received += piece
                        if received.count(b"event: messages") >= 3 and redis.process:
                            if redis.process.poll() is None:
                                redis.kill()
                events = run_events(received)
                assert received.endswith(b"\n\n")  # whole events only, then a clean end
                assert events[-1]["event"] == "error", "the stream ended without an error event"
                error = events[-1]["data"]
                assert error["type"] == "StoreUnavailable" and error["retryable"] is True
                assert [int(e["id"]) for e in events[:-1]] == list(range(1, len(events)))

                await _assert_runs_endpoints_answer_503(http, run_id, redis.port)
                assert (await http.get("/v1/models")).status_code == 200

                redis.start()  # empty: Redis kept nothing (no persistence)
                await _a_run_works(http)  # the first request after the restart works
                gone = await http.get(f"/v1/runs/{run_id}")
                assert gone.status_code == 404

                async def runs_finished() -> bool:
                    return len(app.runs._active) == 0

                await _wait_for(runs_finished)  # the cut run's task ended (not stuck)
            server.call(_collect_garbage())
    assert problems.seen == []


async def test_a_server_started_while_redis_is_down(problems: _Problems) -> None:
    with restartable_redis_server(started=False) as redis:
        app = _app(redis.url)
        with live_server(app) as server:
            _watch(server, problems)
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                await _assert_runs_endpoints_answer_503(http, "run_abc", redis.port)
                redis.start()
                run_id = await _a_run_works(http)
                again = await http.get(f"/v1/runs/{run_id}/stream")
                assert run_events(again.content)[-1]["event"] == "end"
            server.call(_collect_garbage())
    assert problems.seen == []


# ---------------------------------------------------------------------- the run task (no Redis)


class _FlakyStore(MemoryStreamStore):
    """A memory store whose writes fail with `StoreUnavailable` while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    def _check(self) -> None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("the test store is down")

    async def append(self, run_id: str, event: str, data: str) -> int:
        self._check()
        return await super().append(run_id, event, data)

    async def update_run(self, record: RunRecord) -> None:
        self._check()
        await super().update_run(record)

    async def end_stream(self, run_id: str) -> None:
        self._check()
        await super().end_stream(run_id)


def _manager(store: _FlakyStore, grace: float) -> tuple[RunManager, Any]:
    assistants = build_assistants({"slow": FakeChatModel([list(WORDS[:20])], delay=0.02)}, {})
    request = parse_run_request({"assistant": "slow", "input": USER}, assistants)
    return RunManager(store, store_grace=grace), request


async def test_a_run_rides_out_a_short_outage(problems: _Problems) -> None:
    store = _FlakyStore()
    manager, request = _manager(store, grace=30.0)
    run_id = await manager.start(request)
    await asyncio.sleep(0.1)
    store.down = True
    await _wait_for(_true_when(lambda: store.refused >= 2))
    store.down = False
    events = [event async for event in store.read(run_id)]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "end" and json.loads(events[-1].data)["status"] == "success"
    assert "".join(json.loads(e.data)[0]["content"] for e in events[1:-1]) == "".join(WORDS[:20])
    await manager.aclose()
    assert problems.seen == []


async def test_a_run_gives_up_after_the_grace_without_an_unobserved_error(
    problems: _Problems, caplog: pytest.LogCaptureFixture
) -> None:
    store = _FlakyStore()
    manager, request = _manager(store, grace=0.3)
    run_id = await manager.start(request)
    store.down = True

    async def finished() -> bool:
        return run_id not in manager

    await _wait_for(finished)
    await _wait_for(_true_when(lambda: "its end was not recorded" in caplog.text))
    gc.collect()
    assert problems.seen == []
    record = await store.get_run(run_id)
    assert record is not None and record.status not in TERMINAL_STATUSES


def _true_when(check: Any) -> Any:
    async def condition() -> bool:
        return bool(check())

    return condition


class _LosingStore(MemoryStreamStore):
    """A memory store whose write, once ``hold`` is set, waits until cancelled and loses the
    cancellation, as redis-py's ``asyncio.wait_for`` around a socket write can on Python 3.10
    and 3.11."""

    def __init__(self) -> None:
        super().__init__()
        self.appended = 0
        self.hold = False
        self.held = asyncio.Event()

    async def append(self, run_id: str, event: str, data: str) -> int:
        if self.hold:
            self.hold = False
            self.held.set()
            try:
                await asyncio.Event().wait()  # until cancelled
            except asyncio.CancelledError:
                pass  # lost
        self.appended += 1
        return await super().append(run_id, event, data)


async def test_a_cancel_that_a_store_write_lost_still_stops_the_run(problems: _Problems) -> None:
    store = _LosingStore()
    # Paced (the fake's own 10 ms per token): the run is still streaming when the write holds.
    assistants = build_assistants({"slow": FakeChatModel([list(WORDS)], delay=0.01)}, {})
    manager = RunManager(store, cancel_wait=20.0)
    request = parse_run_request({"assistant": "slow", "input": USER}, assistants)
    run_id = await manager.start(request)
    await _wait_for(_true_when(lambda: store.appended >= 4))
    store.hold = True
    await asyncio.wait_for(store.held.wait(), 40)  # a write now waits for the cancel
    record = await manager.cancel(run_id)  # lands in that write, which swallows it
    assert record is not None and record.status == "cancelled"
    events = [event async for event in store.read(run_id)]
    assert events[-1].event == "end" and json.loads(events[-1].data)["status"] == "cancelled"
    assert len(events) < len(WORDS) // 2  # stopped at its next token, not at the end
    await manager.aclose()
    assert problems.seen == []
