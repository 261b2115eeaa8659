"""The one bounded hand-off between threads and the event loop (``runtime._channel.Channel``).

No test sleeps: producers and consumers meet on conditions (``wait_until``) and events.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from _runtime_helpers import start_producer

from fakes.waiting import async_wait_until, wait_until
from tokentide.runtime._channel import CLOSED, TIMED_OUT, Channel, ChannelClosed
from tokentide.runtime._sink import SyncChannel

N = 20_000


def _produce(chan: Channel[int], n: int, error: BaseException | None = None) -> threading.Thread:
    def run() -> None:
        try:
            for i in range(n):
                chan.put(i)
        except ChannelClosed:
            return
        chan.close(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# ------------------------------------------------------------------ thread -> thread


def test_thread_to_thread_in_order_then_closed() -> None:
    chan: Channel[int] = Channel(8)
    thread = _produce(chan, N)
    got: list[int] = []
    batches = 0
    while (batch := chan.take()) is not CLOSED:
        assert batch is not TIMED_OUT and batch  # never an empty list
        got.extend(batch)
        batches += 1
    thread.join()
    assert got == list(range(N))
    assert chan.take() is CLOSED  # stays closed


@pytest.mark.parametrize("make", [Channel, SyncChannel], ids=["Channel", "SyncChannel"])
def test_take_distinguishes_timed_out_from_closed(make: type[Channel[int]]) -> None:
    chan: Channel[int] = make(4)
    assert chan.take(timeout=0.01) is TIMED_OUT
    chan.put(1)
    assert chan.take(timeout=0.01) == [1]
    chan.close()
    assert chan.take(timeout=0.01) is CLOSED
    assert chan.take() is CLOSED


def test_close_with_error_after_the_queued_items() -> None:
    chan: Channel[int] = Channel(4)
    chan.put(1)
    chan.put(2)
    chan.close(ValueError("boom"))
    chan.close()  # a second close changes nothing
    assert chan.take() == [1, 2]
    with pytest.raises(ValueError, match="boom"):
        chan.take()
    assert chan.take() is CLOSED


def test_a_producer_thread_waits_while_full_and_goes_on_after_a_take() -> None:
    chan: Channel[int] = Channel(4)
    thread = _produce(chan, 10)
    wait_until(lambda: len(chan._items) == 4)
    wait_until(lambda: chan._producers_waiting == 1)  # bounded: it waits, and for room only
    assert chan.take() == [0, 1, 2, 3]
    got = [0, 1, 2, 3]
    got.extend(chan)
    thread.join()
    assert got == list(range(10))


def test_cancel_releases_a_blocked_producer_and_refuses_later_puts() -> None:
    chan: Channel[int] = Channel(2)
    thread, errors = start_producer(chan, 100)
    wait_until(lambda: chan._producers_waiting == 1)
    chan.cancel()
    thread.join(30)
    assert not thread.is_alive() and len(errors) == 1
    with pytest.raises(ChannelClosed):
        chan.put(1)


def test_a_waiting_consumer_thread_is_woken_by_close() -> None:
    chan: Channel[int] = Channel(4)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(chan.take()))
    thread.start()
    wait_until(lambda: chan._consumer_waiting)
    chan.close()
    thread.join(30)
    assert result == [CLOSED]


def test_many_producer_threads() -> None:
    chan: Channel[tuple[int, int]] = Channel(16)
    done = threading.Barrier(4, action=chan.close)

    def run(k: int) -> None:
        for i in range(2_000):
            chan.put((k, i))
        done.wait()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    got = list(chan)
    for t in threads:
        t.join()
    assert sorted(got) == [(k, i) for k in range(4) for i in range(2_000)]
    for k in range(4):  # each producer's items keep their order
        assert [i for kk, i in got if kk == k] == list(range(2_000))


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize=0"):
        Channel(0)


# ------------------------------------------------------------------ thread -> event loop


async def test_thread_to_loop_in_order_in_batches() -> None:
    chan: Channel[int] = Channel(64)
    thread = _produce(chan, N)
    got: list[int] = []
    batches = 0
    while (batch := await chan.atake()) is not CLOSED:
        assert batch is not TIMED_OUT and batch
        got.extend(batch)
        batches += 1
    thread.join()
    assert got == list(range(N))
    assert batches < N  # batched: fewer wake-ups than items


async def test_atake_distinguishes_timed_out_from_closed() -> None:
    chan: Channel[int] = Channel(4)
    assert await chan.atake(timeout=0.01) is TIMED_OUT
    assert chan._waiter is None
    chan.put(7)
    assert await chan.atake(timeout=0.01) == [7]
    chan.close(KeyError("k"))
    with pytest.raises(KeyError):
        await chan.atake()
    assert await chan.atake() is CLOSED


async def test_a_waiting_task_is_woken_by_a_put_from_a_thread() -> None:
    chan: Channel[int] = Channel(4)
    task = asyncio.ensure_future(chan.atake())
    await async_wait_until(lambda: chan._waiter is not None)
    thread = threading.Thread(target=chan.put, args=(5,))
    thread.start()
    assert await asyncio.wait_for(task, 30) == [5]
    thread.join()


async def test_async_iteration_raises_the_producers_error() -> None:
    chan: Channel[int] = Channel(4)
    thread = _produce(chan, 10, RuntimeError("producer failed"))
    got: list[int] = []
    with pytest.raises(RuntimeError, match="producer failed"):
        async for item in chan:
            got.append(item)
    thread.join()
    assert got == list(range(10))


async def test_a_producer_on_the_loop_never_blocks_and_waits_for_room() -> None:
    chan: Channel[int] = Channel(4)
    for i in range(6):  # on the channel's loop: over the cap, without blocking
        chan.put(i)
    assert chan.full
    room = asyncio.ensure_future(chan.wait_room())
    await asyncio.sleep(0)
    assert not room.done()
    assert await chan.atake() == list(range(6))
    await asyncio.wait_for(room, 30)


async def test_cancel_wakes_a_producer_waiting_for_room() -> None:
    chan: Channel[int] = Channel(2)
    chan.put(1)
    chan.put(2)
    room = asyncio.ensure_future(chan.wait_room())
    await asyncio.sleep(0)
    chan.cancel()
    await asyncio.wait_for(room, 30)
    with pytest.raises(ChannelClosed):
        chan.put(3)


async def test_a_consumer_thread_fed_from_the_loop() -> None:
    chan: Channel[int] = Channel(8)
    got: list[int] = []
    thread = threading.Thread(target=lambda: got.extend(chan))
    thread.start()
    for i in range(100):
        chan.put(i)
        if chan.full:
            await chan.wait_room()
    chan.close()
    await asyncio.to_thread(thread.join, 30)
    assert got == list(range(100))
