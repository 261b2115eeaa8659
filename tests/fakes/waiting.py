"""Waiting on a condition instead of sleeping and hoping: a test that sleeps a fixed time and
then asserts fails on a loaded machine (the event is late) and proves little on a fast one.

``wait_until`` polls ``condition`` until it is true or a generous deadline passes, then fails
with ``message``. It returns as soon as the condition holds, so a passing test is fast and
only a broken one waits the whole deadline.

Example::

    wait_until(lambda: server.closed_connections == 1, message="the connection stays open")
    await async_wait_until(lambda: producer.blocked, message="the producer never blocked")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["DEADLINE", "async_wait_until", "wait_until"]

DEADLINE = 30.0
"""Seconds a condition gets before the test fails: generous, because a loaded machine (other
jobs, one core, CI) can be slow, and a passing test never waits it out."""


def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float = DEADLINE,
    interval: float = 0.005,
    message: str = "the condition did not become true",
) -> None:
    """Return once ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (waited {timeout} s)")
        time.sleep(interval)


async def async_wait_until(
    condition: Callable[[], object],
    *,
    timeout: float = DEADLINE,
    interval: float = 0.005,
    message: str = "the condition did not become true",
) -> None:
    """Return once ``condition()`` is true, letting the event loop run in between; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (waited {timeout} s)")
        await asyncio.sleep(interval)
