"""Honest names in the runtime: ``check_config`` and ``batch``'s ``max_concurrency``."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from _runtime_helpers import InFlight

from tokentide.runnables import RunnableLambda
from tokentide.runtime._config import check_config


def test_a_misspelled_key_is_refused_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match=r"unknown config key 'tag': did you mean 'tags'\?"):
        check_config({"tag": ["x"]})
    with pytest.raises(TypeError, match=r"'max_concurency'.*did you mean 'max_concurrency'"):
        RunnableLambda(lambda x: x).invoke(1, {"max_concurency": 2})  # type: ignore[arg-type]


def test_an_unknown_key_without_a_near_name_says_where_values_go() -> None:
    with pytest.raises(TypeError, match=r"unknown config key 'thread_id': .*configurable"):
        RunnableLambda(lambda x: x).invoke(1, {"thread_id": "t1"})  # type: ignore[arg-type]


def test_known_keys_pass() -> None:
    check_config(
        {
            "tags": ["a"],
            "metadata": {},
            "run_name": "n",
            "max_concurrency": 2,
            "recursion_limit": 5,
            "configurable": {"thread_id": "t"},
            "callbacks": None,
        }
    )


def test_batch_honours_every_configs_max_concurrency() -> None:
    peak = InFlight()
    started = threading.Semaphore(0)

    def work(x: int) -> int:
        peak.enter()
        started.release()
        peak.release.wait(30)
        peak.leave()
        return x

    configs: list[Any] = [{}, {}, {"max_concurrency": 2}, {}, {}, {}]
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.extend(RunnableLambda(work).batch(list(range(6)), configs))
    )
    thread.start()
    assert started.acquire(timeout=30) and started.acquire(timeout=30)
    assert not started.acquire(timeout=0.2)  # a third call would have started by now
    peak.release.set()
    thread.join(30)
    assert result == list(range(6))
    assert peak.peak == 2


async def test_abatch_honours_every_configs_max_concurrency() -> None:
    now = peak = 0
    gate = asyncio.Event()

    async def work(x: int) -> int:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await gate.wait()
        now -= 1
        return x

    configs: list[Any] = [{}, {"max_concurrency": 3}, {}, {}, {}, {}, {}]
    task = asyncio.ensure_future(RunnableLambda(work).abatch(list(range(7)), configs))
    for _ in range(20):
        await asyncio.sleep(0)
    assert peak == 3
    gate.set()
    assert await asyncio.wait_for(task, 30) == list(range(7))
    assert peak == 3
