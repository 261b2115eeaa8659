"""`wait_within`: ``asyncio.wait_for`` that never loses a cancellation.

On Python 3.10 and 3.11, ``asyncio.wait_for`` runs the awaitable in a task of its own. When the
waiting task is cancelled in the same loop iteration as that inner task finishes (an event set,
a semaphore slot freed, bytes arrived), ``wait_for`` returns the inner result and the
cancellation is gone: the task goes on as if nobody had asked it to stop. A watcher that loops
over ``wait_for`` then never ends, a stream keeps its upstream open after its client left, a
server's event loop closes with tasks still pending. Python 3.12 fixed it
(`CPython issue 86296 <https://github.com/python/cpython/issues/86296>`_).

`wait_within` awaits in the calling task itself, under a deadline that cancels it:
``asyncio.timeout`` on 3.11 and later (which tells a deadline from an outside cancellation by
counting them), a timer on 3.10. It raises ``asyncio.TimeoutError`` (``TimeoutError`` since
3.11) like ``wait_for``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["wait_within"]

T = TypeVar("T")

if sys.version_info >= (3, 11):

    async def wait_within(aw: Awaitable[T], timeout: float | None) -> T:
        """Await ``aw`` for at most ``timeout`` seconds (``None``: no limit); on expiry it is
        cancelled and ``TimeoutError`` raised. A cancellation of the caller always propagates,
        whatever ``aw`` did in the same loop iteration.

        Example::

            with contextlib.suppress(TimeoutError):
                await wait_within(event.wait(), 1.0)
        """
        if timeout is None:
            return await aw
        async with asyncio.timeout(timeout):
            return await aw

else:

    async def wait_within(aw: Awaitable[T], timeout: float | None) -> T:
        """Await ``aw`` for at most ``timeout`` seconds (``None``: no limit); on expiry it is
        cancelled and ``asyncio.TimeoutError`` raised. A cancellation of the caller always
        propagates, whatever ``aw`` did in the same loop iteration (on Python 3.10, one that
        arrives in the very iteration the deadline passes is reported as the timeout).

        Example::

            with contextlib.suppress(asyncio.TimeoutError):
                await wait_within(event.wait(), 1.0)
        """
        if timeout is None:
            return await aw
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("wait_within() must be awaited in an asyncio task")
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(max(timeout, 0.0), expire)
        try:
            return await aw
        except asyncio.CancelledError:
            if expired:
                raise asyncio.TimeoutError from None
            raise
        finally:
            handle.cancel()
