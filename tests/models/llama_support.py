"""Shared helpers of the local-model tests (no tests here): stopping a generation mid-way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fakes.waiting import async_wait_until

from .openai_support import read_upto

__all__ = ["aclose_after", "cancel_mid_stream", "close_after"]


async def _stopped(model: Any, stop: Any) -> None:
    """Run ``stop()``; then the model goes idle having generated at most one more token."""
    before = model.tokens_generated
    await stop()
    await async_wait_until(lambda: not model.runtime.lock.locked(), message="still generating")
    assert model.tokens_generated - before <= 1


def close_after(model: Any, stream: Any, k: int = 5) -> None:
    """Read ``k`` chunks of the sync ``stream`` (of ``model``), then ``close()`` it: generation
    stops within one token."""
    for n, _ in enumerate(stream, 1):
        if n == k:
            break
    before = model.tokens_generated
    stream.close()
    assert model.tokens_generated - before <= 1


async def aclose_after(model: Any, stream: AsyncIterator[Any], k: int = 5) -> None:
    """Read ``k`` chunks of ``stream`` (of ``model``), then ``aclose()`` it: generation stops
    within one token."""
    await read_upto(stream, k)
    await _stopped(model, stream.aclose)  # type: ignore[attr-defined]


async def cancel_mid_stream(model: Any, prompt: Any) -> None:
    """Cancel a task streaming ``model`` once it has a chunk: generation stops within one
    token."""
    seen = asyncio.Event()

    async def consume() -> None:
        async for _ in model.astream(prompt, max_tokens=200):
            seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 30)

    async def cancel() -> None:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await _stopped(model, cancel)
