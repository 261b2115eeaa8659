"""Pacing: release streamed text at a steady reading rate, in whole words.

`Pacer` is the sans-I/O core: it is fed text with the time it arrived and answers "what to
release now, and when next". `smooth` and `asmooth` are thin shells around it that read a
producer and sleep between releases.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, Generic, TypeVar

from tokentide.render._segment import last_grapheme_start, unit_ends
from tokentide.render._text import text_of

__all__ = ["DEFAULT_RATE", "Pacer", "asmooth", "smooth"]

T = TypeVar("T")

DEFAULT_RATE = 90.0
"""Characters per second: about 15 words a second, four times an adult's silent reading speed
(about 240 words a minute), so the text stays ahead of the reader and reads like fluent typing;
`max_lag` keeps the output up with any faster model."""

DEFAULT_MIN_INTERVAL = 1 / 60
"""Shortest time between two releases (one display frame): a burst goes out in a few frames."""

_QUEUE_SIZE = 64


class Pacer:
    """Decide when each piece of streamed text is shown (sans-I/O).

    Text is released in units (a word with its trailing whitespace; two or three characters of
    Chinese or Japanese) at ``rate`` characters per second. When the backlog grows, the pacer
    drains faster so that no text is released more than ``max_lag`` seconds after it was fed
    (plus at most one ``min_interval``). A word still being received is held until its end is
    seen, or until its deadline forces it out. The last grapheme cluster received so far is
    held until more text arrives or the input ends, because a following code point (combining
    mark, skin tone, ZWJ) could still extend it; a released piece never splits a cluster.

    Example::

        pacer = Pacer(rate=50.0)
        pacer.feed("Hello big world", now=0.0)
        text, next_at = pacer.poll(0.0)  # ("Hello ", 0.12): release, then call again then
        pacer.end()
        rest, _ = pacer.poll(0.0)  # "big world": the end of the input flushes everything
    """

    def __init__(
        self,
        *,
        rate: float = DEFAULT_RATE,
        max_lag: float = 0.5,
        min_interval: float = DEFAULT_MIN_INTERVAL,
    ) -> None:
        if rate <= 0 or max_lag < 0 or min_interval < 0:
            raise ValueError("rate must be positive; max_lag and min_interval not negative")
        self.rate = rate
        self.max_lag = max_lag
        self.min_interval = min_interval
        self._buf = ""
        self._base = 0  # characters dropped from the front of _buf
        self._pos = 0  # index in _buf of the first unreleased character
        self._known = 0  # index in _buf where the held last grapheme cluster begins
        self._marks: deque[tuple[int, float]] = deque()  # (absolute end of an item, deadline)
        self._final = False
        self._next_at = -math.inf
        self._last_release = -math.inf

    @property
    def done(self) -> bool:
        """True once the input has ended and every character has been released."""
        return self._final and self._pos >= len(self._buf)

    @property
    def pending(self) -> int:
        """Characters received but not yet released."""
        return len(self._buf) - self._pos

    @property
    def ready(self) -> bool:
        """True when at least one complete unit is waiting to be released."""
        if self._final:
            return self._pos < len(self._buf)
        return next(unit_ends(self._buf, self._pos, self._known, final=False), None) is not None

    def feed(self, text: str, now: float) -> None:
        """Add ``text`` that arrived at time ``now`` (seconds, any monotonic origin)."""
        if self._final:
            raise RuntimeError("feed() after end()")
        if not text:
            return
        self._buf += text
        self._known = last_grapheme_start(self._buf, self._known)
        self._marks.append((self._base + len(self._buf), now + self.max_lag))

    def end(self) -> None:
        """Mark the end of the input: the next `poll` releases everything left."""
        self._final = True
        self._known = len(self._buf)

    def poll(self, now: float) -> tuple[str, float | None]:
        """Release what is due at time ``now``.

        Returns the text to show now (possibly empty) and the time of the next release, or
        ``None`` when nothing more can be released before more text is fed (or ever, once the
        input has ended).
        """
        if self._final:
            out = self._buf[self._pos :]
            self._pos = len(self._buf)
            self._compact()
            return out, None
        end = self._release_end(now)
        out = ""
        if end > self._pos:
            out = self._buf[self._pos : end]
            self._pos = end
            self._last_release = now
            self._compact()
        return out, self._next_time(now)

    def _release_end(self, now: float) -> int:
        """Where the text released at ``now`` ends; advances the release schedule."""
        forced = self._forced_end(now)
        rate = self._effective_rate(now)
        due = max(self._next_at, now - self.min_interval)  # no credit saved up while idle
        end = self._pos
        for unit_end in unit_ends(self._buf, self._pos, self._known, final=False):
            if end >= forced:
                if due > now:
                    break
                due += (unit_end - end) / rate
            end = unit_end
        if end < forced:  # the deadline falls inside a word still being received:
            end = self._known  # out with all of it that is known
        if due > self._next_at:
            self._next_at = due
        return end

    def _forced_end(self, now: float) -> int:
        """Index up to which the deadlines at ``now`` force text out (at most `_known`)."""
        forced = self._pos
        for abs_end, deadline in self._marks:
            if deadline > now:
                break
            forced = abs_end - self._base
        return min(forced, self._known)

    def _effective_rate(self, now: float) -> float:
        """The release rate: ``rate``, or faster when deadlines require it."""
        rate = self.rate
        for abs_end, deadline in self._marks:
            window = deadline - now - self.min_interval
            if window <= 0:
                continue
            backlog = min(abs_end - self._base, self._known) - self._pos
            rate = max(rate, backlog / window)
        return rate

    def _next_time(self, now: float) -> float | None:
        if self._pos >= self._known:
            return None  # nothing, or only the held last grapheme cluster
        deadline = math.inf
        for abs_end, mark_deadline in self._marks:
            if abs_end - self._base > self._pos:
                deadline = mark_deadline
                break
        when = deadline
        if self.ready:
            when = min(deadline, max(self._next_at, self._last_release + self.min_interval))
        return max(when, now)

    def _compact(self) -> None:
        while self._marks and self._marks[0][0] - self._base <= self._pos:
            self._marks.popleft()
        if self._pos > 4096 and self._pos * 2 > len(self._buf):
            self._buf = self._buf[self._pos :]
            self._base += self._pos
            self._known -= self._pos
            self._pos = 0


def smooth(
    stream: Iterable[T],
    *,
    rate: float = DEFAULT_RATE,
    max_lag: float = 0.5,
    key: Callable[[T], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[str, None, None]:
    """Re-time a stream of text so that it reads smoothly, in whole words.

    Items may be ``str`` or objects with a ``.content`` string (message chunks), or anything
    ``key`` maps to a string; the output is ``str`` pieces whose concatenation is exactly the
    input text. At the end of the input, whatever is left is released at once.

    This shell is pull-based: while it sleeps between pieces it does not read the producer, and
    while it waits for the producer it cannot release. It therefore sleeps only while a complete
    word is due, at most about ``max_lag`` per item, and never paces slower than the producer's
    own speed (measured while waiting on it), so a fast lazy producer is not held back.

    Example::

        for piece in smooth(model.stream("Tell me a story")):
            print(piece, end="", flush=True)
    """
    pacer = Pacer(rate=rate, max_lag=max_lag)
    extract = key or text_of
    iterator = iter(stream)
    produced = 0
    waited = 0.0
    try:
        while True:
            started = clock()
            try:
                item = next(iterator)
            except StopIteration:
                break
            now = clock()
            waited += now - started
            text = extract(item)
            produced += len(text)
            if waited > 0:
                pacer.rate = max(rate, produced / waited)
            pacer.feed(text, now)
            yield from _drain_ready(pacer, clock, sleep)
        pacer.end()
        rest, _ = pacer.poll(clock())
        if rest:
            yield rest
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _drain_ready(
    pacer: Pacer, clock: Callable[[], float], sleep: Callable[[float], None]
) -> Iterator[str]:
    """Release every complete unit, sleeping between releases (the sync shell's loop)."""
    while True:
        now = clock()
        text, next_at = pacer.poll(now)
        if text:
            yield text
        if next_at is None or not pacer.ready:
            return
        delay = next_at - clock()
        if delay > 0:
            sleep(delay)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class _Pump(Generic[T]):
    """Reads the producer in its own task and hands items over through a bounded queue."""

    def __init__(
        self, stream: AsyncIterable[T], extract: Callable[[T], str], clock: Callable[[], float]
    ) -> None:
        self.iterator: AsyncIterator[T] = aiter(stream)
        self.queue: asyncio.Queue[Any] = asyncio.Queue(_QUEUE_SIZE)
        self._extract = extract
        self._clock = clock
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.iterator:
                await self.queue.put((self._extract(item), self._clock()))
        except Exception as exc:  # handed to the consumer, raised there
            await self.queue.put(_Failed(exc))
        else:
            await self.queue.put(_END)

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.wait({self.task})
        aclose = getattr(self.iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def asmooth(
    stream: AsyncIterable[T],
    *,
    rate: float = DEFAULT_RATE,
    max_lag: float = 0.5,
    key: Callable[[T], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncGenerator[str, None]:
    """Async twin of `smooth`: re-time an async stream of text so that it reads smoothly.

    The producer is read by its own task into a bounded queue, so pieces are released on time
    even while the producer is silent, and text never lags the producer by more than
    ``max_lag`` (plus one frame). Stopping early (``break``, ``aclose()``, cancellation)
    cancels that task and closes the producer. An error from the producer is raised after the
    text received before it has been released.

    Example::

        async for piece in asmooth(model.astream("Tell me a story")):
            print(piece, end="", flush=True)
    """
    pacer = Pacer(rate=rate, max_lag=max_lag)
    pump = _Pump(stream, key or text_of, clock)
    getter: asyncio.Future[Any] | None = None
    error: BaseException | None = None
    try:
        while not pacer.done:
            while getter is None and not pump.queue.empty():
                error = _accept(pacer, pump.queue.get_nowait()) or error
            text, next_at = pacer.poll(clock())
            if text:
                yield text
                continue
            if pacer.done:
                break
            if getter is None:
                getter = asyncio.ensure_future(pump.queue.get())
            await _wait_for_item(getter, None if next_at is None else next_at - clock(), sleep)
            if getter.done():
                error = _accept(pacer, getter.result()) or error
                getter = None
        if error is not None:
            raise error
    finally:
        if getter is not None:
            getter.cancel()
        await pump.aclose()


def _accept(pacer: Pacer, item: Any) -> BaseException | None:
    """Feed one queue item to the pacer; returns the producer's error, if that is what it was."""
    if item is _END:
        pacer.end()
        return None
    if isinstance(item, _Failed):
        pacer.end()
        return item.error
    text, arrived = item
    pacer.feed(text, arrived)
    return None


async def _wait_for_item(
    getter: asyncio.Future[Any], delay: float | None, sleep: Callable[[float], Awaitable[None]]
) -> None:
    """Wait until the producer hands over an item or ``delay`` seconds pass."""
    if delay is None:
        await asyncio.wait({getter})
        return
    if delay <= 0:
        return
    sleeper = asyncio.ensure_future(sleep(delay))
    try:
        await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
