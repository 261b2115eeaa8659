"""`RedisStreamStore`: run streams shared by many server replicas through Redis Streams.

Keys of one run (``{run_id}`` is a hash tag, so both keys live in one cluster slot):

- ``<prefix>:run:{<run_id>}``: a hash: ``record`` (the `RunRecord` as JSON), ``status``,
  ``ended`` and ``cancel`` flags.
- ``<prefix>:run:{<run_id>}:events``: a stream; event *n* has the stream id ``0-n``, assigned by
  Redis (``XADD ... 0-*``), so ids are exactly 1, 2, 3, ... and a gap can only mean trimming.
  Each entry holds ``e`` (the event name) and ``d`` (the data); :meth:`end_stream` adds one
  last entry holding ``end``, which wakes every reader blocked in ``XREAD``.

Retention: every ``max(16, max_events // 8)`` appends the stream is trimmed to exactly
``max_events`` entries (``XTRIM MAXLEN``), the same bound as the memory store; ``XADD MAXLEN ~``
alone trims only whole radix-tree nodes (100 entries by default), too coarse for small limits.
Both keys expire ``stale_after`` seconds after the last append (renewed by each append), and
``ttl`` seconds after the stream ended.

Appending, ending and requesting a cancel are Lua scripts: each is one round trip and atomic.
Cancel requests set the ``cancel`` flag and are published on ``<prefix>:cancel:<run_id>``; one
pattern subscription per store (one connection per replica) wakes the local ``wait_cancel``
callers, and a slow poll of the flag covers a dropped subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from ._store import EventsExpired, RunEvent, RunNotFound, RunRecord

__all__ = ["RedisStreamStore"]

_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND') end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return redis.error_reply('ENDED') end
local id = redis.call('XADD', KEYS[2], '0-*', 'e', ARGV[2], 'd', ARGV[3])
local n = tonumber(string.match(id, '%-(%d+)$'))
if n > tonumber(ARGV[1]) and n % tonumber(ARGV[5]) == 0 then
  redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return id
"""

