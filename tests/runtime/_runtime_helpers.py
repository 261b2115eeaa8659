"""Helpers shared by the runtime tests."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from tokentide.runnables import Runnable
from tokentide.runtime._channel import Channel, ChannelClosed


def collect(runnable: Runnable[Any, Any], input: Any, sync: bool, **kwargs: Any) -> list[Any]:
    """Stream ``runnable`` with ``stream`` (sync) or ``astream`` (async) and list the chunks."""
    if sync:
        return list(runnable.stream(input, **kwargs))
    import asyncio

    async def run() -> list[Any]:
        return [chunk async for chunk in runnable.astream(input, **kwargs)]

    return asyncio.run(run())


async def events_of(
    runnable: Runnable[Any, Any], input: Any, **kwargs: Any
) -> list[dict[str, Any]]:
    return [dict(e) async for e in runnable.astream_events(input, version="v2", **kwargs)]


def aiter_of(items: list[Any]) -> AsyncIterator[Any]:
    async def gen() -> AsyncIterator[Any]:
        for item in items:
            yield item

    return gen()


def iter_of(items: list[Any]) -> Iterator[Any]:
    return iter(items)


class InFlight:
    """Counts how many calls run at once (``peak``: the most at any time)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def start_producer(chan: Channel[int], n: int) -> tuple[threading.Thread, list[BaseException]]:
    """Start a thread putting ``0..n-1`` into ``chan``; the list gets the ``ChannelClosed`` that
    stopped it, if one did."""
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(n):
                chan.put(i)
        except ChannelClosed as exc:
            errors.append(exc)

    thread = threading.Thread(target=produce)
    thread.start()
    return thread, errors
