"""The async HTTP clients' connection pool (`tokentide.models._pool.AsyncPool`): keep-alive
reuse, a bound on connections, slots given back on every way out of a stream, and constant
work per request however many connections it holds."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpcore
import httpx
import pytest

from fakes.sse_server import Script, ScriptedSSEServer, drop, sleep
from tokentide.errors import PoolTimeoutError, StreamError
from tokentide.models import ChatOpenAI
from tokentide.models._pool import AsyncPool, pooled_transport

from .openai_support import read_upto

WORDS = [f"w{i} " for i in range(5)]


@pytest.fixture
def server() -> Iterator[ScriptedSSEServer]:
    with ScriptedSSEServer(Script.tokens(WORDS)) as s:
        yield s


def _model(server: ScriptedSSEServer, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0, **kwargs)  # type: ignore[arg-type]


def _pool(model: ChatOpenAI) -> AsyncPool:
    pool = model._transport.aclient()._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, AsyncPool)
    return pool


async def _text(model: ChatOpenAI) -> str:
    return "".join([str(c.content) async for c in model.astream("hi")])


def test_the_async_client_uses_the_pool() -> None:
    transport = pooled_transport(httpx.Limits(max_connections=7, max_keepalive_connections=3))
    pool = transport._pool
    assert isinstance(pool, AsyncPool)
    assert (pool.max_connections, pool.max_keepalive_connections) == (7, 3)


async def test_sequential_streams_reuse_one_connection(server: ScriptedSSEServer) -> None:
    async with _model(server, max_connections=4) as model:
        for _ in range(5):
            assert await _text(model) == "".join(WORDS)
        pool = _pool(model)
        assert (pool.active, pool.idle) == (0, 1)
    assert len(server.connections) == 1
    assert server.connections[0].requests == 5


async def test_concurrent_streams_each_get_a_connection_then_all_are_kept(
    server: ScriptedSSEServer,
) -> None:
    server.default = Script.tokens(WORDS, rate=0.05)
    async with _model(server, max_connections=10) as model:
        texts = await asyncio.gather(*(_text(model) for _ in range(6)))
        assert texts == ["".join(WORDS)] * 6
        assert (_pool(model).active, _pool(model).idle) == (0, 6)
        await asyncio.gather(*(_text(model) for _ in range(6)))  # the same six again
    assert len(server.connections) == 6


async def test_a_stream_left_early_closes_its_connection_and_frees_its_slot(
    server: ScriptedSSEServer,
) -> None:
    server.push(Script.tokens([f"t{i} " for i in range(200)], rate=0.01))
    async with _model(server, max_connections=1, timeout=2.0) as model:
        async with contextlib.aclosing(model.astream("hi")) as chunks:
            assert await read_upto(chunks, 3) == 3
        server.wait_closed(0)
        assert (_pool(model).active, _pool(model).idle) == (0, 0)  # not reusable: closed
        assert await _text(model) == "".join(WORDS)  # the one slot is free again
    assert len(server.connections) == 2


async def test_a_cancelled_stream_frees_its_slot(server: ScriptedSSEServer) -> None:
    server.push(Script.tokens([f"t{i} " for i in range(200)], rate=0.02))
    async with _model(server, max_connections=1, timeout=2.0) as model:
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in model.astream("hi"):
                started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _pool(model).active == 0
        assert await _text(model) == "".join(WORDS)


async def test_a_full_pool_raises_pool_timeout_and_recovers(server: ScriptedSSEServer) -> None:
    server.push(Script.tokens(["slow "], after=[sleep(3.0)]))
    async with _model(server, max_connections=1, timeout=0.3) as model:
        held = model.astream("hi")
        async with contextlib.aclosing(held):
            assert await read_upto(held, 1) == 1
            with pytest.raises(PoolTimeoutError, match="max_connections"):
                await _text(model)
        assert await _text(model) == "".join(WORDS)


async def test_a_connection_broken_mid_body_is_not_kept(server: ScriptedSSEServer) -> None:
    async with _model(server, max_connections=2) as model:
        assert await _text(model) == "".join(WORDS)
        assert _pool(model).idle == 1
        server.push(Script.tokens(["x "], after=[drop()]))  # the server closes mid-body
        with pytest.raises(StreamError):
            await _text(model)
        assert (_pool(model).active, _pool(model).idle) == (0, 0)
        assert await _text(model) == "".join(WORDS)
    assert len(server.connections) == 2


def _client(pool: AsyncPool) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport()
    transport._pool = pool  # type: ignore[assignment]
    return httpx.AsyncClient(transport=transport)


async def _get(client: httpx.AsyncClient, server: ScriptedSSEServer) -> None:
    async with client.stream("POST", f"{server.base_url}/chat/completions", json={}) as r:
        await r.aread()


async def test_an_expired_idle_connection_is_replaced(server: ScriptedSSEServer) -> None:
    pool = AsyncPool(max_connections=2, keepalive_expiry=0.05)
    async with _client(pool) as client:
        await _get(client, server)
        await _get(client, server)  # at once: reused
        await asyncio.sleep(0.3)
        await _get(client, server)  # after the keep-alive expiry: a new connection
        assert (pool.active, pool.idle) == (0, 1)
    assert [c.requests for c in server.connections] == [2, 1]


async def test_idle_connections_past_the_keep_alive_limit_are_closed(
    server: ScriptedSSEServer,
) -> None:
    server.default = Script.tokens(WORDS, rate=0.05)
    pool = AsyncPool(max_connections=10, max_keepalive_connections=2)
    async with _client(pool) as client:
        await asyncio.gather(*(_get(client, server) for _ in range(5)))
        assert (pool.active, pool.idle) == (0, 2)
    assert (pool.active, pool.idle) == (0, 0)


async def test_work_per_request_does_not_grow_with_open_connections(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpcore's own pool asks every connection whether it is idle (and, for each idle one,
    all the others again) at every request start and end; this pool looks at one."""
    server.default = Script.tokens(["a "], after=[sleep(30.0)])
    n = 150
    async with _model(server, max_connections=n + 1, timeout=20.0) as model:
        streams = [model.astream("hi") for _ in range(n)]
        try:
            await asyncio.gather(*(read_upto(s, 1) for s in streams))
            assert _pool(model).active == n
            calls = 0
            real = httpcore.AsyncHTTPConnection.is_idle

            def counting(self: httpcore.AsyncHTTPConnection) -> bool:
                nonlocal calls
                calls += 1
                return real(self)

            monkeypatch.setattr(httpcore.AsyncHTTPConnection, "is_idle", counting)
            server.push(Script.tokens(WORDS))
            assert await _text(model) == "".join(WORDS)
            assert calls <= 4, calls
        finally:
            for s in streams:
                await s.aclose()


_GONE = (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_streams_through_tls_and_reuse_the_connection(
    tls_files: tuple[Path, Path],
) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    body = b"data: {}\n\ndata: [DONE]\n\n"
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        with contextlib.closing(writer), contextlib.suppress(*_GONE):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cafile=str(cert))
    pool = AsyncPool(max_connections=2, ssl_context=client_ctx)
    try:
        async with _client(pool) as client:
            for _ in range(3):
                async with client.stream("POST", f"https://127.0.0.1:{port}/", json={}) as r:
                    assert await r.aread() == body
                    assert r.extensions["network_stream"].get_extra_info("ssl_object")
        assert connections == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_an_untrusted_certificate_is_a_connect_error(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    pool = AsyncPool(max_connections=2, ssl_context=ssl.create_default_context())
    try:
        async with _client(pool) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://127.0.0.1:{port}/", json={})
        assert (pool.active, pool.idle) == (0, 0)
    finally:
        server.close()
        await server.wait_closed()
