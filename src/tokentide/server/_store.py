"""Run streams: the `StreamStore` contract and the in-process `MemoryStreamStore`.

A *run* is one execution of an assistant (a model or a graph). While it runs, the replica that
executes it appends its output events to the store; any number of readers, on any replica, read
them back from any position and then follow the live tail until the run ends. This is what makes
streams resumable (``Last-Event-ID``) and cancellable from anywhere (``request_cancel``).

The contract below is written for implementers (the Redis Streams store implements it too);
``tests/server/store_contract.py`` checks it against any implementation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_MAX_FINISHED_BYTES",
    "DEFAULT_MAX_FINISHED_RUNS",
    "TERMINAL_STATUSES",
    "EventsExpired",
    "MemoryStreamStore",
    "RunEvent",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "StoreUnavailable",
    "StreamStore",
    "check_retention",
]

RunStatus = Literal["pending", "running", "success", "error", "cancelled", "failed", "interrupted"]
"""``error``: the run itself raised; ``failed``: the run was lost (the replica executing it
stopped renewing its lease: killed, frozen or cut off from the store)."""
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"success", "error", "cancelled", "failed", "interrupted"}
)

DEFAULT_MAX_FINISHED_RUNS = 10_000
"""Finished runs a store keeps by default (the oldest finished are forgotten first)."""
DEFAULT_MAX_FINISHED_BYTES = 256 * 1024 * 1024
"""Bytes of finished runs (events and records) a store keeps by default."""


class RunNotFound(LookupError):
    """No run with this id (never created, or expired)."""


class EventsExpired(LookupError):
    """The events after the requested position were trimmed by the retention limits: the
    reader cannot continue without a gap."""


class StoreUnavailable(ConnectionError):
    """The store cannot be reached (Redis is down, restarting or unreachable); nothing is
    lost by trying again after ``retry_after`` seconds. The server answers ``503`` with
    ``Retry-After``, and a live event stream ends with an ``error`` event of this type."""

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One event of a run stream.

    ``id``: 1 for the first event of the run, then consecutive integers (the SSE ``id:`` field,
    which a client sends back as ``Last-Event-ID``). ``event``: the SSE event name
    (``metadata``, ``messages``, ``values``, ``updates``, ``custom``, ``interrupt``, ``end``,
    ``error``).
    ``data``: the payload, already serialized as one line of JSON text.
    """

    id: int
    event: str
    data: str


@dataclass(slots=True)
class RunRecord:
    """What is known about a run besides its events: its status and, once it has ended, its
    final (or partial) output, token usage and error.

    Every field is JSON-serializable (:meth:`to_dict` / :meth:`from_dict`), so a store can keep
    the record as one JSON document.

    Example::

        record = RunRecord(run_id="run_1", assistant="gpt-4o-mini")
        record.status  # "pending"
        RunRecord.from_dict(record.to_dict()) == record  # True
    """

    run_id: str
    assistant: str
    status: RunStatus = "pending"
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    output: Any = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The graph thread the run ran on (a graph with a checkpointer), to continue it.
    thread_id: str | None = None
    #: A run that paused (status ``interrupted``): its interrupts, ``[{"value", "id"}]``.
    interrupts: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(**data)


