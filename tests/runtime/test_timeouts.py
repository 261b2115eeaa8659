"""`wait_within`: a deadline like ``asyncio.wait_for``'s, and a cancellation of the caller is
never lost, even when what it waits for finishes in the same loop iteration (on Python 3.10
and 3.11 ``asyncio.wait_for`` returns then, and the task goes on as if never cancelled)."""

from __future__ import annotations

import asyncio

import pytest

from tokentide.runtime import wait_within


async def test_returns_what_it_awaited() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await wait_within(answer(), 5.0) == 42
    assert await wait_within(answer(), None) == 42


async def _forever(cancelled: asyncio.Event) -> None:
    """Waits until cancelled, and says so."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.set()
        raise


async def test_a_deadline_cancels_the_awaitable_and_raises_timeout() -> None:
    cancelled = asyncio.Event()
    with pytest.raises(asyncio.TimeoutError):
        await wait_within(_forever(cancelled), 0.01)
    assert cancelled.is_set()
    # The task that timed out is not left cancelled: it goes on awaiting.
    await asyncio.sleep(0)
    assert await wait_within(asyncio.sleep(0, "still running"), 1.0) == "still running"


async def test_a_zero_deadline_times_out_at_once() -> None:
    with pytest.raises(asyncio.TimeoutError):
        await wait_within(asyncio.Event().wait(), 0.0)


async def test_a_cancel_as_the_event_is_set_is_not_lost() -> None:
    """The race ``asyncio.wait_for`` loses on 3.10/3.11: the waiter is cancelled in the very
    iteration the event it waits for is set."""
    event = asyncio.Event()
    went_on = False

    async def watcher() -> None:
        nonlocal went_on
        await wait_within(event.wait(), 30.0)
        went_on = True

    task = asyncio.create_task(watcher())
    await asyncio.sleep(0)  # the watcher is waiting
    event.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not went_on


async def test_a_cancel_as_a_semaphore_slot_frees_keeps_the_slot() -> None:
    slots = asyncio.Semaphore(1)
    await slots.acquire()

    async def taker() -> None:
        await wait_within(slots.acquire(), 30.0)
        pytest.fail("the cancelled taker went on with a slot")

    task = asyncio.create_task(taker())
    await asyncio.sleep(0)
    slots.release()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not slots.locked(), "the slot freed as the taker was cancelled was lost"


async def test_a_cancel_while_waiting_propagates_and_cancels_the_awaitable() -> None:
    inner_cancelled = asyncio.Event()
    task = asyncio.create_task(wait_within(_forever(inner_cancelled), 30.0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner_cancelled.is_set()


async def test_a_loop_of_waits_ends_when_cancelled_in_any_iteration() -> None:
    """A watcher polling an event (as the Redis store waits for cancel requests) ends whenever
    it is cancelled: before, during and right as each short wait ends."""
    for steps in range(12):
        event = asyncio.Event()

        async def poll(event: asyncio.Event = event) -> None:
            while True:
                try:
                    await wait_within(event.wait(), 0.001)
                except asyncio.TimeoutError:
                    pass
                event.clear()

        task = asyncio.create_task(poll())
        for _ in range(steps):
            await asyncio.sleep(0)
        event.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10.0)
