"""Shared helpers of the HTTP model tests (no tests here): model factory, stream collectors.

Their fixtures (the scripted server, the model on it) are in ``conftest.py``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from fakes.sse_server import ScriptedSSEServer
from tokentide.messages import AIMessageChunk
from tokentide.models import ChatOpenAI

__all__ = ["SYNC", "break_after", "collect", "make_model", "read_upto", "text_of"]

# Every streaming test runs on both APIs: ``stream()`` and ``astream()``.
SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


def make_model(server: ScriptedSSEServer, **kwargs: Any) -> ChatOpenAI:
    options: dict[str, Any] = {"base_url": server.base_url, "api_key": "sk-test", "model": "m"}
    options.update(kwargs)
    model = ChatOpenAI(**options)
    model._transport.retry_base_delay = 0.01
    return model


async def collect(
    model: Any, sync: bool, input: Any = "hi", **kwargs: Any
) -> tuple[list[Any], BaseException | None]:
    """Consume a stream sync or async; return the items and the error that ended it."""
    items: list[Any] = []
    try:
        if sync:
            stream: Iterator[Any] = model.stream(input, **kwargs)
            for item in stream:
                items.append(item)
        else:
            astream: AsyncIterator[Any] = model.astream(input, **kwargs)
            try:
                async for item in astream:
                    items.append(item)
            finally:
                await astream.aclose()  # type: ignore[attr-defined]
    except Exception as exc:
        return items, exc
    return items, None


def text_of(chunks: list[AIMessageChunk]) -> str:
    return "".join(chunk.content for chunk in chunks)


async def break_after(model: Any, sync: bool, n: int = 5) -> float:
    """Stream ``"hi"`` sync or async and leave after ``n`` chunks (``break``, then ``aclose()`` on
    the async side); return the ``time.monotonic()`` of leaving."""
    count = 0
    if sync:
        for _chunk in model.stream("hi"):
            count += 1
            if count == n:
                left = time.monotonic()
                break
        return left
    stream = model.astream("hi")
    async for _chunk in stream:
        count += 1
        if count == n:
            break
    left = time.monotonic()
    await stream.aclose()
    return left


async def read_upto(stream: AsyncIterator[Any], k: int) -> int:
    """Read at most ``k`` items of ``stream`` (left open); return how many were read."""
    n = 0
    async for _ in stream:
        n += 1
        if n == k:
            break
    return n
