"""Two ``tokentide serve`` processes behind one Agent Server API: their run streams in one
Redis, their checkpoints, threads and runs in one ``--checkpointer`` (a SQLite file, or a
PostgreSQL database). The official ``langgraph_sdk`` client starts a run on replica A and
joins it from B after a ``Last-Event-ID`` (no gap, no duplicate), cancels a run of A from B,
reads the thread's state from either, and answers on B an interrupt raised by a run on A."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from fakes.postgres_server import running_postgres_server
from fakes.redis_server import RedisServer
from fakes.serve_process import Replica, assistants_listed, start_serve, two_replicas
from fakes.waiting import async_wait_until

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
SLOW_WORDS = [f"s{i} " for i in range(60)]  # as agent_server_graphs.py
USER = {"messages": [{"role": "user", "content": "count for me"}]}


def _start(redis_url: str, checkpointer: str, workdir: str, name: str) -> Replica:
    options = ["--graph", "agent_server_graphs:slow", "--graph", "agent_server_graphs:approval"]
    options += ["--redis-url", redis_url, "--checkpointer", checkpointer, "--log-level", "warning"]
    log = Path(workdir) / f"{name}.log"
    return start_serve(options, log, cwd=HERE, checkpointer=checkpointer)


@contextlib.contextmanager
def _checkpointer(kind: str, workdir: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{Path(workdir) / 'threads.db'}"
        return
    with running_postgres_server() as postgres:
        yield postgres.create_database("agent_server")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.once)])
def replicas(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> Iterator[tuple[Replica, Replica]]:
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="tokentide-agents-"))
        checkpointer = stack.enter_context(_checkpointer(request.param, workdir))
        pair = stack.enter_context(
            two_replicas(
                lambda name: _start(redis_server.url, checkpointer, workdir, name),
                ready=assistants_listed,
            )
        )
        yield pair


@pytest.fixture
async def clients(replicas: tuple[Replica, Replica]) -> AsyncIterator[tuple[Any, Any]]:
    a, b = replicas
    async with get_client(url=a.url, api_key=None) as on_a:
        async with get_client(url=b.url, api_key=None) as on_b:
            yield on_a, on_b


async def test_a_run_on_a_is_joined_from_b_after_last_event_id(clients: tuple[Any, Any]) -> None:
    on_a, on_b = clients
    thread = await on_a.threads.create()
    tid = thread["thread_id"]
    assert (await on_b.threads.get(tid))["thread_id"] == tid  # one thread store
    seen: list[Any] = []
    async for part in on_a.runs.stream(
        tid, "slow", input=USER, stream_mode="messages-tuple", on_disconnect="continue"
    ):
        seen.append(part)
        if sum(p.event == "messages" for p in seen) == 10:
            break  # the client leaves; the run goes on
    run_id = seen[0].data["run_id"]
    rest = [p async for p in on_b.runs.join_stream(tid, run_id, last_event_id=seen[-1].id)]
    ids = [int(p.id) for p in seen + rest]
    assert ids == list(range(1, len(ids) + 1))
    text = "".join(p.data[0]["content"] for p in seen + rest if p.event == "messages")
    assert text == "".join(SLOW_WORDS)
    assert rest[-1].event == "end"
    assert (await on_a.runs.get(tid, run_id))["status"] == "success"
    state = await on_b.threads.get_state(tid)
    assert state["values"]["messages"][-1]["content"] == "".join(SLOW_WORDS)
    assert (await on_b.threads.get(tid))["status"] == "idle"


async def test_a_run_on_a_is_cancelled_from_b(clients: tuple[Any, Any]) -> None:
    on_a, on_b = clients
    thread = await on_a.threads.create()
    tid = thread["thread_id"]
    run = await on_a.runs.create(tid, "slow", input=USER)

    async def running() -> bool:
        return bool((await on_b.runs.get(tid, run["run_id"]))["status"] == "running")

    await async_wait_until(running, timeout=30, interval=0.05)
    await on_b.runs.cancel(tid, run["run_id"], wait=True)

    async def stopped() -> bool:
        return bool((await on_a.runs.get(tid, run["run_id"]))["status"] == "interrupted")

    await async_wait_until(stopped, timeout=30, interval=0.05)
    parts = [p async for p in on_b.runs.join_stream(tid, run["run_id"])]
    assert parts[-1].event == "end" and parts[-1].data["status"] == "cancelled"
    assert (await on_a.threads.get(tid))["status"] == "idle"
    # the thread is free again for a run on either replica
    result = await on_b.runs.wait(tid, "slow", input=USER)
    assert result["messages"][-1]["content"] == "".join(SLOW_WORDS)


async def test_threads_and_runs_are_kept_in_the_checkpointer_database(
    replicas: tuple[Replica, Replica], clients: tuple[Any, Any]
) -> None:
    on_a, _ = clients
    thread = await on_a.threads.create(metadata={"kept": "here"})
    await on_a.runs.wait(thread["thread_id"], "slow", input=USER)
    spec = replicas[0].checkpointer
    query = "SELECT count(*) FROM tokentide_runs WHERE thread_id = "
    if spec.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(spec[len("sqlite:///") :])) as db:
            count = db.execute(query + "?", (thread["thread_id"],)).fetchone()[0]
    else:
        import psycopg

        with psycopg.connect(spec) as db:
            row = db.execute(query + "%s", (thread["thread_id"],)).fetchone()
            count = row[0] if row else 0
    assert count == 1


async def test_an_interrupt_raised_on_a_is_resumed_on_b(clients: tuple[Any, Any]) -> None:
    on_a, on_b = clients
    thread = await on_a.threads.create()
    tid = thread["thread_id"]
    parts = [
        p
        async for p in on_a.runs.stream(
            tid, "approval", input=USER, stream_mode=["messages-tuple", "values"]
        )
    ]
    streamed = "".join(p.data[0]["content"] for p in parts if p.event == "messages")
    assert streamed == "".join(SLOW_WORDS)
    (asked,) = [p.data for p in parts if p.event == "values"][-1]["__interrupt__"]
    assert asked["value"]["draft"] == "".join(SLOW_WORDS)
    assert (await on_b.threads.get(tid))["status"] == "interrupted"
    state = await on_b.threads.get_state(tid)
    assert state["next"] == ["review"] and state["interrupts"][0]["id"] == asked["id"]

    resumed = [
        p
        async for p in on_b.runs.stream(
            tid, "approval", command={"resume": "ship it"}, stream_mode="updates"
        )
    ]
    updates = [p.data for p in resumed if p.event == "updates"]
    assert updates[-1]["review"]["messages"][-1]["content"] == "reviewed: ship it"
    final = await on_a.threads.get_state(tid)
    assert [m["type"] for m in final["values"]["messages"]] == ["human", "ai", "ai"]
    assert final["next"] == [] and final["interrupts"] == []
    assert (await on_a.threads.get(tid))["status"] == "idle"
