"""Waiting on a condition instead of sleeping and hoping: a test that sleeps a fixed time and
then asserts fails on a loaded machine (the event is late) and proves little on a fast one.

``wait_until`` polls ``condition`` until it is true or a generous deadline passes, then fails
with ``message``. It returns as soon as the condition holds, so a passing test is fast and
only a broken one waits the whole deadline.

Example::

    wait_until(lambda: server.closed_connections == 1, message="the connection stays open")
    await async_wait_until(lambda: producer.blocked, message="the producer never blocked")
    await async_wait_until(lambda: run_status(run_id), is_="cancelled")  # an async condition
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

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


_TRUE = object()


async def async_wait_until(
    condition: Callable[[], Any],
    *,
    is_: Any = _TRUE,
    timeout: float = DEADLINE,
    interval: float = 0.005,
    message: str = "the condition did not become true",
) -> Any:
    """Return once ``condition()`` is true (or equals ``is_`` when given), letting the event
    loop run in between; fail after ``timeout`` seconds. ``condition`` may be a coroutine
    function (an HTTP request, say). Returns the last value of ``condition()``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if bool(value) if is_ is _TRUE else value == is_:
            return value
        if time.monotonic() > deadline:
            shown = "" if is_ is _TRUE else f"; last value {value!r}, wanted {is_!r}"
            raise AssertionError(f"{message} (waited {timeout} s{shown})")
        await asyncio.sleep(interval)
