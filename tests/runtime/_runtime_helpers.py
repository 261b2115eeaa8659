"""Helpers shared by the runtime tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from tokentide.runnables import Runnable


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
