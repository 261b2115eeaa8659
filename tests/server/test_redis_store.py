"""`RedisStreamStore` against a real ``redis-server``: Redis-specific behaviour (stream ids,
trimming, key expiry, cancel across store instances, readers on other replicas). The shared
`StreamStore` contract runs in ``test_redis_store_contract.py``."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes.redis_server import RedisServer, running_redis_server  # noqa: E402
from fakes.waiting import async_wait_until  # noqa: E402
from tokentide.server._redis_store import RedisStreamStore  # noqa: E402
from tokentide.server._store import (  # noqa: E402
    EventsExpired,
    RunEvent,
    RunNotFound,
    RunRecord,
    StreamStore,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def store(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisStreamStore]:
    store = RedisStreamStore(redis_server.url, prefix=prefix, block_ms=200)
    yield store
    await store.aclose()


@pytest.fixture
async def other(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisStreamStore]:
    """A second store on the same Redis: another replica."""
    store = RedisStreamStore(redis_server.url, prefix=prefix, block_ms=200)
    yield store
    await store.aclose()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def _new_run(store: RedisStreamStore) -> str:
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    await store.create_run(RunRecord(run_id=run_id, assistant="fake"))
    return run_id


async def _collect(store: RedisStreamStore, run_id: str, after: int = 0) -> list[RunEvent]:
    return [event async for event in store.read(run_id, after)]


async def test_is_a_stream_store(store: RedisStreamStore) -> None:
    assert isinstance(store, StreamStore)
    assert "RedisStreamStore" in repr(store)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_events": 0}, {"ttl": -1}, {"stale_after": 0}, {"block_ms": 0}],
)
def test_rejects_bad_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RedisStreamStore("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]


async def test_events_are_redis_stream_entries_with_consecutive_ids(
    store: RedisStreamStore, raw: aioredis.Redis, prefix: str
) -> None:
    run_id = await _new_run(store)
    ids = [await store.append(run_id, "messages", f'["t{i}"]') for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    entries = await raw.xrange(f"{prefix}:run:{{{run_id}}}:events") or []
    assert [entry_id for entry_id, _ in entries] == [f"0-{i}" for i in range(1, 6)]
    assert entries[0][1] == {"e": "messages", "d": '["t0"]'}
    await store.end_stream(run_id)
    assert [e.id for e in await _collect(store, run_id)] == ids
    assert [e.data for e in await _collect(store, run_id, after=3)] == ['["t3"]', '["t4"]']


async def test_reader_on_another_replica_follows_live_and_resumes(
    store: RedisStreamStore, other: RedisStreamStore
) -> None:
    run_id = await _new_run(store)
    seen: list[RunEvent] = []

    async def follow() -> None:
        async for event in other.read(run_id):
            seen.append(event)

    reader = asyncio.create_task(follow())
    for i in range(20):
        await store.append(run_id, "messages", f'["{i}"]')
        await asyncio.sleep(0.005)
    await store.end_stream(run_id)
    await asyncio.wait_for(reader, 5)
    assert [e.data for e in seen] == [f'["{i}"]' for i in range(20)]
    resumed = await _collect(other, run_id, after=seen[11].id)
    assert resumed == seen[12:]


async def test_reader_blocked_past_its_block_time_keeps_following(
    store: RedisStreamStore, other: RedisStreamStore
) -> None:
    run_id = await _new_run(store)
    reader = asyncio.create_task(_collect(other, run_id))
    await asyncio.sleep(0.5)  # more than two XREAD BLOCK periods with no event
    await store.append(run_id, "messages", '["late"]')
    await store.end_stream(run_id)
    assert [e.data for e in await asyncio.wait_for(reader, 5)] == ['["late"]']


async def test_trimmed_events_raise_events_expired(redis_server: RedisServer, prefix: str) -> None:
    store = RedisStreamStore(redis_server.url, prefix=prefix, max_events=10)
    try:
        run_id = await _new_run(store)
        for i in range(1000):
            await store.append(run_id, "messages", f'["{i}"]')
        await store.end_stream(run_id)
        with pytest.raises(EventsExpired):
            await _collect(store, run_id)
        tail = await _collect(store, run_id, after=990)
        assert [e.id for e in tail] == list(range(991, 1001))
    finally:
        await store.aclose()


async def test_run_keys_expire_ttl_after_the_end(
    redis_server: RedisServer, raw: aioredis.Redis, prefix: str
) -> None:
    store = RedisStreamStore(redis_server.url, prefix=prefix, ttl=0.3, stale_after=600)
    try:
        run_id = await _new_run(store)
        await store.append(run_id, "messages", '["a"]')
        keys = [f"{prefix}:run:{{{run_id}}}", f"{prefix}:run:{{{run_id}}}:events"]
        assert all(500_000 < ttl <= 600_000 for ttl in [await raw.pttl(key) for key in keys])
        await store.end_stream(run_id)
        assert all(0 < ttl <= 300 for ttl in [await raw.pttl(key) for key in keys])
        await async_wait_until(lambda: raw.exists(*keys), is_=0, interval=0.02)
        assert await store.get_run(run_id) is None
        with pytest.raises(RunNotFound):
            await _collect(store, run_id)
    finally:
        await store.aclose()


async def test_cancel_from_another_replica_is_seen_within_50ms(
    store: RedisStreamStore, other: RedisStreamStore
) -> None:
    run_id = await _new_run(store)
    record = await store.get_run(run_id)
    assert record is not None
    record.status = "running"
    await store.update_run(record)
    waiting = asyncio.create_task(store.wait_cancel(run_id))
    # The waiter is registered and the listener subscribed: from here a cancel on another
    # replica reaches it through pub/sub.
    await async_wait_until(lambda: run_id in store._cancel_waiters and store._subscribed.is_set())
    assert not waiting.done()
    started = time.monotonic()
    assert await other.request_cancel(run_id) is True
    await asyncio.wait_for(waiting, 1)
    assert time.monotonic() - started < 0.05 + 0.05  # 50 ms plus scheduling slack (2 cores)


async def test_cancel_requested_before_waiting_returns_at_once(
    store: RedisStreamStore, other: RedisStreamStore
) -> None:
    run_id = await _new_run(store)
    assert await other.request_cancel(run_id) is True
    await asyncio.wait_for(store.wait_cancel(run_id), 0.5)


async def test_cancel_of_finished_or_unknown_run_is_refused(store: RedisStreamStore) -> None:
    assert await store.request_cancel("no-such-run") is False
    run_id = await _new_run(store)
    record = await store.get_run(run_id)
    assert record is not None
    record.status = "success"
    await store.update_run(record)
    assert await store.request_cancel(run_id) is False


async def test_abandoned_reader_frees_its_connection(store: RedisStreamStore) -> None:
    run_id = await _new_run(store)
    for _ in range(3):
        reader = asyncio.create_task(_collect(store, run_id))
        await asyncio.sleep(0.05)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
    assert await store.append(run_id, "messages", '["x"]') == 1
    await store.end_stream(run_id)
    assert len(await _collect(store, run_id)) == 1


async def test_unknown_run_and_append_after_end(store: RedisStreamStore) -> None:
    with pytest.raises(RunNotFound):
        await store.append("nope", "messages", "[]")
    with pytest.raises(RunNotFound):
        await store.end_stream("nope")
    run_id = await _new_run(store)
    with pytest.raises(ValueError, match="already exists"):
        await store.create_run(RunRecord(run_id=run_id, assistant="fake"))
    await store.end_stream(run_id)
    await store.end_stream(run_id)
    with pytest.raises(RuntimeError):
        await store.append(run_id, "messages", "[]")