@runtime_checkable
class StreamStore(Protocol):
    """Where run streams and run records live. The contract every store honours:

    **Records.** :meth:`create_run` stores a new record (its ``run_id`` must be new);
    :meth:`update_run` replaces the stored record (``RuntimeError`` once the stream has
    ended: a run's final record is written before its end); :meth:`get_run` returns a copy of
    the record, or ``None`` when the run is unknown or has expired.

    **Events.** Only the replica executing a run appends to it (one writer per run).
    :meth:`append` gives the event the next id (1, 2, 3, ... per run) and returns it; readers
    are woken at once. :meth:`end_stream` says no more events will come; appending after it
    raises ``RuntimeError``; ending twice is harmless. ``append`` or ``end_stream`` on an
    unknown run raises `RunNotFound`. :meth:`last_event_id` is the id of the last event
    appended so far (0: none), so that a reader can tell a position past the end.

    **Reading.** ``read(run_id, after=n)`` yields every event with ``id > n`` in id order
    (replay), then waits for and yields new events as they are appended (follow), and returns
    once the stream is ended and every event was yielded. No gap, no duplicate: a reader that
    resumes with ``after`` = the last id it saw continues exactly where it stopped. It raises
    `RunNotFound` (unknown run) or `EventsExpired` (an event it would have to yield next was
    trimmed), either at its first step or later. A reader never makes the writer wait: it reads
    at its own pace; the retention limits bound what a slow reader can make the store keep.

    **Retention.** A store keeps at least the ``max_events`` most recent events of each run
    (older ones may be trimmed) and forgets a run (record and events) ``ttl`` seconds after
    its stream was ended. Of the finished runs (stream ended) it keeps at most
    ``max_finished_runs`` and about ``max_finished_bytes`` bytes: past either, the runs that
    finished first are forgotten first (the last one to finish is always kept). Running runs
    are never forgotten.

    **Cancellation across replicas.** :meth:`request_cancel` may be called on any replica; it
    returns ``True`` if the run exists and has not reached a terminal status. The replica
    executing the run awaits :meth:`wait_cancel`, which returns within 50 ms of a request made
    anywhere (at once if the request came before the call), and never returns otherwise (the
    executor cancels the waiting task when the run ends).

    **Failures.** Every method raises `StoreUnavailable` while the backend cannot be reached,
    and works again by itself once it can (no stale connection is reused). A store shared by
    replicas gives each run an owner lease, renewed while the run is executed; a run whose
    lease lapsed (its replica died) is ended by whichever replica notices first, with status
    ``failed`` and a last ``error`` event (type ``ReplicaLost``, reason ``replica_lost``).

    :meth:`aclose` releases connections; the store is not used afterwards.
    """

    async def create_run(self, record: RunRecord) -> None: ...

    async def update_run(self, record: RunRecord) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def append(self, run_id: str, event: str, data: str) -> int: ...

    async def end_stream(self, run_id: str) -> None: ...

    async def last_event_id(self, run_id: str) -> int: ...

    def read(self, run_id: str, after: int = 0) -> AsyncIterator[RunEvent]: ...

    async def request_cancel(self, run_id: str) -> bool: ...

    async def wait_cancel(self, run_id: str) -> None: ...

    async def aclose(self) -> None: ...


_EVENT_OVERHEAD = 120
"""Bytes of one kept event besides its text (the `RunEvent`, its string headers, the list
slot): the memory store's byte count is an estimate of what a run holds."""


class _Stream:
    """One run in a `MemoryStreamStore`."""

    __slots__ = (
        "record",
        "events",
        "first_id",
        "next_id",
        "ended",
        "waiters",
        "cancel",
        "expires",
        "size",
    )

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.events: list[RunEvent] = []
        self.first_id = 1  # id of events[0]
        self.next_id = 1
        self.ended = False
        self.waiters: list[asyncio.Future[None]] = []
        self.cancel = asyncio.Event()
        self.expires: float | None = None
        self.size = 0  # estimated bytes of the kept events

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


