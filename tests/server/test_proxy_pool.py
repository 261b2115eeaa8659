"""``tokentide serve --model openai:<name>`` as a proxy: its upstream pool follows
``--max-concurrency``; a request that finds no free upstream connection gets 503."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.live_server import LiveServer, live_server
from fakes.sse_server import Script, ScriptedSSEServer, anthropic_blast_body, raw, sleep
from tokentide.cli import build_parser
from tokentide.cli._serve import ServeError, build_app
from tokentide.errors import PoolTimeoutError
from tokentide.models import ChatAnthropic, ChatOpenAI


def _proxy_app(upstream: ScriptedSSEServer, *flags: str) -> Any:
    argv = ["serve", "--model", "openai:m", "--base-url", upstream.base_url, "--no-web"]
    args = build_parser().parse_args([*argv, "--log-level", "warning", *flags])
    return build_app(args)


@pytest.fixture
def paced() -> Iterator[ScriptedSSEServer]:
    """An upstream whose every stream lasts about 3 s (30 chunks, 0.1 s apart)."""
    with ScriptedSSEServer(Script.tokens(["tok"] * 30, rate=0.1)) as server:
        yield server


BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def _stream(client: httpx.AsyncClient, url: str, marks: dict[str, Any]) -> None:
    """One streamed request; ``marks`` gets its status, headers, body or chunk times."""
    async with client.stream("POST", url, json=BODY) as response:
        marks["status"] = response.status_code
        marks["headers"] = response.headers
        if response.status_code != 200:
            marks["body"] = (await response.aread()).decode()
            return
        async for line in response.aiter_lines():
            if line.startswith("data: {") and "first" not in marks:
                marks["first"] = time.monotonic()
        marks["done"] = time.monotonic()


def _run_streams(server: LiveServer, n: int) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        marks: list[dict[str, Any]] = [{} for _ in range(n)]
        limits = httpx.Limits(max_connections=n + 10)
        timeout = httpx.Timeout(60.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            url = f"{server.base_url}/chat/completions"
            await asyncio.gather(*(_stream(client, url, m) for m in marks))
        return marks

    return asyncio.run(main())


def test_requests_past_max_concurrency_get_503_with_retry_after(
    paced: ScriptedSSEServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = _proxy_app(paced, "--max-concurrency", "4", "--upstream-timeout", "0.5")
    with caplog.at_level(logging.WARNING, logger="tokentide.server"), live_server(app) as server:
        marks = _run_streams(server, 8)
    busy = [r for r in caplog.records if "no free connection" in r.getMessage()]
    assert len(busy) == 4  # load shedding is one warning line per request, no traceback
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in busy)
    statuses = sorted(m["status"] for m in marks)
    assert statuses == [200] * 4 + [503] * 4, statuses
    for m in marks:
        if m["status"] == 503:
            assert m["headers"]["retry-after"] == "1"
            assert '"code":"upstream_busy"' in m["body"].replace(" ", "")
            assert "no free connection" in m["body"]
        else:
            assert "done" in m
    assert len(paced.requests) == 4  # the refused ones never reached the upstream


@pytest.mark.once
def test_default_pool_streams_more_than_100_at_once() -> None:
    """150 paced streams (httpx's default pool holds 100) all start before any ends."""
    n = 150
    with ScriptedSSEServer(Script.tokens(["tok"] * 60, rate=0.1)) as upstream:
        with live_server(_proxy_app(upstream), limit_concurrency=None) as server:
            marks = _run_streams(server, n)
    assert [m["status"] for m in marks] == [200] * n
    last_first = max(m["first"] for m in marks)
    first_done = min(m["done"] for m in marks)
    assert last_first < first_done, "some streams waited for a free upstream connection"


def test_bad_max_concurrency_is_a_usage_error(paced: ScriptedSSEServer) -> None:
    with pytest.raises(ServeError, match="--max-concurrency must be at least 1"):
        _proxy_app(paced, "--max-concurrency", "0")
    with pytest.raises(ServeError, match="--upstream-timeout"):
        _proxy_app(paced, "--upstream-timeout", "0")


async def _pool_timeout(model: Any) -> BaseException | None:
    """Stream ``model`` to its end; the ``PoolTimeoutError`` that stopped it, if one did."""
    try:
        async for _ in model.astream("hi"):
            pass
    except PoolTimeoutError as exc:
        return exc
    return None


def test_chat_openai_max_connections_bounds_its_pool(paced: ScriptedSSEServer) -> None:
    async def main() -> tuple[list[str], BaseException | None]:
        model = ChatOpenAI(
            model="m", base_url=paced.base_url, api_key="k", max_connections=1, timeout=0.3
        )
        async with model:
            first = model.astream("hi")
            chunks = [(await first.__anext__()).content]  # holds the only connection
            error = await _pool_timeout(model)
            await first.aclose()
        return chunks, error

    chunks, error = asyncio.run(main())
    assert chunks == ["tok"]
    assert isinstance(error, PoolTimeoutError)
    assert not error.retryable
    assert "max_connections" in str(error)
    with pytest.raises(ValueError, match="max_connections"):
        ChatOpenAI(model="m", base_url=paced.base_url, max_connections=0)


def test_chat_anthropic_max_connections_bounds_its_pool() -> None:
    body = anthropic_blast_body(1)
    cut = body.index(b"event: content_block_stop")
    slow = Script([raw(body[:cut]), sleep(3.0), raw(body[cut:])])

    async def main(url: str) -> tuple[list[Any], BaseException | None]:
        model = ChatAnthropic(model="m", base_url=url, api_key="k", max_connections=1, timeout=0.3)
        first = model.astream("hi")
        chunks = [(await first.__anext__()).content]  # holds the only connection
        while chunks[-1] != "tok":
            chunks.append((await first.__anext__()).content)
        error = await _pool_timeout(model)
        await first.aclose()
        await model.aclose()
        return chunks, error

    with ScriptedSSEServer(slow) as upstream:
        chunks, error = asyncio.run(main(upstream.base_url))
    assert chunks[-1] == "tok"
    assert isinstance(error, PoolTimeoutError)
    assert "max_connections" in str(error)
    with pytest.raises(ValueError, match="max_connections"):
        ChatAnthropic(model="m", base_url="http://127.0.0.1:9", max_connections=0)