_END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND') end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'ended', '1')
redis.call('XADD', KEYS[2], '0-*', 'end', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""

_CANCEL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'success' or status == 'error' or status == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
redis.call('PUBLISH', ARGV[1], '1')
return 1
"""

_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND') end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'status', ARGV[2])
return 1
"""


class RedisStreamStore:
    """A `StreamStore` in Redis: any replica can read, resume or cancel any run.

    - ``url``: a Redis URL (``redis://host:6379/0``, ``rediss://...``, ``unix://...``).
    - ``max_events``: the most recent events kept per run (trimmed exactly, in batches: up to
      ``max_events * 1.125`` (at least ``max_events + 16``) may be held for a moment).
    - ``ttl``: seconds a run (record and events) is kept after its stream ended.
    - ``stale_after``: seconds after which a run whose writer went silent (a replica that died
      mid-run) is forgotten; every append renews it. It must exceed the longest pause of a
      live run.
    - ``prefix``: the start of every key and channel name.
    - ``block_ms``: how long one ``XREAD BLOCK`` waits before a reader checks that its run
      still exists.

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
        stale_after: float = 86_400.0,
        prefix: str = "tokentide",
        block_ms: int = 5_000,
        client: aioredis.Redis | None = None,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        if ttl < 0:
            raise ValueError(f"ttl must be >= 0 seconds, got {ttl}")
        if stale_after <= 0:
            raise ValueError(f"stale_after must be > 0 seconds, got {stale_after}")
        if block_ms < 1:
            raise ValueError(f"block_ms must be at least 1, got {block_ms}")
        self.url = url
        self.max_events = max_events
        self.ttl = ttl
        self.stale_after = stale_after
        self.prefix = prefix
        self.block_ms = block_ms
        self._slack = max(16, max_events // 8)
        self._client: aioredis.Redis = client or aioredis.Redis.from_url(url, decode_responses=True)
        self._append = self._client.register_script(_APPEND)
        self._end = self._client.register_script(_END)
        self._cancel = self._client.register_script(_CANCEL)
        self._update = self._client.register_script(_UPDATE)
        self._cancel_waiters: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def __repr__(self) -> str:
        return f"RedisStreamStore({self.url!r}, prefix={self.prefix!r})"

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
    def _stale_ms(self) -> int:
        return max(1, int(self.stale_after * 1000))

    # records

    async def create_run(self, record: RunRecord) -> None:
        key = self._record_key(record.run_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "record", _dump(record))
            pipe.hset(key, "status", record.status)
            pipe.pexpire(key, self._stale_ms)
            created, *_ = await pipe.execute()
        if not created:
            raise ValueError(f"run {record.run_id!r} already exists")

    async def update_run(self, record: RunRecord) -> None:
        try:
            await self._update(
                keys=[self._record_key(record.run_id)], args=[_dump(record), record.status]
            )
        except aioredis.ResponseError as exc:
            raise _translate(exc, record.run_id) from None

    async def get_run(self, run_id: str) -> RunRecord | None:
        text = await self._client.hget(self._record_key(run_id), "record")
        if text is None:
            return None
        return RunRecord.from_dict(json.loads(text))

    # events

    async def append(self, run_id: str, event: str, data: str) -> int:
        try:
            entry_id = await self._append(
                keys=self._keys(run_id),
                args=[self.max_events, event, data, self._stale_ms, self._slack],
            )
        except aioredis.ResponseError as exc:
            raise _translate(exc, run_id) from None
        return _sequence(entry_id)

    async def end_stream(self, run_id: str) -> None:
        ttl_ms = max(1, int(self.ttl * 1000))
        try:
            await self._end(keys=self._keys(run_id), args=[ttl_ms])
        except aioredis.ResponseError as exc:
            raise _translate(exc, run_id) from None

    async def read(self, run_id: str, after: int = 0) -> AsyncIterator[RunEvent]:
        """Replay the events after ``after``, then follow the live stream until it ends."""
        position = max(after, 0)
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
                    block = None  # timed out: look again, then check that the run still exists
                elif ended:
                    return  # ``after`` was past the end of an ended stream
                elif await self._ended(run_id):
                    ended = True  # its end marker is in the stream: one more look finds it
                else:
                    block = self.block_ms
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
            block = self.block_ms  # returns at once when more entries are already there

    async def _ended(self, run_id: str) -> bool:
        """Whether the run's stream has ended; `RunNotFound` if the run is gone."""
        key = self._record_key(run_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            pipe.hget(key, "ended")
            exists, ended = await pipe.execute()
        if not exists:
            raise RunNotFound(run_id)
        return bool(ended == "1")

    # cancellation

    async def request_cancel(self, run_id: str) -> bool:
        done = await self._cancel(
            keys=[self._record_key(run_id)], args=[self._cancel_channel(run_id)]
        )
        return bool(done)

    async def wait_cancel(self, run_id: str) -> None:
        """Return when a cancel of ``run_id`` is requested on any replica (within a few ms)."""
        self._ensure_listener()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=1.0)
        flag = asyncio.Event()
        waiters = self._cancel_waiters.setdefault(run_id, set())
        waiters.add(flag)
        try:
            while True:
                # Subscribed before the flag was read: a later request reaches the listener.
                # Otherwise (not yet subscribed, or reconnecting) poll the flag quickly.
                subscribed = self._subscribed.is_set()
                if await self._cancel_requested(run_id):
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(flag.wait(), timeout=1.0 if subscribed else 0.04)
                if flag.is_set():
                    return
        finally:
            waiters.discard(flag)
            if not waiters:
                self._cancel_waiters.pop(run_id, None)

    async def _cancel_requested(self, run_id: str) -> bool:
        key = self._record_key(run_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            pipe.hget(key, "cancel")
            exists, cancel = await pipe.execute()
        if not exists:
            raise RunNotFound(run_id)
        return bool(cancel == "1")

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
                        run_id = str(message["channel"])[len(prefix) :]
                        for flag in self._cancel_waiters.get(run_id, ()):
                            flag.set()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                await asyncio.sleep(0.2)
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
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
        return RuntimeError(f"run {run_id!r}: append after end_stream")
    return exc
