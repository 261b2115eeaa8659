"""Sinks (who listens to runs) and the bounded channel that hands items to a consumer.

A sink is attached to a scope; every run under that scope reports its life to it with typed
calls. A sink never calls back into the producer: it builds what its consumer wants (event
dicts, ``(chunk, metadata)`` tuples) and puts it into a bounded :class:`Channel`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._channel import ChannelClosed

if TYPE_CHECKING:
    from ._context import RunContext

__all__ = [
    "AGENT_RUN",
    "CLOSED_EARLY",
    "INVOKED",
    "Channel",
    "ChannelClosed",
    "RunSink",
    "SyncChannel",
]

#: ``run.extra`` key set (to ``True``) on a run whose consumer left before it finished
#: (``break``, ``aclose()``, cancellation), before its ``on_end``: observers mark it cancelled.
CLOSED_EARLY = "tokentide.closed_early"
#: ``run.extra`` key set on a model run made by ``invoke`` (not ``stream``), when listened to.
INVOKED = "tokentide.invoked"
#: ``run.extra`` key set on the run of a graph (an agent): observers give it an agent span.
AGENT_RUN = "tokentide.agent_run"

T = TypeVar("T")


class RunSink:
    """Receives the life of every run under the scope it is attached to. All no-ops here.

    Producers on the event loop check :attr:`backlogged` after a call and ``await
    drained()`` when it is true; producers on other threads are blocked inside the call.
    """

    __slots__ = ()

    @property
    def streams_tokens(self) -> bool:
        """Whether this sink (or one behind it) hands a model's tokens to a consumer: then a
        model's ``invoke`` reports its tokens to callback handlers too (LangChain streams a
        model called inside ``astream_events`` or a graph's ``messages`` mode)."""
        return False

    @property
    def wants_chain_runs(self) -> bool:
        """Whether this sink (or one behind it) reports chain runs: the runs that exist only
        to be reported (a graph's conditional edge, an agent's inner function, as LangGraph
        reports them) are made only then, never for a sink that watches models alone."""
        return True

    @property
    def backlogged(self) -> bool:
        return False

    async def drained(self) -> None:
        return None

    def on_start(self, run: RunContext, input: Any) -> None:
        """A run started; ``input`` is ``NO_INPUT`` when it arrives as a stream."""

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        """A run produced one output chunk."""

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        """A run finished (or was closed early: ``output`` is then what it produced so far)."""

    def on_error(self, run: RunContext, error: BaseException) -> None:
        """A run raised."""

    def on_custom(self, run: RunContext, name: str, data: Any) -> None:
        """User code dispatched a custom event."""


