"""`RedisStreamStore` against a real ``redis-server``: Redis-specific behaviour (stream ids,
trimming, key expiry, cancel across store instances, readers on other replicas). The shared
`StreamStore` contract runs in ``test_redis_store_contract.py``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from fakes.redis_server import RedisServer
from fakes.waiting import async_wait_until
from tokentide.models import FakeChatModel
from tokentide.server._assistants import build_assistants
from tokentide.server._redis_store import RedisStreamStore
from tokentide.server._runs import RunManager, parse_run_request
from tokentide.server._store import (
    EventsExpired,
    RunEvent,
    RunNotFound,
    RunRecord,
    StreamStore,
)

pytestmark = pytest.mark.timeout(30)


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


# ---------------------------------------------------------------------- owner leases

LEASE = 1.0  # seconds: renewed every third of a second (tolerates a 0.6 s stall)
# A live owner must keep its run on a loaded machine too: its renewals (every second) survive
# a 2 s stall of the event loop.
LIVE_LEASE = 3.0


@contextlib.asynccontextmanager
async def _replica_stores(
    url: str, prefix: str, count: int, lease: float
) -> AsyncIterator[list[RedisStreamStore]]:
    """``count`` stores on one Redis and key prefix, as replicas have; all closed at the end."""
    stores = [RedisStreamStore(url, prefix=prefix, lease=lease) for _ in range(count)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.aclose()


async def test_a_live_owner_keeps_its_run_past_many_leases(
    redis_server: RedisServer, prefix: str
) -> None:
    async with _replica_stores(redis_server.url, prefix, 2, LIVE_LEASE) as (owner, other):
        run_id = await _new_run(owner)
        reader = asyncio.create_task(_collect(other, run_id))
        await asyncio.sleep(2 * LIVE_LEASE)  # silent, but renewed
        record = await other.get_run(run_id)
        assert record is not None and record.status == "pending"
        await owner.append(run_id, "messages", '["late"]')
        await owner.end_stream(run_id)
        assert [e.event for e in await asyncio.wait_for(reader, 10)] == ["messages"]


async def test_a_run_whose_owner_died_ends_as_failed_for_every_replica(
    redis_server: RedisServer, prefix: str
) -> None:
    async with _replica_stores(redis_server.url, prefix, 2, LEASE) as (owner, other):
        run_id = await _new_run(owner)
        await owner.append(run_id, "messages", '["a"]')
        reader = asyncio.create_task(_collect(other, run_id))
        await owner.aclose()  # the owner's process is gone: no more renewals, no end
        events = await asyncio.wait_for(reader, 20)
        assert [(e.id, e.event) for e in events] == [(1, "messages"), (2, "error")]
        error = json.loads(events[-1].data)
        assert error["type"] == "ReplicaLost" and error["reason"] == "replica_lost"
        assert error["retryable"] is True
        record = await other.get_run(run_id)
        assert record is not None and record.status == "failed"
        assert record.error == error
        assert await other.request_cancel(run_id) is False
        assert await other.last_event_id(run_id) == 2
        assert [e.event for e in await _collect(other, run_id, after=1)] == ["error"]


async def test_any_replica_ends_a_lost_run_without_a_reader(
    redis_server: RedisServer, prefix: str
) -> None:
    async with _replica_stores(redis_server.url, prefix, 3, LEASE) as (owner, other, sweeper):
        lost = await _new_run(owner)
        await _new_run(sweeper)  # a replica with runs of its own sweeps the lapsed leases
        await owner.aclose()
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            state = await other._client.hget(other._record_key(lost), "status")
            if state == "failed":
                break
            await asyncio.sleep(0.05)
        assert state == "failed"


async def test_cancel_of_a_run_whose_owner_died_answers_failed(
    redis_server: RedisServer, prefix: str
) -> None:
    async with _replica_stores(redis_server.url, prefix, 2, LEASE) as (owner, other):
        run_id = await _new_run(owner)
        await owner.aclose()
        await asyncio.sleep(LEASE + 0.1)
        assert await other.request_cancel(run_id) is False
        record = await other.get_run(run_id)
        assert record is not None and record.status == "failed"


async def test_an_owner_that_lost_its_lease_is_told_to_stop(
    redis_server: RedisServer, prefix: str
) -> None:
    async with _replica_stores(redis_server.url, prefix, 2, LEASE) as (owner, other):
        run_id = await _new_run(owner)
        keeper = owner._keeper
        assert keeper is not None
        keeper.cancel()  # frozen: no renewals for a while
        await asyncio.sleep(LEASE + 0.1)
        record = await other.get_run(run_id)
        assert record is not None and record.status == "failed"
        waiting = asyncio.create_task(owner.wait_cancel(run_id))
        owner._ensure_keeper()  # it wakes up, renews, and finds the run ended
        await asyncio.wait_for(waiting, 10)
        with pytest.raises(RuntimeError):
            await owner.append(run_id, "messages", '["too late"]')
        with pytest.raises(RuntimeError):
            await owner.update_run(RunRecord(run_id=run_id, assistant="fake", status="success"))


def test_the_socket_timeout_exceeds_the_block_time(redis_server: RedisServer) -> None:
    store = RedisStreamStore(redis_server.url)
    kwargs = store._client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] > store.block_ms / 1000
    tight = aioredis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=2)
    clamped = RedisStreamStore(redis_server.url, client=tight)
    assert clamped._block < 2000


def test_the_url_password_stays_out_of_repr() -> None:
    store = RedisStreamStore("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in repr(store)


@pytest.mark.timeout(120)
async def test_a_manager_closed_as_runs_end_waits_for_their_end(redis_server: RedisServer) -> None:
    """`RunManager.aclose` also waits for the runs still recording their end (they have left
    the active runs): closing the store right after finds every end recorded and leaves no
    connection behind (a late write opened a new one, which the garbage collector found
    unclosed). Runs of several lengths, to close at several points of their end."""
    body = {"assistant": "fast", "input": [{"role": "user", "content": "hi"}]}
    for n in range(40):
        model = FakeChatModel([["a"] * (n % 8 + 1)], delay=0.0002 * (n // 8))
        assistants = build_assistants({"fast": model}, {})
        prefix = f"t{uuid.uuid4().hex[:8]}"
        store = RedisStreamStore(redis_server.url, prefix=prefix)
        manager = RunManager(store)
        run_id = await manager.start(parse_run_request(body, assistants))
        await async_wait_until(lambda: run_id not in manager, timeout=20)  # noqa: B023
        await manager.aclose()
        await store.aclose()
        reader = RedisStreamStore(redis_server.url, prefix=prefix)
        record = await reader.get_run(run_id)
        assert record is not None and record.status == "success", f"run {n}"
        events = await _collect(reader, run_id)
        assert events[-1].event == "end", f"run {n}: its end was not recorded"
        await reader.aclose()
    gc.collect()  # (an unclosed connection fails the test as an unraisable ResourceWarning)