class MemoryStreamStore:
    """A `StreamStore` in the memory of one process: resumable, cancellable run streams with no
    external service (one server process; use the Redis store across replicas).

    ``max_events``: the most recent events kept per run (older ones are trimmed in batches, so
    up to ``max_events * 1.125`` may be held for a moment); ``ttl``: seconds a run is kept after
    its stream ended; ``max_finished_runs`` / ``max_finished_bytes``: how many finished runs,
    and how many bytes of them (an estimate: event texts plus about 120 bytes per event and
    the record), are kept at most; the oldest finished go first.

    Example::

        store = MemoryStreamStore(max_events=10_000, ttl=3600, max_finished_runs=1000)
        await store.create_run(RunRecord(run_id="r1", assistant="fake"))
        await store.append("r1", "messages", '["Hel"]')
        await store.end_stream("r1")
        [event.id async for event in store.read("r1")]  # [1]
    """

    def __init__(
        self,
        *,
        max_events: int = 10_000,
        ttl: float = 3600.0,
        max_finished_runs: int = DEFAULT_MAX_FINISHED_RUNS,
        max_finished_bytes: int = DEFAULT_MAX_FINISHED_BYTES,
    ) -> None:
        check_retention(max_events, ttl, max_finished_runs, max_finished_bytes)
        self.max_events = max_events
        self.ttl = ttl
        self.max_finished_runs = max_finished_runs
        self.max_finished_bytes = max_finished_bytes
        self._slack = max(16, max_events // 8)
        self._runs: dict[str, _Stream] = {}
        self._expiry: deque[tuple[float, str]] = deque()
        self._finished: OrderedDict[str, int] = OrderedDict()  # run id -> bytes, oldest first
        self._finished_bytes = 0

    def __len__(self) -> int:
        """Runs currently held (running or not yet expired)."""
        self._expire()
        return len(self._runs)

    @property
    def finished_bytes(self) -> int:
        """Estimated bytes held by the finished runs (what ``max_finished_bytes`` caps)."""
        self._expire()
        return self._finished_bytes

    def _forget(self, run_id: str) -> None:
        del self._runs[run_id]
        size = self._finished.pop(run_id, None)
        if size is not None:
            self._finished_bytes -= size

    def _expire(self) -> None:
        now = time.monotonic()
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, run_id = expiry.popleft()
            stream = self._runs.get(run_id)
            if stream is not None and stream.expires is not None and stream.expires <= now:
                self._forget(run_id)

    def _evict(self) -> None:
        """Forget the oldest finished runs while over a cap (never the newest one)."""
        finished = self._finished
        while len(finished) > 1 and (
            len(finished) > self.max_finished_runs or self._finished_bytes > self.max_finished_bytes
        ):
            run_id = next(iter(finished))
            self._forget(run_id)

    def _get(self, run_id: str) -> _Stream:
        self._expire()
        stream = self._runs.get(run_id)
        if stream is None:
            raise RunNotFound(run_id)
        return stream

    async def create_run(self, record: RunRecord) -> None:
        self._expire()
        if record.run_id in self._runs:
            raise ValueError(f"run {record.run_id!r} already exists")
        self._runs[record.run_id] = _Stream(RunRecord.from_dict(record.to_dict()))

    async def update_run(self, record: RunRecord) -> None:
        stream = self._get(record.run_id)
        if stream.ended:
            raise RuntimeError(f"run {record.run_id!r}: update_run after end_stream")
        stream.record = RunRecord.from_dict(record.to_dict())

    async def get_run(self, run_id: str) -> RunRecord | None:
        self._expire()
        stream = self._runs.get(run_id)
        return None if stream is None else RunRecord.from_dict(stream.record.to_dict())

    async def append(self, run_id: str, event: str, data: str) -> int:
        stream = self._runs.get(run_id)
        if stream is None:
            stream = self._get(run_id)
        if stream.ended:
            raise RuntimeError(f"run {run_id!r}: append after end_stream")
        event_id = stream.next_id
        stream.next_id = event_id + 1
        events = stream.events
        events.append(RunEvent(event_id, event, data))
        stream.size += len(data) + _EVENT_OVERHEAD
        if len(events) > self.max_events + self._slack:
            drop = len(events) - self.max_events
            stream.size -= sum(len(e.data) + _EVENT_OVERHEAD for e in events[:drop])
            del events[:drop]
            stream.first_id += drop
        if stream.waiters:
            stream.wake()
        return event_id

    async def end_stream(self, run_id: str) -> None:
        stream = self._get(run_id)
        if stream.ended:
            return
        stream.ended = True
        stream.expires = time.monotonic() + self.ttl
        self._expiry.append((stream.expires, run_id))
        size = stream.size + _EVENT_OVERHEAD + len(json.dumps(stream.record.to_dict()))
        self._finished[run_id] = size
        self._finished_bytes += size
        stream.wake()
        self._evict()

    async def last_event_id(self, run_id: str) -> int:
        return self._get(run_id).next_id - 1

    async def read(self, run_id: str, after: int = 0) -> AsyncIterator[RunEvent]:
        stream = self._get(run_id)
        loop = asyncio.get_running_loop()
        position = max(after, 0)
        while True:
            events = stream.events
            index = position + 1 - stream.first_id
            if index < 0:
                raise EventsExpired(
                    f"run {run_id!r}: events after id {position} were trimmed "
                    f"(oldest kept: {stream.first_id})"
                )
            if index < len(events):
                event = events[index]
                position = event.id
                yield event
                continue
            if stream.ended:
                return
            waiter: asyncio.Future[None] = loop.create_future()
            stream.waiters.append(waiter)
            await waiter

    async def request_cancel(self, run_id: str) -> bool:
        self._expire()
        stream = self._runs.get(run_id)
        if stream is None or stream.record.status in TERMINAL_STATUSES or stream.ended:
            return False
        stream.cancel.set()
        return True

    async def wait_cancel(self, run_id: str) -> None:
        await self._get(run_id).cancel.wait()

    async def aclose(self) -> None:
        for stream in self._runs.values():
            stream.wake()


def check_retention(
    max_events: int, ttl: float, max_finished_runs: int, max_finished_bytes: int
) -> None:
    """`ValueError` naming a retention limit that cannot work."""
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1, got {max_events}")
    if ttl < 0:
        raise ValueError(f"ttl must be >= 0 seconds, got {ttl}")
    if max_finished_runs < 1:
        raise ValueError(f"max_finished_runs must be at least 1, got {max_finished_runs}")
    if max_finished_bytes < 1:
        raise ValueError(f"max_finished_bytes must be at least 1, got {max_finished_bytes}")
