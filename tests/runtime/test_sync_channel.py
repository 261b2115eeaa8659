"""The thread-to-thread channel behind the sync ``graph.stream()`` (runtime ``SyncChannel``, the
runtime's one ``Channel``; ``take`` with a timeout is tested on both names in
``test_channel.py``)."""

from __future__ import annotations

import threading

import pytest
from _runtime_helpers import start_producer

from fakes.waiting import wait_until
from tokentide.runtime._channel import CLOSED
from tokentide.runtime._sink import SyncChannel


def test_items_arrive_in_order_and_close_ends() -> None:
    chan: SyncChannel[int] = SyncChannel(8)

    def produce() -> None:
        for i in range(10_000):
            chan.put(i)
        chan.close()

    thread = threading.Thread(target=produce)
    thread.start()
    assert list(chan) == list(range(10_000))
    thread.join()


def test_put_blocks_when_full_and_cancel_releases() -> None:
    chan: SyncChannel[int] = SyncChannel(4)
    thread, errors = start_producer(chan, 100)
    wait_until(lambda: len(chan._items) == 4)
    assert thread.is_alive()  # bounded: the producer waits
    chan.cancel()
    thread.join(30)
    assert not thread.is_alive() and errors


def test_close_with_error_after_items() -> None:
    chan: SyncChannel[int] = SyncChannel(4)
    chan.put(1)
    chan.close(ValueError("boom"))
    assert chan.take() == [1]
    with pytest.raises(ValueError, match="boom"):
        chan.take()
    assert chan.take() is CLOSED
