"""Two ``tokentide serve`` processes sharing one Redis: a run started on replica A is resumed
from replica B with ``Last-Event-ID`` (byte for byte what a full read gives: no gap, no
duplicate), a run started on A is cancelled from B (A stops producing; both see
``cancelled``), and a run whose replica is killed with SIGKILL ends as ``failed``
(``replica_lost``) for the readers on the other replica, instead of hanging.

The replicas are real subprocesses on two ports serving ``--model fake:slow`` (one word every
``DELAY`` seconds), with their run streams in a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fakes.redis_server import RedisServer
from fakes.serve_process import Replica, start_serve, two_replicas

pytestmark = pytest.mark.timeout(90)

REPLY = " ".join(f"word{i:02d}" for i in range(60)) + " the end."
DELAY = 0.05  # seconds per word: a run takes about 3 s


@dataclass(frozen=True)
class Frame:
    """One SSE event exactly as sent (``raw``), with its parsed fields."""

    raw: bytes
    id: int | None
    event: str
    data: str


def _start_replica(
    redis_url: str, workdir: str, name: str, *options: str, delay: float = DELAY
) -> Replica:
    env = {**os.environ, "TOKENTIDE_FAKE_REPLY": REPLY, "TOKENTIDE_FAKE_DELAY": str(delay)}
    options = ("--model", "fake:slow", "--redis-url", redis_url, "--log-level", "warning", *options)
    return start_serve(list(options), Path(workdir) / f"{name}.log", env=env)


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer) -> Iterator[tuple[Replica, Replica]]:
    with tempfile.TemporaryDirectory(prefix="tokentide-replicas-") as workdir:
        with two_replicas(lambda name: _start_replica(redis_server.url, workdir, name)) as pair:
            yield pair


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0)) as client:
        yield client


def _frames(body: bytes) -> list[Frame]:
    """Split a ``text/event-stream`` body into events (comments such as pings dropped)."""
    frames = []
    for block in body.split(b"\n\n"):
        lines = [line for line in block.split(b"\n") if line and not line.startswith(b":")]
        if not lines:
            continue
        fields: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.decode().partition(": ")
            fields.setdefault(name, []).append(value)
        raw = b"\n".join(lines) + b"\n\n"
        event_id = int(fields["id"][0]) if "id" in fields else None
        event = fields.get("event", ["message"])[0]
        frames.append(Frame(raw, event_id, event, "\n".join(fields.get("data", []))))
    return frames


async def _read_some(
    chunks: AsyncIterator[bytes], messages: int
) -> tuple[bytes, list[Frame], bytes]:
    """Read until ``messages`` ``messages`` events were received: the bytes of the whole events
    read so far, them as frames, and the bytes of a partly received event after them."""
    body = b""
    async for piece in chunks:
        body += piece
        cut = body.rfind(b"\n\n") + 2
        frames = _frames(body[:cut])
        if sum(f.event == "messages" for f in frames) >= messages:
            return body[:cut], frames, body[cut:]
    raise AssertionError(f"the stream ended early: {body!r}")


def _text(frames: list[Frame]) -> str:
    return "".join(json.loads(f.data)[0]["content"] for f in frames if f.event == "messages")


def _start_body() -> dict[str, object]:
    return {
        "assistant": "fake",
        "input": [{"role": "user", "content": "count for me"}],
        "on_disconnect": "continue",
    }


async def test_a_run_started_on_a_resumes_byte_identically_from_b(
    replicas: tuple[Replica, Replica], client: httpx.AsyncClient
) -> None:
    a, b = replicas
    async with client.stream("POST", a.url + "/v1/runs", json=_start_body()) as response:
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        first_bytes, first, _ = await _read_some(response.aiter_bytes(), messages=10)
    last_id = first[-1].id
    assert last_id is not None and last_id >= 11  # metadata, then 10 messages

    rest = await client.get(
        f"{b.url}/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(last_id)}
    )
    assert rest.status_code == 200
    reference = await client.get(f"{b.url}/v1/runs/{run_id}/stream")
    from_a = await client.get(f"{a.url}/v1/runs/{run_id}/stream")

    resumed = _frames(rest.content)
    full = _frames(reference.content)
    assert [f.raw for f in first + resumed] == [f.raw for f in full]
    assert [f.raw for f in _frames(from_a.content)] == [f.raw for f in full]
    assert first_bytes == b"".join(f.raw for f in first)
    ids = [f.id for f in full]
    assert ids == list(range(1, len(full) + 1))
    assert resumed[0].id == last_id + 1
    assert _text(first) + _text(resumed) == _text(full) == REPLY
    assert full[-1].event == "end" and json.loads(full[-1].data)["status"] == "success"

    for replica in (a, b):
        record = (await client.get(f"{replica.url}/v1/runs/{run_id}")).json()
        assert record["status"] == "success"
        assert record["output"]["content"] == REPLY


async def test_a_run_started_on_a_is_cancelled_from_b(
    replicas: tuple[Replica, Replica], client: httpx.AsyncClient
) -> None:
    a, b = replicas
    async with client.stream("POST", a.url + "/v1/runs", json=_start_body()) as response:
        run_id = response.headers["x-run-id"]
        chunks = response.aiter_bytes()
        _, before, body = await _read_some(chunks, messages=5)
        asked = time.monotonic()
        cancel = await client.post(f"{b.url}/v1/runs/{run_id}/cancel")
        acknowledged = time.monotonic()
        assert cancel.status_code == 200
        assert cancel.json()["status"] == "cancelled"
        async for piece in chunks:
            body += piece
        ended = time.monotonic()
    frames = _frames(b"".join(f.raw for f in before) + body)
    assert frames[-1].event == "end"
    assert json.loads(frames[-1].data)["status"] == "cancelled"
    assert ended - asked < 1.0, "the stream on A ended soon after the cancel on B"
    produced = _text(frames)
    assert 0 < len(produced) < len(REPLY)
    # What was produced before the cancel, plus the words A wrote while the cancel travelled
    # (B answers once A stopped: on a busy machine this can take a while), plus a few in flight.
    travelled = int((acknowledged - asked) / DELAY)
    assert len(produced.split()) <= len(_text(before).split()) + travelled + 3

    for replica in (a, b):
        record = (await client.get(f"{replica.url}/v1/runs/{run_id}")).json()
        assert record["status"] == "cancelled"
        assert record["output"]["content"] == produced
    await _assert_quiet(client, b, run_id, len(frames))


async def _assert_quiet(
    client: httpx.AsyncClient, replica: Replica, run_id: str, count: int
) -> None:
    """A stopped producing: after a while, the run holds no more events than were streamed."""
    await asyncio.sleep(5 * DELAY)
    again = _frames((await client.get(f"{replica.url}/v1/runs/{run_id}/stream")).content)
    assert len(again) == count


LEASE = 2.0  # seconds: --run-lease of the replicas that get killed


async def _follow(
    client: httpx.AsyncClient, url: str, after: int, connected: asyncio.Event | None = None
) -> list[Frame]:
    """Follow a run's stream from ``after`` to its end; ``connected`` is set once the
    replica has answered (it is then waiting for live events)."""
    headers = {"Last-Event-ID": str(after)}
    async with client.stream("GET", url, headers=headers) as response:
        if connected is not None:
            connected.set()
        body = await response.aread()
        assert response.status_code == 200, body
    return _frames(body)


async def test_a_replica_killed_mid_run_leaves_a_failed_run(
    redis_server: RedisServer, client: httpx.AsyncClient
) -> None:
    with tempfile.TemporaryDirectory(prefix="tokentide-replicas-") as workdir:
        lease = ("--run-lease", str(LEASE))
        with two_replicas(
            lambda name: _start_replica(redis_server.url, workdir, name, *lease, delay=0.5)
        ) as (owner, other):
            async with client.stream(
                "POST", owner.url + "/v1/runs", json=_start_body()
            ) as response:
                run_id = response.headers["x-run-id"]
                _, first, _ = await _read_some(response.aiter_bytes(), messages=2)
            last_id = first[-1].id
            assert last_id is not None
            stream_url = f"{other.url}/v1/runs/{run_id}/stream"
            connected = asyncio.Event()
            follower = asyncio.create_task(_follow(client, stream_url, last_id, connected))
            await asyncio.wait_for(connected.wait(), 30)  # `other` waits for live events
            owner.process.kill()  # SIGKILL: no shutdown, no last write
            owner.process.wait(10)
            killed = time.monotonic()

            followed = await asyncio.wait_for(follower, 60)
            assert followed[-1].event == "error", [f.event for f in followed]
            error = json.loads(followed[-1].data)
            assert error["type"] == "ReplicaLost" and error["reason"] == "replica_lost"
            assert time.monotonic() - killed < 30
            ids = [f.id for f in followed]
            assert ids == list(range(last_id + 1, last_id + 1 + len(ids)))

            record = (await client.get(f"{other.url}/v1/runs/{run_id}")).json()
            assert record["status"] == "failed"
            assert record["error"]["reason"] == "replica_lost"
            cancel = await client.post(f"{other.url}/v1/runs/{run_id}/cancel")
            assert cancel.status_code == 200
            assert cancel.json()["status"] == "failed"
            again = await _follow(client, stream_url, last_id)
            assert [f.raw for f in again] == [f.raw for f in followed]
