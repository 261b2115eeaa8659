"""`MemoryStreamStore` passes the `StreamStore` contract, plus memory-specific bounds."""

from __future__ import annotations

import pytest

from tokentide.server import MemoryStreamStore, RunRecord, StreamStore

from .store_contract import StreamStoreContract

pytestmark = pytest.mark.timeout(30)


class TestMemoryStreamStore(StreamStoreContract):
    async def new_store(self, *, max_events: int, ttl: float, **options: int) -> StreamStore:
        return MemoryStreamStore(max_events=max_events, ttl=ttl, **options)

    async def replica(self, store: StreamStore) -> StreamStore:
        return store


async def test_memory_is_bounded_per_run() -> None:
    store = MemoryStreamStore(max_events=100)
    await store.create_run(RunRecord(run_id="r", assistant="a"))
    for i in range(10_000):
        await store.append("r", "messages", str(i))
    stream = store._runs["r"]
    assert len(stream.events) <= 100 + 100 // 8 + 16
    assert stream.events[-1].id == 10_000


async def test_expired_runs_are_dropped() -> None:
    store = MemoryStreamStore(ttl=0)
    for i in range(50):
        await store.create_run(RunRecord(run_id=f"r{i}", assistant="a"))
        await store.end_stream(f"r{i}")
    assert len(store) == 0


def test_bad_limits() -> None:
    with pytest.raises(ValueError):
        MemoryStreamStore(max_events=0)
    with pytest.raises(ValueError):
        MemoryStreamStore(ttl=-1)
