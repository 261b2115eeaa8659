"""The ``httptools`` connection of the async pool (`tokentide.models._h1.H1Connection`).

Every case runs against a raw socket server that writes exact bytes, through ``httpx`` on an
`AsyncPool`, once with `H1Connection` and once with ``httpcore``'s connection: both must
read the same responses, fail the same way, and reuse connections the same way."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tokentide.errors import StreamIdleTimeout
from tokentide.models import ChatOpenAI
from tokentide.models._h1 import BODY_EXTENSION, H1Body, H1Connection
from tokentide.models._pool import AsyncPool

pytestmark = pytest.mark.parametrize("h1", [True, False], ids=["httptools", "httpcore"])

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


class RawServer:
    """A loopback server whose handler writes the response bytes; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed = 0  # connections whose handler returned and closed its side
        self.port = 0
        self._changed = asyncio.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            try:
                await self.handler(reader, writer)
            finally:
                writer.close()
                self.closed += 1
                self._changed.set()

    async def wait_closed(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` connections were closed by the server."""

        async def until() -> None:
            while self.closed < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[RawServer]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def client(h1: bool, **kwargs: object) -> tuple[httpx.AsyncClient, AsyncPool]:
    pool = AsyncPool(max_connections=4, **kwargs)  # type: ignore[arg-type]
    pool.use_httptools = h1
    transport = httpx.AsyncHTTPTransport()
    transport._pool = pool  # type: ignore[assignment]
    return httpx.AsyncClient(transport=transport, timeout=5.0), pool


async def post(c: httpx.AsyncClient, url: str) -> httpx.Response:
    async with c.stream("POST", url + "/chat/completions", json={"a": 1}) as r:
        await r.aread()
        return r


EVENTS = b'data: {"x": 1}\n\ndata: [DONE]\n\n'


async def test_body_in_the_same_packet_as_the_headers(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(SSE + b"Content-Length: %d\r\n\r\n%s" % (len(EVENTS), EVENTS))

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c:
            for _ in range(3):
                r = await post(c, server.url)
                assert (r.status_code, r.content) == (200, EVENTS)
            assert (pool.active, pool.idle) == (0, 1)
    assert server.connections == 1


async def test_chunked_body_arriving_a_byte_at_a_time(h1: bool) -> None:
    wire = SSE + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EVENTS[:7], EVENTS[7:])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            for i in range(len(wire)):
                writer.write(wire[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0)

    async with RawServer(handler).run() as server:
        c, _ = client(h1)
        async with c:
            assert (await post(c, server.url)).content == EVENTS
            assert (await post(c, server.url)).content == EVENTS
    assert server.connections == 1


async def test_a_body_that_ends_at_the_close_is_read_whole_and_not_reused(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE + b"\r\n" + EVENTS)
        await writer.drain()

    async with RawServer(handler).run() as server:
        c, _ = client(h1)
        async with c:
            assert (await post(c, server.url)).content == EVENTS
            assert (await post(c, server.url)).content == EVENTS
    assert server.connections == 2


async def test_connection_close_is_not_reused(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(EVENTS))
        writer.write(EVENTS)
        await writer.drain()
        await reader.read()  # the server never closes: the client must close, not wait

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c:
            for _ in range(2):
                assert (await post(c, server.url)).content == EVENTS
            assert pool.idle == 0
    assert server.connections == 2


async def test_a_kept_alive_connection_the_server_closed_is_replaced(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # one request per connection, without saying so
        writer.write(SSE + b"Content-Length: %d\r\n\r\n%s" % (len(EVENTS), EVENTS))
        await writer.drain()

    async with RawServer(handler).run() as server:
        c, _ = client(h1)
        async with c:
            for i in range(3):
                assert (await post(c, server.url)).content == EVENTS
                await server.wait_closed(i + 1)  # the server closed the kept-alive connection
    assert server.connections == 3


async def test_interim_100_continue_is_skipped(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(SSE + b"Content-Length: %d\r\n\r\n%s" % (len(EVENTS), EVENTS))
        await writer.drain()

    async with RawServer(handler).run() as server:
        c, _ = client(h1)
        async with c:
            r = await post(c, server.url)
            assert (r.status_code, r.content) == (200, EVENTS)


async def test_a_body_cut_short_is_a_read_error(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n5\r\ndata:")
        await writer.drain()

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c:
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await post(c, server.url)
            assert (pool.active, pool.idle) == (0, 0)


async def test_a_malformed_response_is_a_protocol_error(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 TWO HUNDRED\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client gives up and closes

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c:
            with pytest.raises(httpx.RemoteProtocolError):
                await post(c, server.url)
            assert (pool.active, pool.idle) == (0, 0)


async def test_silent_server_is_a_read_timeout(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # silent until the client gives up and closes

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await c.post(server.url + "/x", json={}, timeout=httpx.Timeout(5.0, read=0.2))
            assert time.monotonic() - started < 3
            assert (pool.active, pool.idle) == (0, 0)


async def test_the_model_streams_and_times_out_on_keepalives_through_the_direct_body(
    h1: bool,
) -> None:
    """`ChatOpenAI` reads the body straight from the connection (the ``httptools`` case):
    a keep-alive comment is not progress, and the idle deadline holds within its timer."""
    frames = [
        b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n',
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n")
        for frame in frames:
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
        for _ in range(100):  # keep-alives only, every 50 ms, for 5 s
            await asyncio.sleep(0.05)
            writer.write(b"d\r\n: keep-alive\n\r\n")
            await writer.drain()

    async with RawServer(handler).run() as server:
        model = ChatOpenAI(
            model="m", base_url=server.url, api_key="k", max_retries=0, idle_timeout=0.4
        )
        async with model:
            pool = model._transport.aclient()._transport._pool  # type: ignore[attr-defined]
            pool.use_httptools = h1
            seen: list[str] = []
            started = time.monotonic()
            with pytest.raises(StreamIdleTimeout) as info:
                async for chunk in model.astream("hi"):
                    seen.append(str(chunk.content))
            waited = time.monotonic() - started
            assert "".join(seen) == "ab"
            assert info.value.partial.content == "ab"
            assert 0.35 < waited < 3.0
            assert (pool.active, pool.idle) == (0, 0)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
async def test_the_model_reads_the_direct_body_only_when_it_can(
    h1: bool, gzipped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ChatOpenAI` takes the direct body of an `H1Connection` for an uncompressed event
    stream, and ``httpx``'s (which decodes) for a compressed one or on ``httpcore``'s
    connections: the same chunks either way."""
    frames = b"".join(
        b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % t
        for t in (b"a", b"b", b"c")
    )
    payload = (
        gzip.compress(frames + b"data: [DONE]\n\n") if gzipped else frames + b"data: [DONE]\n\n"
    )
    encoding = b"Content-Encoding: gzip\r\n" if gzipped else b""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE + encoding + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(payload))
        await writer.drain()

    reads = {"receive": 0, "httpx": 0}  # H1Body.receive calls; httpx iterations begun
    receive, iterate = H1Body.receive, H1Body.__aiter__

    async def counting(self: H1Body, deadline: float | None = None) -> bytes:
        reads["receive"] += 1
        return await receive(self, deadline)

    def counting_iter(self: H1Body) -> AsyncIterator[bytes]:
        reads["httpx"] += 1
        return iterate(self)

    monkeypatch.setattr(H1Body, "receive", counting)
    monkeypatch.setattr(H1Body, "__aiter__", counting_iter)
    async with RawServer(handler).run() as server:
        model = ChatOpenAI(model="m", base_url=server.url, api_key="k", max_retries=0)
        async with model:
            pool = model._transport.aclient()._transport._pool  # type: ignore[attr-defined]
            pool.use_httptools = h1
            text = "".join([str(chunk.content) async for chunk in model.astream("hi")])
    assert text == "abc"
    direct = reads["receive"] > 0 and reads["httpx"] == 0
    assert direct == (h1 and not gzipped), reads
    assert (reads["receive"] > 0) == h1  # (httpcore's connections have no H1Body)


async def test_the_direct_body_is_offered_only_by_the_httptools_connection(h1: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE + b"Content-Length: %d\r\n\r\n%s" % (len(EVENTS), EVENTS))
        await writer.drain()

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c, c.stream("POST", server.url + "/x", json={}) as r:
            body = r.extensions.get(BODY_EXTENSION)
            assert isinstance(body, H1Body) is h1
            if isinstance(body, H1Body):
                assert isinstance(body._connection, H1Connection)
                assert await body.receive() == EVENTS
                assert await body.receive() == b""


async def test_a_large_body_read_late_pauses_the_socket_and_arrives_whole(h1: bool) -> None:
    """Past 256 KiB buffered and unread, the connection stops reading the socket; reading the
    body resumes it, and every byte arrives in order."""
    big = bytes(range(256)) * 4096  # 1 MiB

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(SSE + b"Content-Length: %d\r\n\r\n" % len(big))
            writer.write(big)
            await writer.drain()

    async with RawServer(handler).run() as server:
        c, pool = client(h1)
        async with c:
            for _ in range(2):
                async with c.stream("POST", server.url + "/x", json={}) as r:
                    body = r.extensions.get(BODY_EXTENSION)
                    if isinstance(body, H1Body):
                        for _ in range(1000):  # up to 10 s on a loaded machine
                            if body._paused:
                                break
                            await asyncio.sleep(0.01)
                        assert body._paused, "256 KiB buffered and unread: reading pauses"
                    assert await r.aread() == big
            assert (pool.active, pool.idle) == (0, 1)
    assert server.connections == 1
