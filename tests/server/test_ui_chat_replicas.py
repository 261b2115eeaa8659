"""The AI SDK chat endpoints on two ``tokentide serve`` replicas sharing one Redis: a chat
started on replica A resumes on replica B (the whole answer, replayed and followed), a
client that leaves A and never comes back gets its run cancelled after the grace period, and
B's stop endpoint stops a run that A executes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fakes.redis_server import RedisServer
from fakes.waiting import async_wait_until

from .ui_agents import STORY
from .ui_serve import serve

pytestmark = pytest.mark.timeout(90)

GRACE = 1.0


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer) -> Iterator[tuple[str, str]]:
    options = ["--graph", "story=ui_agents:story", "--redis-url", redis_server.url]
    options += ["--ui-resume-grace", str(GRACE)]
    # 100 words at 50 ms: a client that leaves after three words leaves about 5 s of story,
    # far more than the grace period plus the time to notice the disconnect on a busy machine.
    env = {"UI_STORY_DELAY": "0.05"}
    with serve(options, env) as a, serve(options, env) as b:
        yield a, b


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def _body(chat_id: str) -> dict[str, Any]:
    user = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "A story."}]}
    return {"id": chat_id, "messages": [user], "trigger": "submit-message"}


def _chunks(body: bytes) -> list[Any]:
    frames = [f[6:] for f in body.decode().split("\n\n") if f.startswith("data: ")]
    return [f if f == "[DONE]" else json.loads(f) for f in frames]


def _text(chunks: list[Any]) -> str:
    return "".join(c["delta"] for c in chunks if isinstance(c, dict) and c["type"] == "text-delta")


async def _start_and_leave(http: httpx.AsyncClient, url: str, chat_id: str) -> tuple[str, float]:
    """Start a story, read three text deltas, disconnect; the run id and the ``time.time()``
    taken just before the disconnect (the grace period cannot start earlier)."""
    async with http.stream("POST", url + "/api/chat", json=_body(chat_id)) as response:
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        seen = 0
        async for line in response.aiter_lines():
            seen += '"text-delta"' in line
            if seen >= 3:
                break
        left = time.time()
    return run_id, left


async def _status(http: httpx.AsyncClient, url: str, run_id: str) -> str:
    status: str = (await http.get(f"{url}/v1/runs/{run_id}")).json()["status"]
    return status


async def test_a_chat_started_on_a_resumes_on_b(
    replicas: tuple[str, str], http: httpx.AsyncClient
) -> None:
    a, b = replicas
    chat_id = f"chat-resume-{time.time_ns()}"
    run_id, _ = await _start_and_leave(http, a, chat_id)
    resumed = await http.get(f"{b}/api/chat/{chat_id}/stream")
    assert resumed.status_code == 200
    assert resumed.headers["x-vercel-ai-ui-message-stream"] == "v1"
    chunks = _chunks(resumed.content)
    assert chunks[0] == {"type": "start", "messageId": "msg_" + run_id.removeprefix("run_")}
    assert chunks[-2:] == [{"type": "finish", "finishReason": "stop"}, "[DONE]"]
    assert _text(chunks) == STORY
    assert await _status(http, a, run_id) == "success"
    assert (await http.get(f"{a}/api/chat/{chat_id}/stream")).status_code == 204


async def test_a_client_that_never_comes_back_is_cancelled(
    replicas: tuple[str, str], http: httpx.AsyncClient
) -> None:
    a, b = replicas
    run_id, left = await _start_and_leave(http, a, f"chat-gone-{time.time_ns()}")
    await async_wait_until(lambda: _status(http, b, run_id), is_="cancelled", interval=0.02)
    record = (await http.get(f"{b}/v1/runs/{run_id}")).json()
    assert GRACE * 0.9 <= record["updated_at"] - left < 5.0
    assert 0 < len(record["output"]["content"]) < len(STORY)


async def test_stop_on_b_stops_the_run_on_a(
    replicas: tuple[str, str], http: httpx.AsyncClient
) -> None:
    a, b = replicas
    chat_id = f"chat-stop-{time.time_ns()}"
    async with http.stream("POST", a + "/api/chat", json=_body(chat_id)) as response:
        run_id = response.headers["x-run-id"]
        asked = time.monotonic()
        stop = await http.post(f"{b}/api/chat/{chat_id}/stop", json={"activeStreamId": run_id})
        assert stop.json() == {"success": True, "cancelled": True, "runId": run_id}
        chunks = _chunks(await response.aread())
        assert time.monotonic() - asked < GRACE  # at once, not after the grace period
    assert chunks[-2:] == [{"type": "abort", "reason": "the run was cancelled"}, "[DONE]"]
    assert len(_text(chunks)) < len(STORY)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_chat_registries(kind: str, redis_server: RedisServer) -> None:
    from tokentide.server import MemoryStreamStore
    from tokentide.server._redis_store import RedisStreamStore
    from tokentide.server._ui_chats import MemoryChatRegistry, RedisChatRegistry, registry_for

    store: Any = MemoryStreamStore() if kind == "memory" else RedisStreamStore(redis_server.url)
    try:
        chats = registry_for(store)
        assert isinstance(chats, MemoryChatRegistry if kind == "memory" else RedisChatRegistry)
        chat = f"chat-{time.time_ns()}"
        assert await chats.active(chat) is None
        await chats.set_active(chat, "run_1")
        await chats.set_active(chat, "run_2")
        assert await chats.active(chat) == "run_2"
        await chats.clear(chat, "run_1")  # not the active one: stays
        assert await chats.active(chat) == "run_2"
        await chats.clear(chat, "run_2")
        assert await chats.active(chat) is None
        run = f"run_{time.time_ns()}"
        assert await chats.generation(run) == 0
        assert [await chats.attach(run), await chats.attach(run)] == [1, 2]
        assert await chats.generation(run) == 2
        assert await chats.context(run) is None
        await chats.set_context(run, {"skip_calls": ["c1"], "message_id": "m"})
        assert await chats.context(run) == {"skip_calls": ["c1"], "message_id": "m"}
    finally:
        await store.aclose()


def test_a_memory_registry_is_bounded() -> None:
    import asyncio

    from tokentide.server._ui_chats import MemoryChatRegistry

    chats = MemoryChatRegistry(max_entries=3)

    async def fill() -> list[str | None]:
        for i in range(5):
            await chats.set_active(f"c{i}", f"r{i}")
        return [await chats.active(f"c{i}") for i in range(5)]

    assert asyncio.run(fill()) == [None, None, "r2", "r3", "r4"]
