"""The AI SDK chat endpoints on two ``tokentide serve`` replicas sharing one Redis: a chat
started on replica A resumes on replica B (the whole answer, replayed and followed), a
client that leaves A and never comes back gets its run cancelled after the grace period, and
B's stop endpoint stops a run that A executes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_agents import STORY

from fakes.redis_server import RedisServer, running_redis_server
from fakes.waiting import async_wait_until

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).resolve().parent
GRACE = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


def _start(redis_url: str, log: Any) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "UI_STORY_DELAY": "0.02"}
    args = [sys.executable, "-m", "tokentide.cli", "serve", "--port", str(port)]
    args += ["--graph", "story=ui_agents:story", "--redis-url", redis_url]
    args += ["--ui-resume-grace", str(GRACE), "--log-level", "warning"]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=HERE)
    return f"http://127.0.0.1:{port}", process


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    log.seek(0)
    pytest.fail(f"tokentide serve did not start:\n{log.read().decode(errors='replace')}")


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer) -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryFile() as log_a, tempfile.TemporaryFile() as log_b:
        a, process_a = _start(redis_server.url, log_a)
        b, process_b = _start(redis_server.url, log_b)
        try:
            _wait_ready(a, process_a, log_a)
            _wait_ready(b, process_b, log_b)
            yield a, b
        finally:
            for process in (process_a, process_b):
                process.terminate()
            for process in (process_a, process_b):
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


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


async def _start_and_leave(http: httpx.AsyncClient, url: str, chat_id: str) -> str:
    async with http.stream("POST", url + "/api/chat", json=_body(chat_id)) as response:
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        seen = 0
        async for line in response.aiter_lines():
            seen += '"text-delta"' in line
            if seen >= 3:
                break
    return run_id


async def _status(http: httpx.AsyncClient, url: str, run_id: str) -> str:
    status: str = (await http.get(f"{url}/v1/runs/{run_id}")).json()["status"]
    return status


async def test_a_chat_started_on_a_resumes_on_b(
    replicas: tuple[str, str], http: httpx.AsyncClient
) -> None:
    a, b = replicas
    chat_id = f"chat-resume-{time.time_ns()}"
    run_id = await _start_and_leave(http, a, chat_id)
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
    run_id = await _start_and_leave(http, a, f"chat-gone-{time.time_ns()}")
    left = time.time()
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
