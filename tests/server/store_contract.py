"""The `StreamStore` contract as reusable tests: run them against any store implementation.

Subclass `StreamStoreContract` in a test module (name the subclass ``Test...``) and implement
two hooks:

- ``async def new_store(self, *, max_events: int, ttl: float, **options: int) -> StreamStore``:
  a fresh, empty store with these retention limits (``options``: ``max_finished_runs``,
  ``max_finished_bytes`` when a test sets them; for a shared backend, use a fresh key prefix);
- ``async def replica(self, store) -> StreamStore``: another store instance on the same
  backend, as a second server replica would have (a single-process store returns ``store``).

Every store made by the hooks is closed by the contract (``aclose()``). Example::

    from .store_contract import StreamStoreContract

    class TestMemoryStore(StreamStoreContract):
        async def new_store(self, *, max_events, ttl, **options):
            return MemoryStreamStore(max_events=max_events, ttl=ttl, **options)

        async def replica(self, store):
            return store
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from fakes.waiting import async_wait_until
from tokentide.server import (
    EventsExpired,
    RunEvent,
    RunNotFound,
    RunRecord,
    StreamStore,
)

__all__ = ["StreamStoreContract"]


def _run_id() -> str:
    return f"run_{uuid.uuid4().hex}"


async def _collect(store: StreamStore, run_id: str, after: int = 0) -> list[RunEvent]:
    return [event async for event in store.read(run_id, after)]


class StreamStoreContract:
    """Contract tests every `StreamStore` passes (see the module docstring)."""

    max_events = 50
    ttl = 60.0

    async def new_store(self, *, max_events: int, ttl: float, **options: int) -> StreamStore:
        raise NotImplementedError

    async def replica(self, store: StreamStore) -> StreamStore:
        raise NotImplementedError

    @asynccontextmanager
    async def opened(
        self, *, max_events: int | None = None, ttl: float | None = None, **options: int
    ) -> AsyncIterator[StreamStore]:
        store = await self.new_store(
            max_events=max_events or self.max_events,
            ttl=self.ttl if ttl is None else ttl,
            **options,
        )
        try:
            yield store
        finally:
            await store.aclose()

    async def started(self, store: StreamStore, assistant: str = "fake") -> str:
        run_id = _run_id()
        await store.create_run(RunRecord(run_id=run_id, assistant=assistant))
        return run_id

    async def started_record(self, store: StreamStore) -> tuple[str, RunRecord]:
        """A run created in ``store``: its id and the record the store gives back."""
        run_id = await self.started(store)
        record = await store.get_run(run_id)
        assert record is not None
        return run_id, record

    # ------------------------------------------------------------------ records

    async def test_is_a_stream_store(self) -> None:
        async with self.opened() as store:
            assert isinstance(store, StreamStore)

    async def test_record_round_trip(self) -> None:
        async with self.opened() as store:
            run_id = _run_id()
            record = RunRecord(run_id=run_id, assistant="g", metadata={"stream_mode": ["values"]})
            await store.create_run(record)
            got = await store.get_run(run_id)
            assert got == record
            record.status = "success"
            record.output = {"messages": [{"role": "assistant", "content": 'héllo "x"\n'}]}
            record.usage = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
            record.error = None
            await store.update_run(record)
            assert await store.get_run(run_id) == record

    async def test_get_run_returns_a_copy(self) -> None:
        async with self.opened() as store:
            run_id, got = await self.started_record(store)
            got.status = "error"
            got.metadata["x"] = 1
            again = await store.get_run(run_id)
            assert again is not None and again.status == "pending" and again.metadata == {}

    async def test_unknown_and_duplicate_runs(self) -> None:
        async with self.opened() as store:
            assert await store.get_run("run_nope") is None
            run_id = await self.started(store)
            with pytest.raises(ValueError):
                await store.create_run(RunRecord(run_id=run_id, assistant="fake"))
            with pytest.raises(RunNotFound):
                await store.append("run_nope", "messages", "1")
            with pytest.raises(RunNotFound):
                await _collect(store, "run_nope")

    # ------------------------------------------------------------------ events

    async def test_ids_are_consecutive_per_run(self) -> None:
        async with self.opened() as store:
            a, b = await self.started(store), await self.started(store)
            assert [await store.append(a, "messages", str(i)) for i in range(3)] == [1, 2, 3]
            assert await store.append(b, "messages", "x") == 1
            assert await store.append(a, "end", "{}") == 4

    async def test_replay_after_end_preserves_data(self) -> None:
        payloads = ['{"t":"héllo"}', '["\\n",{"a":null}]', '"日本語 🐱"', "{}"]
        async with self.opened() as store:
            run_id = await self.started(store)
            for text in payloads:
                await store.append(run_id, "messages", text)
            await store.end_stream(run_id)
            events = await _collect(store, run_id)
            assert [e.data for e in events] == payloads
            assert [e.id for e in events] == [1, 2, 3, 4]
            assert all(e.event == "messages" for e in events)
            assert [e.id for e in await _collect(store, run_id, after=2)] == [3, 4]
            assert await _collect(store, run_id, after=4) == []

    async def test_append_after_end_raises_and_end_is_idempotent(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            await store.append(run_id, "end", "{}")
            await store.end_stream(run_id)
            await store.end_stream(run_id)
            with pytest.raises(RuntimeError):
                await store.append(run_id, "messages", "late")

    async def test_read_follows_live_until_the_end(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            reader = asyncio.ensure_future(_collect(await self.replica(store), run_id))
            for i in range(5):
                await store.append(run_id, "messages", str(i))
                await asyncio.sleep(0.01)
            assert not reader.done()
            await store.end_stream(run_id)
            events = await asyncio.wait_for(reader, 5)
            assert [e.data for e in events] == ["0", "1", "2", "3", "4"]

    async def test_live_events_arrive_promptly(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            seen: list[float] = []

            async def read() -> None:
                async for _ in (await self.replica(store)).read(run_id):
                    seen.append(time.monotonic())

            reader = asyncio.ensure_future(read())
            # The reader is following live once it has seen a first event (however long a
            # busy machine takes to start it); the timed events come after.
            await store.append(run_id, "messages", "ready")
            await async_wait_until(lambda: len(seen) == 1)
            sent = []
            for i in range(5):
                sent.append(time.monotonic())
                await store.append(run_id, "messages", str(i))
                await asyncio.sleep(0.03)
            await store.end_stream(run_id)
            await asyncio.wait_for(reader, 5)
            assert max(b - a for a, b in zip(sent, seen[1:], strict=True)) < 0.1

    async def test_resume_has_no_gap_and_no_duplicate(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            texts = [f"tok{i} " for i in range(30)]

            async def write() -> None:
                for text in texts:
                    await store.append(run_id, "messages", f'"{text}"')
                    await asyncio.sleep(0.001)
                await store.end_stream(run_id)

            writer = asyncio.ensure_future(write())
            received: list[str] = []
            last = 0
            for stop_after in (4, 7, 100):  # read a few, drop the reader, resume after `last`
                reader = (await self.replica(store)).read(run_id, last)
                n = 0
                async for event in reader:
                    received.append(event.data.strip('"'))
                    last = event.id
                    n += 1
                    if n == stop_after:
                        break
                await reader.aclose()  # type: ignore[attr-defined]
            await writer
            assert "".join(received) == "".join(texts)

    async def test_concurrent_readers_each_get_everything(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            readers = [asyncio.ensure_future(_collect(store, run_id)) for _ in range(3)]
            await asyncio.sleep(0.01)
            for i in range(10):
                await store.append(run_id, "messages", str(i))
            await store.end_stream(run_id)
            for reader in readers:
                assert [e.id for e in await asyncio.wait_for(reader, 5)] == list(range(1, 11))

    async def test_a_reader_that_stops_reading_never_blocks_the_writer(self) -> None:
        async with self.opened(max_events=100) as store:
            run_id = await self.started(store)
            await store.append(run_id, "messages", "first")
            reader = store.read(run_id)
            first = await reader.__anext__()  # then it stops reading
            assert first.id == 1
            start = time.monotonic()
            for i in range(500):
                await store.append(run_id, "messages", str(i))
            assert time.monotonic() - start < 5
            await reader.aclose()  # type: ignore[attr-defined]

    async def test_retention_trims_old_events(self) -> None:
        async with self.opened(max_events=20) as store:
            run_id = await self.started(store)
            for i in range(100):
                await store.append(run_id, "messages", str(i))
            await store.end_stream(run_id)
            with pytest.raises(EventsExpired):
                await _collect(store, run_id, after=0)
            tail = await _collect(store, run_id, after=80)
            assert [e.id for e in tail] == list(range(81, 101))

    async def test_finished_runs_expire_after_ttl(self) -> None:
        async with self.opened(ttl=0.3) as store:
            done = await self.started(store)
            running = await self.started(store)
            await store.append(done, "end", "{}")
            await store.append(running, "messages", "x")
            await store.end_stream(done)
            await async_wait_until(lambda: store.get_run(done), is_=None, interval=0.02)
            with pytest.raises(RunNotFound):
                await _collect(store, done)
            assert await store.get_run(running) is not None
            assert await store.append(running, "messages", "y") == 2

    # ------------------------------------------------------------------ cancellation

    async def test_cancel_reaches_another_replica_within_50ms(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            other = await self.replica(store)
            waiter = asyncio.ensure_future(store.wait_cancel(run_id))
            await asyncio.sleep(0.1)
            assert not waiter.done()
            start = time.monotonic()
            assert await other.request_cancel(run_id) is True
            await asyncio.wait_for(waiter, 1)
            assert time.monotonic() - start < 0.05 + 0.05  # 50 ms plus scheduling slack

    async def test_cancel_requested_before_waiting(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            assert await store.request_cancel(run_id) is True
            await asyncio.wait_for(store.wait_cancel(run_id), 0.5)

    async def test_wait_cancel_does_not_return_without_a_request(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            other = await self.started(store)
            await store.request_cancel(other)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(store.wait_cancel(run_id), 0.2)

    async def test_cancel_of_unknown_or_finished_run_is_refused(self) -> None:
        async with self.opened() as store:
            assert await store.request_cancel("run_nope") is False
            run_id, record = await self.started_record(store)
            record.status = "success"
            await store.update_run(record)
            await store.end_stream(run_id)
            assert await store.request_cancel(run_id) is False

    # ------------------------------------------------------------------ positions

    async def test_last_event_id(self) -> None:
        async with self.opened() as store:
            run_id = await self.started(store)
            assert await store.last_event_id(run_id) == 0
            for i in range(3):
                await store.append(run_id, "messages", str(i))
            assert await store.last_event_id(run_id) == 3
            await store.end_stream(run_id)
            assert await (await self.replica(store)).last_event_id(run_id) == 3
            with pytest.raises(RunNotFound):
                await store.last_event_id("run_nope")

    async def test_update_after_end_raises(self) -> None:
        async with self.opened() as store:
            run_id, record = await self.started_record(store)
            record.status = "success"
            await store.update_run(record)
            await store.end_stream(run_id)
            record.status = "error"
            with pytest.raises(RuntimeError):
                await store.update_run(record)
            again = await store.get_run(run_id)
            assert again is not None and again.status == "success"

    # ------------------------------------------------------------------ finished runs kept

    async def _finish(self, store: StreamStore, run_id: str, events: int, size: int) -> None:
        for i in range(events):
            await store.append(run_id, "messages", f'"{i:0{size}d}"')
        await store.end_stream(run_id)

    async def test_finished_runs_are_capped_by_count_oldest_first(self) -> None:
        async with self.opened(max_finished_runs=3) as store:
            running = await self.started(store)
            await store.append(running, "messages", "still going")
            finished = []
            for _ in range(6):
                run_id = await self.started(store)
                await self._finish(store, run_id, events=2, size=8)
                finished.append(run_id)
            other = await self.replica(store)
            kept = [run_id for run_id in finished if await other.get_run(run_id) is not None]
            assert kept == finished[-3:]
            with pytest.raises(RunNotFound):
                await _collect(other, finished[0])
            assert [e.id for e in await _collect(other, finished[-1])] == [1, 2]
            assert await other.get_run(running) is not None  # running runs are never evicted
            assert await store.append(running, "messages", "more") == 2

    async def test_finished_runs_are_capped_by_bytes_oldest_first(self) -> None:
        async with self.opened(max_finished_bytes=50_000) as store:
            finished = []
            for _ in range(6):
                run_id = await self.started(store)
                await self._finish(store, run_id, events=20, size=1000)  # 20 kB or more
                finished.append(run_id)
            other = await self.replica(store)
            kept = [run_id for run_id in finished if await other.get_run(run_id) is not None]
            assert 1 <= len(kept) <= 2
            assert kept == finished[-len(kept) :]  # the newest ones, the oldest went first

    async def test_the_newest_finished_run_is_kept_even_past_the_byte_cap(self) -> None:
        async with self.opened(max_finished_bytes=1_000) as store:
            big = await self.started(store)
            await self._finish(store, big, events=10, size=1000)
            assert [e.id for e in await _collect(store, big)] == list(range(1, 11))
            small = await self.started(store)
            await self._finish(store, small, events=1, size=1)
            assert await store.get_run(big) is None
            assert await store.get_run(small) is not None
