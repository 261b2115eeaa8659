"""The one bounded hand-off between threads and the event loop.

Every place where items cross from one thread (or task) to another goes through
:class:`Channel`: a model's blocking generator run in a worker thread for an async consumer
(``sync_to_async_stream``), the local model's generation thread (``thread_stream``), the branches
of a sync ``RunnableParallel``, the sync graph driver, and the sinks of ``astream_events`` and a
graph's ``messages`` mode.

How it works, and why:

- **Event-driven.** Nobody polls: a waiting consumer is woken by the ``put`` that finds it
  waiting (a condition variable for a consumer thread, a future for a consumer task), and a
  producer waiting for room is woken by the ``take`` that makes it. No wait has a timeout
  unless the caller asks for one.
- **Batches.** A consumer takes every queued item at each wake-up; a producer wakes a waiting
  consumer once (the first ``put`` after it started waiting), so a fast producer costs one
  wake-up per batch, not one per item.
- **Bounded.** A producer thread blocks in ``put`` while ``maxsize`` items wait. A producer on
  the event loop that owns the channel never blocks (it cannot: the consumer may be on that
  same loop); it checks :attr:`Channel.full` and awaits :meth:`Channel.wait_room`.
- **Distinct outcomes.** :meth:`Channel.take` / :meth:`Channel.atake` return a non-empty list of
  items, or :data:`CLOSED` (the producer side closed and everything was taken), or
  :data:`TIMED_OUT` (only when a timeout was given); a channel closed with an error raises it
  after the items queued before it.
- **Cancellation.** The consumer calls :meth:`Channel.cancel` when it leaves: queued items are
  dropped, and blocked and later ``put`` calls raise :class:`ChannelClosed`, so producers stop.

Example::

    ch: Channel[int] = Channel(64)
    threading.Thread(target=lambda: ([ch.put(i) for i in range(3)], ch.close())).start()
    assert list(ch) == [0, 1, 2]
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sized
from typing import Generic, Literal, TypeVar

__all__ = ["CLOSED", "TIMED_OUT", "Channel", "ChannelClosed", "TakeEnd", "stream_from_thread"]

T = TypeVar("T")


class ChannelClosed(Exception):
    """Raised by :meth:`Channel.put` when the consumer has gone away (:meth:`Channel.cancel`)."""


class TakeEnd(enum.Enum):
    """What a take returns when it has no items: the stream ended, or the wait timed out."""

    CLOSED = "closed"
    TIMED_OUT = "timed out"


#: The producer side closed the channel and every item was taken.
CLOSED: Literal[TakeEnd.CLOSED] = TakeEnd.CLOSED
#: ``take(timeout=...)`` waited that long and no item came.
TIMED_OUT: Literal[TakeEnd.TIMED_OUT] = TakeEnd.TIMED_OUT


class Channel(Generic[T]):
    """A bounded channel from producers (threads or tasks) to one consumer (a thread or a task).

    Producers call :meth:`put` and, once, :meth:`close` (optionally with an error for the
    consumer). The consumer calls :meth:`take` (blocking, from a thread) or :meth:`atake`
    (from a task), or iterates (``for`` / ``async for``), and calls :meth:`cancel` if it leaves
    before the end. See the module docstring for the rules.
    """

    __slots__ = (
        "_closed",
        "_cond",
        "_consumer_waiting",
        "_error",
        "_items",
        "_loop",
        "_loop_thread",
        "_low",
        "_producers_waiting",
        "_room_thread",
        "_room_waiter",
        "_waiter",
        "_waiter_thread",
        "cancelled",
        "maxsize",
    )

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError(f"a channel needs room for at least one item, got maxsize={maxsize}")
        self.maxsize = maxsize
        self._low = max(1, maxsize // 2)
        self._items: deque[T] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._consumer_waiting = False
        self._producers_waiting = 0
        self._waiter: asyncio.Future[bool] | None = None
        self._waiter_thread = 0
        self._room_waiter: asyncio.Future[None] | None = None
        self._room_thread = 0
        self._closed = False
        self._error: BaseException | None = None
        self.cancelled = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            self._loop_thread: int | None = threading.get_ident()
        except RuntimeError:
            self._loop = None
            self._loop_thread = None

    @property
    def queued(self) -> Sized:
        """The items waiting (read-only; ``len(chan.queued) >= chan.maxsize`` is `full`)."""
        return self._items

    @property
    def full(self) -> bool:
        """Whether ``maxsize`` items wait (a producer on the loop then awaits ``wait_room``)."""
        return len(self._items) >= self.maxsize

    # ------------------------------------------------------------------ producer side

    def put(self, item: T) -> None:
        """Queue one item; from a thread other than the channel's loop, wait while it is full.

        Raises :class:`ChannelClosed` once the consumer has cancelled."""
        # Fast path without the lock: ``deque.append`` is atomic, and a waiting consumer
        # raised its flag (or set its future) before re-checking the queue, so either it sees
        # this item or this call sees it waiting; the lock is taken only to wake it.
        if self.cancelled:
            raise ChannelClosed("the consumer of this stream has gone away")
        items = self._items
        if len(items) >= self.maxsize and threading.get_ident() != self._loop_thread:
            self._wait_room()
        items.append(item)
        if self._consumer_waiting or self._waiter is not None:
            self._wake_consumer()

    def _wait_room(self) -> None:
        with self._cond:
            while len(self._items) >= self.maxsize and not self.cancelled:
                self._producers_waiting += 1
                try:
                    self._cond.wait()
                finally:
                    self._producers_waiting -= 1
            if self.cancelled:
                raise ChannelClosed("the consumer of this stream has gone away")

    async def wait_room(self) -> None:
        """On the channel's loop: wait until the consumer has taken the queue below half."""
        loop = asyncio.get_running_loop()
        while len(self._items) >= self._low and not self.cancelled:
            fut = self._room_waiter
            if fut is None or fut.done():
                fut = self._room_waiter = loop.create_future()
                self._room_thread = threading.get_ident()
            await fut

    def close(self, error: BaseException | None = None) -> None:
        """End the stream (from any thread): the consumer takes what is queued, then gets
        :data:`CLOSED`, or ``error`` raised if one is given. Later calls do nothing."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._error = error
        self._wake_consumer()

    def _wake_consumer(self) -> None:
        with self._cond:
            if self._consumer_waiting:
                # One wake-up per wait: later puts see the flag down and skip the lock.
                self._consumer_waiting = False
                self._cond.notify_all()
            waiter, thread = self._waiter, self._waiter_thread
            self._waiter = None
        if waiter is not None:
            _resolve(waiter, False, thread)

    # ------------------------------------------------------------------ consumer side

    def cancel(self) -> None:
        """The consumer is gone: drop what is queued, wake blocked producers, and make every
        later ``put`` raise :class:`ChannelClosed`."""
        with self._cond:
            self.cancelled = True
            self._items.clear()
            self._cond.notify_all()
        self._made_room()

    def _made_room(self) -> None:
        # Called after a take (or a cancel): producers waiting for room may go on.
        if self._producers_waiting:
            with self._cond:
                self._cond.notify_all()
        fut = self._room_waiter
        if fut is not None and len(self._items) < self._low:
            self._room_waiter = None
            _resolve(fut, None, self._room_thread)

    def _batch(self) -> list[T] | Literal[TakeEnd.CLOSED] | None:
        # Under the lock: the queued items, or the end of the stream, or None (wait).
        items = self._items
        if items:
            pop = items.popleft
            return [pop() for _ in range(len(items))]
        if self._closed:
            error = self._error
            if error is not None:
                self._error = None
                raise error
            return CLOSED
        return None

    def take(self, timeout: float | None = None) -> list[T] | TakeEnd:
        """From a thread: wait for items and take them all (a non-empty list); or
        :data:`CLOSED` once closed and empty; or :data:`TIMED_OUT` after ``timeout`` seconds
        without items (never without a timeout)."""
        with self._cond:
            batch = self._batch()
            while batch is None:
                # Raise the flag, then look again: a lock-free ``put`` either sees the flag
                # or appended before this second look.
                self._consumer_waiting = True
                try:
                    if not self._items and not self._closed:
                        if not self._cond.wait(timeout) and not self._items and not self._closed:
                            return TIMED_OUT
                finally:
                    self._consumer_waiting = False
                batch = self._batch()
        if batch is not CLOSED:
            self._made_room()
        return batch

    async def atake(self, timeout: float | None = None) -> list[T] | TakeEnd:
        """From a task: :meth:`take` without blocking the loop (one wake-up per batch)."""
        while True:
            with self._cond:
                batch = self._batch()
                if batch is None:
                    loop = asyncio.get_running_loop()
                    waiter = self._waiter = loop.create_future()
                    self._waiter_thread = threading.get_ident()
                    if self._items or self._closed:  # a lock-free put came first: look again
                        self._waiter = None
                        continue
            if batch is not None:
                if batch is not CLOSED:
                    self._made_room()
                return batch
            timer = None if timeout is None else loop.call_later(timeout, _set, waiter, True)
            try:
                timed_out = await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if timed_out and not self._items and not self._closed:
                return TIMED_OUT

    def __iter__(self) -> Iterator[T]:
        while (batch := self.take()) is not CLOSED:
            assert batch is not TIMED_OUT
            yield from batch

    async def __aiter__(self) -> AsyncIterator[T]:
        while (batch := await self.atake()) is not CLOSED:
            assert batch is not TIMED_OUT
            for item in batch:
                yield item


def _resolve(fut: asyncio.Future[T], value: T, loop_thread: int) -> None:
    """Complete a future from any thread (directly when on its loop's thread)."""
    if loop_thread == threading.get_ident():
        _set(fut, value)
        return
    try:
        fut.get_loop().call_soon_threadsafe(_set, fut, value)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


def _set(fut: asyncio.Future[T], value: T) -> None:
    if not fut.done():
        fut.set_result(value)


async def stream_from_thread(
    make: Callable[[threading.Event], Iterator[T]], maxsize: int = 64
) -> AsyncIterator[T]:
    """Run the blocking iterator ``make(cancel)`` in a worker thread (with the caller's context
    variables) and yield its items to async code through a :class:`Channel` of ``maxsize``.

    When the consumer leaves (``break``, ``aclose()``, cancellation) ``cancel`` is set, the
    worker's next ``put`` raises, and the iterator is closed in its thread, so a generation
    stops at its next item; the consumer waits for that before it goes on. ``maxsize`` is how
    far the thread may run ahead (1 for a generation that should not compute unread tokens).
    """
    loop = asyncio.get_running_loop()
    chan: Channel[T] = Channel(maxsize)
    cancel = threading.Event()

    def work() -> None:
        error: BaseException | None = None
        it: Iterator[T] | None = None
        try:
            it = make(cancel)
            for item in it:
                chan.put(item)
        except ChannelClosed:
            pass
        except BaseException as exc:
            error = exc
        finally:
            try:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
            finally:
                chan.close(error)

    future = loop.run_in_executor(None, contextvars.copy_context().run, work)
    try:
        while (batch := await chan.atake()) is not CLOSED:
            assert batch is not TIMED_OUT
            for item in batch:
                yield item
    finally:
        cancel.set()
        chan.cancel()
        await asyncio.shield(future)
