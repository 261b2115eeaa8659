"""Two ``tokentide serve`` replicas on one Redis (run streams) and one PostgreSQL (threads,
``--checkpointer postgresql://...``): a thread started on replica A is continued on replica B,
and the second turn sees the first turn's messages; a thread interrupted on A (``interrupt()``,
or an agent's tool call waiting for approval) is resumed on B.

The replicas are real subprocesses serving ``served/thread_graphs.py:chat`` (a graph that says
which turn it is and every user message it has heard), with a private ``redis-server`` and a
private PostgreSQL cluster.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from fakes.postgres_server import PostgresServer
from fakes.redis_server import RedisServer, running_redis_server
from fakes.serve_process import Replica, start_serve, two_replicas
from fakes.signals import sigint_default
from tokentide.runnables import RunnableConfig

from .served import thread_graphs

pytestmark = [pytest.mark.once, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


def _start(name: str, workdir: str, redis_url: str, database_url: str) -> Replica:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    graphs = thread_graphs.__name__
    options = ["--graph", f"{graphs}:chat", "--graph", f"{graphs}:approve"]
    options += ["--graph", f"{graphs}:mailer", "--redis-url", redis_url]
    options += ["--checkpointer", database_url, "--no-web", "--log-level", "warning"]
    log = Path(workdir) / f"{name}.log"
    return start_serve(options, log, env=env, preexec_fn=sigint_default)


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("replicas")


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer, database: str) -> Iterator[tuple[Replica, Replica]]:
    with tempfile.TemporaryDirectory(prefix="tokentide-pg-replicas-") as workdir:
        # Started together: both run the schema set-up at once (it must not conflict).
        def start(name: str) -> Replica:
            return _start(name, workdir, redis_server.url, database)

        with two_replicas(start, timeout=60, stop_timeout=15) as pair:
            yield pair


def _events(body: str) -> list[tuple[str, Any]]:
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "null"))))
    return events


def _turn(replica: Replica, thread_id: str, text: str) -> tuple[list[tuple[str, Any]], Any]:
    """Run one turn of ``thread_id`` on ``replica``: its events and its last ``values`` state."""
    body = {
        "assistant": "chat",
        "input": {"messages": [{"role": "user", "content": text}]},
        "thread_id": thread_id,
        "stream_mode": ["values", "messages"],
    }
    response = httpx.post(replica.url + "/v1/runs", json=body, timeout=30)
    assert response.status_code == 200, response.text
    events = _events(response.text)
    assert events[-1][0] == "end" and events[-1][1]["status"] == "success", events[-3:]
    values = [data for event, data in events if event == "values"]
    return events, values[-1]


def _contents(state: Any) -> list[tuple[str, str]]:
    return [(m["type"], m["content"]) for m in state["messages"]]


def test_a_thread_started_on_a_is_continued_on_b(
    replicas: tuple[Replica, Replica], database: str
) -> None:
    a, b = replicas
    thread_id = f"thread-{time.monotonic_ns()}"
    events, first = _turn(a, thread_id, "my name is Ada")
    assert any(event == "messages" for event, _ in events)  # streamed token by token
    assert _contents(first)[-1] == ("ai", "turn 1: heard my name is Ada")

    _, second = _turn(b, thread_id, "what is my name?")
    assert _contents(second) == [
        ("human", "my name is Ada"),
        ("ai", "turn 1: heard my name is Ada"),
        ("human", "what is my name?"),
        ("ai", "turn 2: heard my name is Ada | what is my name?"),
    ]
    _, third = _turn(a, thread_id, "and again?")
    assert _contents(third)[-1][1].startswith("turn 3: heard my name is Ada | what is my name?")

    with psycopg.connect(database) as conn:
        saved = conn.execute(
            "SELECT count(*) FROM tokentide_checkpoints WHERE thread_id = %s", (thread_id,)
        ).fetchone()
        versions = conn.execute("SELECT v FROM tokentide_checkpoint_migrations ORDER BY v")
        applied = [row[0] for row in versions.fetchall()]
    assert saved is not None and saved[0] == _checkpoints_of_three_turns()
    assert applied == list(range(1, len(applied) + 1)) and applied


def _checkpoints_of_three_turns() -> int:
    """How many checkpoints three turns of ``chat`` save (run here, on a `MemorySaver`)."""
    from tokentide.checkpoint import MemorySaver

    graph = copy.copy(thread_graphs.chat)
    graph.checkpointer = MemorySaver()
    config: RunnableConfig = {"configurable": {"thread_id": "local"}}

    async def three_turns() -> None:
        for text in ("one", "two", "three"):
            await graph.ainvoke({"messages": [("user", text)]}, config)

    asyncio.run(three_turns())
    return len(list(graph.get_state_history(dict(config))))


def test_another_thread_starts_empty_on_either_replica(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    _turn(a, "first-thread", "hello")
    _, other = _turn(b, f"other-{time.monotonic_ns()}", "hi")
    assert _contents(other) == [("human", "hi"), ("ai", "turn 1: heard hi")]


def _post(replica: Replica, body: dict[str, Any]) -> list[tuple[str, Any]]:
    response = httpx.post(replica.url + "/v1/runs", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return _events(response.text)


def test_a_thread_interrupted_on_a_is_resumed_on_b(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    thread_id = f"paused-{time.monotonic_ns()}"
    first = {"messages": [{"role": "user", "content": "mail Bob"}]}
    paused = _post(a, {"assistant": "approve", "thread_id": thread_id, "input": first})
    assert [event for event, _ in paused[-2:]] == ["interrupt", "end"], paused[-3:]
    assert paused[-1][1]["status"] == "interrupted"
    [asked] = paused[-2][1]["interrupts"]
    assert asked["value"] == {"question": "send it?", "heard": ["mail Bob"]}
    run_on_a = paused[-2][1]["run_id"]
    assert httpx.get(f"{b.url}/v1/runs/{run_on_a}", timeout=10).json()["status"] == "interrupted"

    body = {
        "assistant": "approve",
        "thread_id": thread_id,
        "command": {"resume": "yes"},
        "stream_mode": ["values"],
    }
    resumed = _post(b, body)
    assert resumed[-1][0] == "end" and resumed[-1][1]["status"] == "success", resumed[-3:]
    values = [data for event, data in resumed if event == "values"]
    assert _contents(values[-1]) == [
        ("human", "mail Bob"),
        ("ai", "resumed with 'yes' after mail Bob"),
    ]


def test_a_tool_call_paused_on_a_is_approved_on_b(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    thread_id = f"mail-{time.monotonic_ns()}"
    user = {"messages": [{"role": "user", "content": "Email Bob."}]}
    paused = _post(a, {"assistant": "mailer", "thread_id": thread_id, "input": user})
    assert paused[-1][1]["status"] == "interrupted", paused[-3:]
    [asked] = paused[-2][1]["interrupts"]
    assert asked["value"]["action_requests"][0]["name"] == "send_email"
    assert asked["value"]["action_requests"][0]["args"] == {"to": "bob", "body": "hi"}

    decision = {"decisions": [{"type": "approve"}]}
    body = {"assistant": "mailer", "thread_id": thread_id, "command": {"resume": decision}}
    done = _post(b, {**body, "stream_mode": ["values"]})
    assert done[-1][1]["status"] == "success", done[-3:]
    final = [data for event, data in done if event == "values"][-1]
    assert [m["type"] for m in final["messages"]] == ["human", "ai", "tool", "ai"]
    assert final["messages"][2]["content"] == "sent to bob"
    assert final["messages"][3]["content"] == "Done: sent to bob"