class Channel(Generic[T]):
    """A bounded single-consumer channel from producers (loop or other threads) to one async
    consumer on the event loop.

    - On the loop thread, :meth:`put` never blocks (it may exceed the cap by the items one
      synchronous step produces); producers then ``await wait_room()`` while :attr:`full`.
    - On another thread, :meth:`put` blocks until there is room.
    - :meth:`close` ends the stream, optionally with an exception raised to the consumer
      after the items already queued.
    """

    __slots__ = (
        "_closed",
        "_cond",
        "_error",
        "_items",
        "_loop",
        "_loop_thread",
        "_low",
        "_room_waiter",
        "_thread_waiting",
        "_waiter",
        "cancelled",
        "maxsize",
    )

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._low = max(1, maxsize // 2)
        self._items: deque[T] = deque()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._waiter: asyncio.Future[None] | None = None
        self._room_waiter: asyncio.Future[None] | None = None
        self._cond = threading.Condition()
        self._thread_waiting = 0
        self._closed = False
        self._error: BaseException | None = None
        self.cancelled = False

    @property
    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def put(self, item: T) -> None:
        if self.cancelled:
            raise ChannelClosed("the consumer of this stream has gone away")
        if threading.get_ident() == self._loop_thread:
            self._items.append(item)
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        with self._cond:
            while len(self._items) >= self.maxsize and not self.cancelled:
                self._thread_waiting += 1
                try:
                    self._cond.wait(0.5)
                finally:
                    self._thread_waiting -= 1
            if self.cancelled:
                raise ChannelClosed("the consumer of this stream has gone away")
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    async def wait_room(self) -> None:
        """Wait (on the loop) until the consumer has drained below the low-water mark."""
        while len(self._items) >= self._low and not self.cancelled:
            fut = self._room_waiter
            if fut is None or fut.done():
                fut = self._room_waiter = self._loop.create_future()
            await fut

    def close(self, error: BaseException | None = None) -> None:
        """End the stream (from the loop thread or another thread)."""
        if threading.get_ident() == self._loop_thread:
            self._close(error)
        else:
            self._loop.call_soon_threadsafe(self._close, error)

    def _close(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def cancel(self) -> None:
        """The consumer is gone: wake blocked producers and make further puts fail."""
        self.cancelled = True
        with self._cond:
            self._cond.notify_all()
        fut = self._room_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _made_room(self) -> None:
        fut = self._room_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)
        if self._thread_waiting:
            with self._cond:
                self._cond.notify_all()

    async def take(self) -> list[T]:
        """Wait for items and take all that are queued (``[]`` once closed and drained):
        one wake-up for a batch instead of one ``__anext__`` per item."""
        items = self._items
        while not items:
            if self._closed:
                error = self._error
                if error is not None:
                    self._error = None
                    raise error
                return []
            waiter = self._waiter = self._loop.create_future()
            if items or self._closed:
                self._waiter = None
                continue
            try:
                await waiter
            finally:
                self._waiter = None
        pop = items.popleft
        batch = [pop() for _ in range(len(items))]
        self._made_room()
        return batch

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        items = self._items
        while not items:
            if self._closed:
                error = self._error
                if error is not None:
                    self._error = None
                    raise error
                raise StopAsyncIteration
            waiter = self._waiter = self._loop.create_future()
            if items or self._closed:
                self._waiter = None
                continue
            try:
                await waiter
            finally:
                self._waiter = None
        item = items.popleft()
        if len(items) < self._low:
            self._made_room()
        return item


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class SyncChannel(Generic[T]):
    """A bounded channel from producer threads to one consumer thread (``for item in ch``).

    The consumer takes every queued item at each wake-up (one lock round-trip per batch, not
    per item), so a fast producer thread hands over tokens at a small cost each. ``put``
    blocks while ``maxsize`` items wait; :meth:`cancel` (the consumer left) makes blocked and
    later ``put`` calls raise :class:`ChannelClosed`.

    Example::

        ch: SyncChannel[int] = SyncChannel(64)
        threading.Thread(target=lambda: ([ch.put(i) for i in range(3)], ch.close())).start()
        assert list(ch) == [0, 1, 2]
    """

    __slots__ = (
        "_closed",
        "_cond",
        "_consumer_waiting",
        "_error",
        "_items",
        "_producers_waiting",
        "cancelled",
        "maxsize",
    )

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._consumer_waiting = False
        self._producers_waiting = 0
        self._closed = False
        self._error: BaseException | None = None
        self.cancelled = False

    @property
    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def put(self, item: T) -> None:
        # Fast path without the lock: ``deque.append`` is atomic, and a consumer about to
        # wait re-checks the queue under the lock after raising its flag (so no wake-up is
        # lost); the lock is taken only to wake a waiting consumer or to wait for room.
        if self.cancelled:
            raise ChannelClosed("the consumer of this stream has gone away")
        items = self._items
        if len(items) >= self.maxsize:
            self._wait_room()
        items.append(item)
        if self._consumer_waiting:
            with self._cond:
                # One wake-up per wait: later puts see the flag down and skip the lock.
                self._consumer_waiting = False
                self._cond.notify_all()

    def _wait_room(self) -> None:
        with self._cond:
            while len(self._items) >= self.maxsize and not self.cancelled:
                self._producers_waiting += 1
                if self._consumer_waiting:
                    self._cond.notify_all()
                try:
                    self._cond.wait(0.5)
                finally:
                    self._producers_waiting -= 1
            if self.cancelled:
                raise ChannelClosed("the consumer of this stream has gone away")

    def close(self, error: BaseException | None = None) -> None:
        """End the stream: the consumer gets the queued items, then ``error`` if given."""
        with self._cond:
            if not self._closed:
                self._closed = True
                self._error = error
            self._cond.notify_all()

    def cancel(self) -> None:
        """The consumer is gone: wake blocked producers and make further puts fail."""
        with self._cond:
            self.cancelled = True
            self._items.clear()
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> list[T]:
        """Wait for items and take them all; ``[]`` once closed and empty (or on timeout)."""
        items = self._items
        with self._cond:
            while not items and not self._closed:
                self._consumer_waiting = True
                try:
                    if items or self._closed:  # a put raced with raising the flag
                        break
                    if not self._cond.wait(timeout):
                        return []
                finally:
                    self._consumer_waiting = False
            if not items:
                error = self._error
                if error is not None:
                    self._error = None
                    raise error
                return []
            pop = items.popleft
            batch = [pop() for _ in range(len(items))]
            if self._producers_waiting:
                self._cond.notify_all()
            return batch

    def __iter__(self) -> Iterator[T]:
        while True:
            batch = self.take()
            if not batch:
                return
            yield from batch
