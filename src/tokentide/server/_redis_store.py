"""`RedisStreamStore`: run streams shared by many server replicas through Redis Streams.

Keys of one run (``{run_id}`` is a hash tag, so both keys live in one cluster slot):

- ``<prefix>:run:{<run_id>}``: a hash: ``record`` (the `RunRecord` as JSON), ``status``,
  ``ended`` and ``cancel`` flags, ``owner`` and ``lease`` (see below).
- ``<prefix>:run:{<run_id>}:events``: a stream; event *n* has the stream id ``0-n``, assigned by
  Redis (``XADD ... 0-*``), so ids are exactly 1, 2, 3, ... and a gap can only mean trimming.
  Each entry holds ``e`` (the event name) and ``d`` (the data); :meth:`end_stream` adds one
  last entry holding ``end``, which wakes every reader blocked in ``XREAD``.

Retention: every ``max(16, max_events // 8)`` appends the stream is trimmed to exactly
``max_events`` entries (``XTRIM MAXLEN``), the same bound as the memory store; ``XADD MAXLEN ~``
alone trims only whole radix-tree nodes (100 entries by default), too coarse for small limits.
Both keys expire ``stale_after`` seconds after the last append (renewed by each append), and
``ttl`` seconds after the stream ended. Finished runs are also listed, with their size
(``MEMORY USAGE``), in ``{<prefix>:finished}:*`` keys, which evict the oldest ones past
``max_finished_runs`` or ``max_finished_bytes``.

Leases: the store that creates a run owns it and renews its lease (``lease`` seconds) every
``lease / 3`` seconds until it ends the run. A run whose lease lapsed is ended as ``failed``
by the first replica that looks at it (a reader waiting for events, ``get_run``,
``request_cancel``, or the periodic sweep of ``<prefix>:leases``, a sorted set of lease ends):
one Lua script checks the lease against Redis's clock and, atomically, writes the ``error``
event and ends the stream. An owner that finds its run ended this way stops it.

Failures: redis-py's errors (connection refused or reset, timeouts, a server loading or read
only) become `StoreUnavailable`; a pooled connection that died with the server is retried once
on a new connection, so the store is back as soon as Redis is. The socket timeout is longer
than ``XREAD BLOCK``, so a silent run never times out its readers.

Appending, ending and requesting a cancel are Lua scripts (``_redis_scripts``): each is one
round trip and atomic. Cancel requests set the ``cancel`` flag and are published on
``<prefix>:cancel:<run_id>``; one pattern subscription per store (one connection per replica)
wakes the local ``wait_cancel`` callers, and a slow poll of the flag covers a dropped
subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ReadOnlyError

from tokentide.runtime import wait_within

from . import _redis_scripts as scripts
from ._store import (
    DEFAULT_MAX_FINISHED_BYTES,
    DEFAULT_MAX_FINISHED_RUNS,
    EventsExpired,
    RunEvent,
    RunNotFound,
    RunRecord,
    StoreUnavailable,
    check_retention,
)

__all__ = ["RedisStreamStore"]

logger = logging.getLogger("tokentide.server")

_DOWN = (aioredis.ConnectionError, aioredis.TimeoutError, ReadOnlyError, OSError)
"""Errors meaning Redis cannot serve now (``BusyLoadingError`` is a ``ConnectionError``)."""
_READ_MARGIN = 5.0
"""Seconds the socket timeout exceeds ``XREAD BLOCK`` by."""


class RedisStreamStore:
    """A `StreamStore` in Redis: any replica can read, resume or cancel any run.

    - ``url``: a Redis URL (``redis://host:6379/0``, ``rediss://...``, ``unix://...``).
    - ``max_events``: the most recent events kept per run (trimmed exactly, in batches: up to
      ``max_events * 1.125`` (at least ``max_events + 16``) may be held for a moment).
    - ``ttl``: seconds a run (record and events) is kept after its stream ended.
    - ``max_finished_runs``, ``max_finished_bytes``: how many finished runs, and how many
      bytes of them (Redis's ``MEMORY USAGE``), all replicas together keep at most; the
      oldest finished are deleted first.
    - ``lease``: seconds a run stays owned by this store without a renewal; renewed every
      ``lease / 3`` seconds while it runs. A replica that is killed, frozen or cut off from
      Redis for longer loses its runs: they end as ``failed`` (reason ``replica_lost``).
    - ``stale_after``: seconds after which a run whose writer went silent is forgotten (a
      last resort: a lost run is normally ended by its lease first).
    - ``prefix``: the start of every key and channel name.
    - ``block_ms``: how long one ``XREAD BLOCK`` waits before a reader checks that its run
      still exists and is still owned (at most ``lease / 2``).
    - ``client``: a ready ``redis.asyncio.Redis`` (``decode_responses=True``) instead of
      ``url``; its socket timeout, if any, must exceed the block time (the block is shortened
      otherwise).

    Needs Redis 7.0 or later (stream ids ``0-*``). Call :meth:`aclose` when done.

    Example::

        store = RedisStreamStore("redis://127.0.0.1:6379/0", max_events=10_000, ttl=3600)
        await store.create_run(RunRecord(run_id="r1", assistant="fake"))
        await store.append("r1", "messages", '["Hel"]')  # 1
        await store.end_stream("r1")
        [event.id async for event in store.read("r1")]  # [1]
        await store.aclose()
    """

    def __init__(
        self,
        url: str,
        *,
        max_events: int = 10_000,
        ttl: float = 3600.0,
        max_finished_runs: int = DEFAULT_MAX_FINISHED_RUNS,
        max_finished_bytes: int = DEFAULT_MAX_FINISHED_BYTES,
        lease: float = 30.0,
        stale_after: float = 86_400.0,
        prefix: str = "tokentide",
        block_ms: int = 5_000,
        client: aioredis.Redis | None = None,
    ) -> None:
        check_retention(max_events, ttl, max_finished_runs, max_finished_bytes)
        if stale_after <= 0:
            raise ValueError(f"stale_after must be > 0 seconds, got {stale_after}")
        if block_ms < 1:
            raise ValueError(f"block_ms must be at least 1, got {block_ms}")
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease}")
        self.url = url
        self.max_events = max_events
        self.ttl = ttl
        self.max_finished_runs = max_finished_runs
        self.max_finished_bytes = max_finished_bytes
        self.lease = lease
        self.stale_after = stale_after
        self.prefix = prefix
        self.block_ms = block_ms
        self.owner = uuid.uuid4().hex
        self._slack = max(16, max_events // 8)
        self._block = max(1, min(block_ms, int(lease * 500)))
        self._client = client or self._connect(url)
        timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
        if timeout is not None and timeout * 1000 <= self._block + 500:
            self._block = max(1, int(timeout * 1000) - 1000)
        register = self._client.register_script
        self._script = {name: register(getattr(scripts, name)) for name in scripts.__all__}
        self._cancel_waiters: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._owned: set[str] = set()
        self._lost: set[str] = set()
        self._keeper: asyncio.Task[None] | None = None

    def _connect(self, url: str) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=self._block / 1000 + _READ_MARGIN,
            socket_connect_timeout=_READ_MARGIN,
            # A connection that died with the server is replaced at once (twice at most); a
            # timeout is not retried: the command may have run, and Redis is not answering.
            retry=Retry(
                ExponentialBackoff(cap=0.25, base=0.02),
                retries=2,
                supported_errors=(aioredis.ConnectionError,),
            ),
            retry_on_timeout=False,
        )

    def __repr__(self) -> str:
        return f"RedisStreamStore({_safe_url(self.url)!r}, prefix={self.prefix!r})"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Redis errors meaning "not now" as `StoreUnavailable`."""
        try:
            yield
        except _DOWN as exc:
            raise StoreUnavailable(
                f"the run store (Redis at {_safe_url(self.url)}) is unavailable: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # keys

    def _record_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{{{run_id}}}"

    def _events_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{{{run_id}}}:events"

    def _cancel_channel(self, run_id: str) -> str:
        return f"{self.prefix}:cancel:{run_id}"

    def _keys(self, run_id: str) -> list[str]:
        return [self._record_key(run_id), self._events_key(run_id)]

    @property
    def _leases_key(self) -> str:
        return f"{self.prefix}:leases"

    def _finished_keys(self) -> list[str]:
        tag = f"{{{self.prefix}:finished}}"
        return [f"{tag}:runs", f"{tag}:sizes", f"{tag}:bytes"]

    @property
    def _stale_ms(self) -> int:
        return max(1, int(self.stale_after * 1000))

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _lost_args(self, run_id: str) -> list[str | int]:
        """ARGV of a script that may end ``run_id`` as lost: its error event, the TTL."""
        error = {
            "type": "ReplicaLost",
            "message": (
                f"run {run_id!r} was lost: the replica executing it stopped renewing its "
                f"lease for more than {self.lease:g} s (killed, frozen or cut off from "
                "Redis); start the run again"
            ),
            "retryable": True,
            "partial": None,
            "reason": "replica_lost",
        }
        return [json.dumps(error, separators=(",", ":")), self._ttl_ms]

    # records

    async def create_run(self, record: RunRecord) -> None:
        run_id = record.run_id
        lease_ms = int(self.lease * 1000)
        args: list[str | int] = [_dump(record), record.status, self.owner, lease_ms, self._stale_ms]
        with self._guard():
            lease = await self._script["CREATE"](keys=[self._record_key(run_id)], args=args)
            if not lease:
                raise ValueError(f"run {run_id!r} already exists")
            await self._client.zadd(self._leases_key, {run_id: int(lease)})
        self._owned.add(run_id)
        self._ensure_keeper()

    async def update_run(self, record: RunRecord) -> None:
        args = [_dump(record), record.status]
        try:
            with self._guard():
                await self._script["UPDATE"](keys=[self._record_key(record.run_id)], args=args)
        except aioredis.ResponseError as exc:
            raise _translate(exc, record.run_id) from None

    async def get_run(self, run_id: str) -> RunRecord | None:
        with self._guard():
            reply = await self._script["GET"](keys=self._keys(run_id), args=self._lost_args(run_id))
        if not reply:
            return None
        text, failure, failed_at, lost = reply
        if not text:
            return None
        record = RunRecord.from_dict(json.loads(text))
        if failure:
            record.status = "failed"
            record.error = json.loads(failure)
            record.updated_at = int(failed_at) / 1000
        if int(lost):
            await self._after_lost(run_id)
        return record

    # events

    async def append(self, run_id: str, event: str, data: str) -> int:
        args: list[str | int] = [self.max_events, event, data, self._stale_ms, self._slack]
        try:
            with self._guard():
                entry_id = await self._script["APPEND"](keys=self._keys(run_id), args=args)
        except aioredis.ResponseError as exc:
            raise _translate(exc, run_id) from None
        return _sequence(entry_id)

    async def end_stream(self, run_id: str) -> None:
        try:
            with self._guard():
                ended = await self._script["END"](keys=self._keys(run_id), args=[self._ttl_ms])
        except aioredis.ResponseError as exc:
            raise _translate(exc, run_id) from None
        self._owned.discard(run_id)
        if ended:
            await self._after_end(run_id)

    async def last_event_id(self, run_id: str) -> int:
        with self._guard():
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.exists(self._record_key(run_id))
                pipe.xrevrange(self._events_key(run_id), count=1)
                exists, last = await pipe.execute()
        if not exists:
            raise RunNotFound(run_id)
        if not last:
            return 0
        entry_id, fields = last[0]
        sequence = _sequence(entry_id)
        return sequence - 1 if "end" in fields else sequence

    async def read(self, run_id: str, after: int = 0) -> AsyncIterator[RunEvent]:
        """Replay the events after ``after``, then follow the live stream until it ends."""
        with self._guard():
            async for event in self._read(run_id, max(after, 0)):
                yield event

    async def _read(self, run_id: str, position: int) -> AsyncIterator[RunEvent]:
        if not await self._client.exists(self._record_key(run_id)):
            raise RunNotFound(run_id)
        key = self._events_key(run_id)
        block: int | None = None  # None: return at once; else wait up to this many ms
        ended = False
        while True:
            reply = await self._client.xread({key: f"0-{position}"}, count=512, block=block)
            entries = _entries(reply)
            if not entries:
                if block is not None:
                    block = None  # timed out: look again, then check the run and its owner
                elif ended:
                    return  # ``after`` was past the end of an ended stream
                elif await self._ended(run_id):
                    ended = True  # its end marker is in the stream: one more look finds it
                else:
                    block = self._block
                continue
            for entry_id, fields in entries:
                sequence = _sequence(entry_id)
                if sequence != position + 1:
                    raise EventsExpired(
                        f"run {run_id!r}: events after id {position} were trimmed "
                        f"(next kept: {sequence})"
                    )
                if "end" in fields:
                    return
                position = sequence
                yield RunEvent(sequence, fields["e"], fields["d"])
            block = self._block  # returns at once when more entries are already there

    async def _ended(self, run_id: str) -> bool:
        """Whether the run's stream has ended (a run whose lease lapsed is ended now, as
        lost); `RunNotFound` if the run is gone."""
        state = await self._script["STATE"](keys=self._keys(run_id), args=self._lost_args(run_id))
        if state == -1:
            raise RunNotFound(run_id)
        if state == 2:
            await self._after_lost(run_id)
        return bool(state)

    # retention

    async def _after_end(self, run_id: str) -> None:
        """List an ended run in the retention index; delete the runs it evicts."""
        record_key, events_key = self._keys(run_id)
        try:
            with self._guard():
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.zrem(self._leases_key, run_id)
                    pipe.memory_usage(record_key)
                    pipe.memory_usage(events_key)
                    _, *sizes = await pipe.execute()
                size = sum(int(n or 0) for n in sizes)
                limits = [self.max_finished_runs, self.max_finished_bytes, self._ttl_ms]
                evicted = await self._script["RETAIN"](
                    keys=self._finished_keys(), args=[run_id, size, *limits]
                )
                if evicted:
                    keys = [key for old in evicted for key in self._keys(str(old))]
                    await self._client.unlink(*keys)
        except StoreUnavailable as exc:
            # The run is ended; only its place in the index is missing (its keys still expire
            # after ``ttl``).
            logger.warning("run %s: not added to the retention index: %s", run_id, exc)

    async def _after_lost(self, run_id: str) -> None:
        logger.warning("run %s was lost by its replica (its lease lapsed): ended as failed", run_id)
        await self._after_end(run_id)

    # cancellation

    async def request_cancel(self, run_id: str) -> bool:
        args = [*self._lost_args(run_id), self._cancel_channel(run_id)]
        with self._guard():
            done = await self._script["CANCEL"](keys=self._keys(run_id), args=args)
        if done == -1:
            await self._after_lost(run_id)
        return bool(done == 1)

    async def wait_cancel(self, run_id: str) -> None:
        """Return when a cancel of ``run_id`` is requested on any replica (within a few ms),
        when this store lost the run (its lease lapsed: another replica ended it), or once the
        run's stream has ended (within a second; a watcher whose cancellation a client library
        lost still stops: redis-py's ``asyncio.wait_for`` on Python < 3.12 can lose it)."""
        self._ensure_listener()
        with contextlib.suppress(asyncio.TimeoutError):
            await wait_within(self._subscribed.wait(), 1.0)
        flag = asyncio.Event()
        waiters = self._cancel_waiters.setdefault(run_id, set())
        waiters.add(flag)
        try:
            while run_id not in self._lost:
                # Subscribed before the flag was read: a later request reaches the listener.
                # Otherwise (not yet subscribed, or reconnecting) poll the flag quickly.
                pause = 1.0 if self._subscribed.is_set() else 0.04
                try:
                    if await self._cancel_requested(run_id):
                        return
                except StoreUnavailable:
                    pause = 0.5  # Redis is away: the run goes on; look again soon
                with contextlib.suppress(asyncio.TimeoutError):
                    await wait_within(flag.wait(), pause)
                if flag.is_set():
                    return
        finally:
            self._lost.discard(run_id)
            waiters.discard(flag)
            if not waiters:
                self._cancel_waiters.pop(run_id, None)

    async def _cancel_requested(self, run_id: str) -> bool:
        """Whether waiting for a cancel of ``run_id`` is over: one was requested, or the run's
        stream has ended (no cancel can reach it any more)."""
        key = self._record_key(run_id)
        with self._guard():
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.exists(key)
                pipe.hget(key, "cancel")
                pipe.hget(key, "ended")
                exists, cancel, ended = await pipe.execute()
        if not exists:
            raise RunNotFound(run_id)
        return bool(cancel == "1" or ended == "1")

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name=f"{self!r} cancel listener")

    async def _listen(self) -> None:
        """Deliver cancel requests published by any replica to the local waiters; resubscribe
        after a lost connection."""
        prefix = f"{self.prefix}:cancel:"
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(f"{_glob_escape(prefix)}*")
                while True:
                    message: dict[str, Any] | None = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        self._subscribed.set()
                    elif message["type"] == "pmessage":
                        self._wake(str(message["channel"])[len(prefix) :])
            except _DOWN:
                await asyncio.sleep(0.2)
            except Exception:
                logger.exception("the cancel subscription failed; subscribing again")
                await asyncio.sleep(1.0)
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _wake(self, run_id: str) -> None:
        for flag in self._cancel_waiters.get(run_id, ()):
            flag.set()

    # leases

    def _ensure_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name=f"{self!r} lease keeper")

    async def _keep(self) -> None:
        """Every ``lease / 3`` seconds: renew the leases of this store's runs, and end as lost
        the runs of any replica whose lease lapsed."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._renew()
                await self._sweep()
            except StoreUnavailable as exc:
                logger.warning("run leases not renewed: %s", exc)
            except Exception:
                logger.exception("run leases not renewed")

    async def _renew(self) -> None:
        owned = list(self._owned)
        if not owned:
            return
        renew = self._script["RENEW"]
        lease_ms = int(self.lease * 1000)
        with self._guard():
            async with self._client.pipeline(transaction=False) as pipe:
                for run_id in owned:
                    await renew(
                        keys=[self._record_key(run_id)], args=[lease_ms, self.owner], client=pipe
                    )
                ends = await pipe.execute()
            pairs = list(zip(owned, ends, strict=True))
            leases = {run_id: int(end) for run_id, end in pairs if int(end) > 0}
            if leases:
                await self._client.zadd(self._leases_key, leases)
        for run_id, end in pairs:
            if int(end) < 0 and run_id in self._owned:
                # Ended by another replica (this one was too slow to renew), or gone: stop it.
                self._owned.discard(run_id)
                self._lost.add(run_id)
                self._wake(run_id)

    async def _sweep(self) -> None:
        """End the runs whose lease lapsed, wherever they ran (a bounded batch per call)."""
        with self._guard():
            seconds, micros = await self._client.time()
            now = int(seconds) * 1000 + int(micros) // 1000
            due = await self._client.zrangebyscore(self._leases_key, "-inf", now, start=0, num=64)
            for entry in due:
                run_id = str(entry)
                try:
                    if await self._ended(run_id):
                        await self._client.zrem(self._leases_key, run_id)
                except RunNotFound:
                    await self._client.zrem(self._leases_key, run_id)

    async def aclose(self) -> None:
        for attribute in ("_listener", "_keeper"):
            task: asyncio.Task[None] | None = getattr(self, attribute)
            setattr(self, attribute, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._client.aclose()


def _dump(record: RunRecord) -> str:
    return json.dumps(record.to_dict(), separators=(",", ":"), ensure_ascii=False)


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of a one-stream ``XREAD`` reply (RESP2: a list of pairs; RESP3: a map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


def _sequence(entry_id: str | bytes) -> int:
    """``"0-17"`` -> ``17``."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.rpartition("-")[2])


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _translate(exc: aioredis.ResponseError, run_id: str) -> Exception:
    text = str(exc)
    if "NOTFOUND" in text:
        return RunNotFound(run_id)
    if "ENDED" in text:
        return RuntimeError(f"run {run_id!r}: its stream has ended (append or update after end)")
    return exc


def _safe_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
