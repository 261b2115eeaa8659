"""One HTTP/1.1 client connection on an asyncio protocol, its responses parsed by ``httptools``.

`AsyncPool` (``tokentide.models._pool``) uses `H1Connection` in place of
``httpcore.AsyncHTTPConnection`` when ``httptools`` is installed (the ``server`` extra has
it). For a streamed body the difference is the cost per piece: the event loop hands the
socket's data to the protocol, ``httptools`` (C) strips the chunked framing, and the body's
reader takes the piece from a queue; ``httpcore`` instead wakes a task per read, runs
``h11``'s state machine (pure Python) and goes through three layers of async iterators.

A body's reader can also skip ``httpx``'s iterators: the response's extensions carry the body
under ``"tokentide.body"``, whose `H1Body.receive` waits for the next piece with a deadline
(one timer per stream, re-armed only when it fires, instead of a timer per read).

It raises ``httpcore``'s exceptions (which ``httpx`` maps to its own) from the request and the
body's iteration; `H1Body.receive` raises ``httpx``'s (and ``TimeoutError`` at its deadline).
A connection carries one request at a time; it can be reused when its response was read to
the end, the server did not ask to close it, and nothing else arrived on it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httptools
import httpx

from tokentide.runtime import wait_within

__all__ = ["BODY_EXTENSION", "H1Body", "H1Connection"]

#: The key of the response extension that carries the `H1Body` of a response.
BODY_EXTENSION = "tokentide.body"

_HIGH_WATER = 256 * 1024  # buffered body bytes at which reading from the socket pauses
_MAX_HEAD = 64 * 1024  # bytes of status line and headers accepted before the body
_MAX_GATHER = 1024 * 1024  # a request body up to this size is sent in one write


class H1Connection(asyncio.Protocol):
    """One connection to ``origin``; the request interface is ``httpcore``'s (see module)."""

    def __init__(
        self,
        origin: httpcore.Origin,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float | None = None,
    ) -> None:
        self._origin = origin
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._transport: asyncio.Transport | None = None
        self._parser: Any = None
        self._body: H1Body | None = None  # the response being read
        self._busy = False  # a request is in flight (until its body is closed)
        self._reusable = True
        self._closed = False
        self._idle_since = time.monotonic()
        self._lost: BaseException | None = None
        self._can_write: asyncio.Future[None] | None = None
        # The response being parsed.
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._head: asyncio.Future[None] | None = None
        self._head_done = False
        self._complete = False
        self._early: list[bytes] = []  # body pieces that came before the response object
        self._early_error: Exception | None = None

    # ------------------------------------------------------------------ pool interface

    def is_idle(self) -> bool:
        """Connected, no request in flight, and reusable."""
        return (
            self._transport is not None
            and not self._busy
            and self._reusable
            and not self._closed
            and not self._transport.is_closing()
        )

    def has_expired(self) -> bool:
        """Idle past ``keepalive_expiry``, or closed by the server."""
        if not self.is_idle():
            return not self._busy
        expiry = self._keepalive_expiry
        return expiry is not None and time.monotonic() - self._idle_since > expiry

    async def aclose(self) -> None:
        self._closed = True
        self._reusable = False
        transport = self._transport
        if transport is not None:
            if not transport.is_closing():
                transport.close()
            await asyncio.sleep(0)  # let the loop close the socket now (it does so "soon")

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` and return its response once the headers arrived."""
        if self._busy or self._closed:
            raise httpcore.ConnectionNotAvailable()
        timeouts = request.extensions.get("timeout") or {}
        reused = self._transport is not None
        if reused and not self.is_idle():
            raise httpcore.ConnectionNotAvailable()
        self._busy = True
        try:
            if not reused:
                await self._connect(timeouts.get("connect"))
            self._start_response()
            await self._send(request, timeouts.get("write"))
            await self._wait_head(timeouts.get("read"), reused)
        except BaseException:
            self._reusable = False
            self._busy = False
            transport = self._transport
            if transport is not None:
                transport.close()
            raise
        body = self._body = H1Body(self, timeouts)
        for piece in self._early:
            body._piece(piece)
        self._early = []
        if self._early_error is not None:
            body._fail(self._early_error)
        elif self._complete:
            body._end()
        return httpcore.Response(
            status=self._status,
            headers=self._headers,
            content=body,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": self._reason,
                "network_stream": self,
                BODY_EXTENSION: body,
            },
        )

    def get_extra_info(self, info: str) -> Any:
        """The ``network_stream`` extension's interface (``ssl_object``, ``client_addr``,
        ``server_addr``, ``socket``, ``is_readable``)."""
        transport = self._transport
        if info == "is_readable":
            return not self._reusable or transport is None or transport.is_closing()
        if transport is None:
            return None
        names = {"client_addr": "sockname", "server_addr": "peername"}
        if info in ("ssl_object", "socket", "client_addr", "server_addr"):
            return transport.get_extra_info(names.get(info, info))
        return None

    # ------------------------------------------------------------------ request

    async def _connect(self, timeout: float | None) -> None:
        origin = self._origin
        host = origin.host.decode("ascii")
        tls = origin.scheme == b"https"
        context = self._ssl_context if tls else None
        if tls and context is None:
            context = ssl.create_default_context()
        loop = asyncio.get_running_loop()
        connect = loop.create_connection(
            lambda: self,
            host,
            origin.port,
            ssl=context,
            server_hostname=host if tls else None,
            ssl_handshake_timeout=timeout if tls else None,
        )
        where = f"{host}:{origin.port}"
        try:
            await wait_within(connect, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise httpcore.ConnectTimeout(f"connecting to {where} took over {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None

    def _start_response(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._status = 0
        self._reason = b""
        self._headers = []
        self._head_size = 0
        self._head = None
        self._head_done = False
        self._complete = False
        self._body = None
        self._early = []
        self._early_error = None

    async def _send(self, request: httpcore.Request, timeout: float | None) -> None:
        chunked = False
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method, request.url.target)]
        has_host = False
        for name, value in request.headers:
            lower = name.lower()
            if lower == b"host":
                has_host = True
            elif lower == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not has_host:
            lines.insert(1, b"Host: %s\r\n" % self._origin.host)
        lines.append(b"\r\n")
        head = b"".join(lines)
        stream = request.stream
        if stream is None:
            await self._write(head, timeout)
            return
        # A small body goes out with the head in one write; a large one is streamed.
        parts = [head]
        size = 0
        pieces = stream.__aiter__()  # type: ignore[union-attr]
        async for part in pieces:
            if part:
                parts.append(_frame(bytes(part), chunked))
                size += len(part)
                if size > _MAX_GATHER:
                    await self._write(b"".join(parts), timeout)
                    parts = []
                    async for more in pieces:
                        if more:
                            await self._write(_frame(bytes(more), chunked), timeout)
                    break
        if chunked:
            parts.append(b"0\r\n\r\n")
        if parts:
            await self._write(b"".join(parts), timeout)

    async def _write(self, data: bytes, timeout: float | None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise httpcore.WriteError(f"connection lost: {self._lost or 'closed'}")
        transport.write(data)
        waiter = self._can_write
        if waiter is not None and not waiter.done():
            try:
                await wait_within(asyncio.shield(waiter), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                raise httpcore.WriteTimeout(f"the socket took no data for {timeout} s") from None

    async def _wait_head(self, timeout: float | None, reused: bool) -> None:
        if not self._head_done:
            loop = asyncio.get_running_loop()
            self._head = loop.create_future()
            try:
                await wait_within(asyncio.shield(self._head), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                raise httpcore.ReadTimeout(f"no response headers within {timeout} s") from None
            finally:
                self._head = None
        if not self._status:
            # Closed before a byte of the response: a kept-alive connection the server
            # closed as the request went out (the pool tries another), or a failure.
            if reused and self._head_size == 0:
                raise httpcore.ConnectionNotAvailable()
            raise httpcore.RemoteProtocolError(
                f"the server closed the connection before the response ended its headers "
                f"({self._lost or 'no error'})"
            )

    # ------------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self._complete:
            self._reusable = False  # bytes nobody asked for: do not reuse this connection
            return
        if not self._head_done:
            self._head_size += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpcore.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpcore.RemoteProtocolError(f"malformed HTTP response: {exc}"))
            return
        if not self._head_done and self._head_size > _MAX_HEAD:
            self._fail(httpcore.RemoteProtocolError("the response's headers are too large"))

    def eof_received(self) -> bool:
        self._reusable = False
        self._on_eof(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._reusable = False
        self._lost = exc
        self._on_eof(exc)
        waiter = self._can_write
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        if self._can_write is None or self._can_write.done():
            self._can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter = self._can_write
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_eof(self, exc: BaseException | None) -> None:
        if self._parser is None or self._complete:
            return
        if not self._head_done:
            self._head_done = True
            self._wake_head()
            return
        body = self._body
        if _ends_at_close(self._headers):  # a body that ends when the connection does
            self._complete = True
            if body is not None:
                body._end()
            return
        error = httpcore.ReadError(
            f"the server closed the connection before the body ended ({exc or 'no error'})"
        )
        if body is not None:
            body._fail(error)
        else:
            self._early_error = error

    def _fail(self, error: Exception) -> None:
        self._reusable = False
        self._parser = None
        transport = self._transport
        if transport is not None:
            transport.close()
        if not self._head_done:
            self._head_done = True
            self._status = 0
            self._head_size = max(self._head_size, 1)
            self._wake_head(error)
        elif self._body is not None:
            self._body._fail(error)
        else:
            self._early_error = error

    def _wake_head(self, error: Exception | None = None) -> None:
        head = self._head
        if head is not None and not head.done():
            if error is None:
                head.set_result(None)
            else:
                head.set_exception(error)

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim response (100 Continue ...): wait for the real one
            self._reason = b""
            self._headers = []
            return
        self._status = status
        if not self._parser.should_keep_alive():
            self._reusable = False
        self._head_done = True
        self._wake_head()

    def on_body(self, body: bytes) -> None:
        if self._body is not None:
            self._body._piece(body)
        else:  # the body's first bytes came with the headers, before the response object
            self._early.append(body)

    def on_message_complete(self) -> None:
        if not self._status:
            return
        self._complete = True
        if self._body is not None:
            self._body._end()

    # ------------------------------------------------------------------ body

    def _body_closed(self, body: H1Body) -> None:
        if not self._complete:
            self._reusable = False  # left before its end: the rest would come on the next
            transport = self._transport
            if transport is not None:
                transport.close()
        self._parser = None
        self._body = None
        self._busy = False
        self._idle_since = time.monotonic()

    def _pause(self, paused: bool) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()


class H1Body:
    """The body of one response: an async iterator of pieces (``httpcore``'s interface), or
    `receive` with a deadline."""

    __slots__ = (
        "_buffered",
        "_connection",
        "_deadline",
        "_done",
        "_error",
        "_loop",
        "_paused",
        "_pieces",
        "_timeouts",
        "_timer",
        "_timer_at",
        "_waiter",
        "closed",
    )

    def __init__(self, connection: H1Connection, timeouts: dict[str, Any]) -> None:
        self._connection = connection
        self._timeouts = timeouts
        self._loop = asyncio.get_running_loop()
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._done = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.closed = False

    # ------------------------------------------------------------------ from the protocol

    def _piece(self, piece: bytes) -> None:
        self._pieces.append(piece)
        self._buffered += len(piece)
        if self._buffered > _HIGH_WATER and not self._paused:
            self._paused = True
            self._connection._pause(True)
        self._wake()

    def _end(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        if self._error is None and not self._done:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ reading

    def _take(self) -> bytes:
        piece = self._pieces.popleft()
        self._buffered -= len(piece)
        if self._paused and self._buffered <= _HIGH_WATER // 4:
            self._paused = False
            self._connection._pause(False)
        return piece

    async def receive(self, deadline: float | None = None) -> bytes:
        """The next piece of the body, ``b""`` at its end.

        Raises ``TimeoutError`` when ``deadline`` (``time.monotonic()``) passes first,
        ``httpx.ReadError`` / ``httpx.RemoteProtocolError`` when the connection fails."""
        while True:
            if self._pieces:
                return self._take()
            if self._error is not None:
                raise _to_httpx(self._error)
            if self._done or self.closed:
                return b""
            self._deadline = deadline
            if deadline is not None:
                timer = self._timer
                if timer is None:
                    self._arm()
                elif deadline < self._timer_at:  # an earlier deadline than the armed one
                    timer.cancel()
                    self._arm()
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def _arm(self) -> None:
        deadline = self._deadline
        if deadline is not None:
            self._timer_at = deadline
            self._timer = self._loop.call_later(max(deadline - time.monotonic(), 0.0), self._ring)

    def _ring(self) -> None:
        """The deadline timer: fail the wait if the deadline passed, else re-arm."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits now: the next wait arms it again
        deadline = self._deadline
        if deadline is None:
            return
        if time.monotonic() >= deadline - 0.001:
            self._waiter = None
            waiter.set_exception(TimeoutError())
        else:
            self._arm()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            timeout = self._timeouts.get("read")
            deadline = time.monotonic() + timeout if timeout is not None else None
            try:
                piece = await self.receive(deadline)
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data from the server for {timeout} s") from None
            except httpx.ReadError as exc:
                raise httpcore.ReadError(str(exc)) from None
            except httpx.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(str(exc)) from None
            if not piece:
                return
            yield piece

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()
        self._connection._body_closed(self)


def _frame(data: bytes, chunked: bool) -> bytes:
    if not chunked or not data:
        return data
    return b"%x\r\n%s\r\n" % (len(data), data)


def _ends_at_close(headers: list[tuple[bytes, bytes]]) -> bool:
    """No ``Content-Length`` and not chunked: the body is everything until the close."""
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-length":
            return False
        if lower == b"transfer-encoding" and b"chunked" in value.lower():
            return False
    return True


def _to_httpx(error: Exception) -> Exception:
    if isinstance(error, httpcore.RemoteProtocolError):
        return httpx.RemoteProtocolError(str(error))
    return httpx.ReadError(str(error))
