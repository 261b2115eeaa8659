"""The sockets of the async HTTP clients: an ``httpcore`` network backend on asyncio protocols.

``httpcore`` reads its sockets through ``anyio`` by default: every read of a streamed body
enters a cancel scope with a deadline, looks up the current task and the async library, and
goes through ``anyio``'s socket stream: for a paced event stream (one small read per event)
that is a third of a proxy's CPU per token. `AsyncioBackend` reads through an
``asyncio.Protocol`` instead: the event loop hands each piece of data to the protocol, a read
takes the next piece or waits on one future (with a timer only while it waits).

It implements ``httpcore.AsyncNetworkBackend`` (TCP, Unix sockets, TLS via ``start_tls``) and
raises ``httpcore``'s exceptions (``ConnectError``, ``ConnectTimeout``, ``ReadError``,
``ReadTimeout``, ``WriteError``, ``WriteTimeout``), which ``httpx`` maps to its own. asyncio
only (the clients of `HTTPTransport` are per asyncio event loop).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

from tokentide.runtime import wait_within

__all__ = ["AsyncioBackend"]

_HIGH_WATER = 256 * 1024  # buffered bytes at which reading from the socket pauses

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class _Stream(asyncio.Protocol, httpcore.AsyncNetworkStream):
    """One connection: a protocol that buffers what arrives, and the stream that reads it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._eof = False
        self._lost: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._can_write: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._pieces.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close the transport: an HTTP/1.1 client has nothing left to do

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc
        self._wake()
        waiter = self._can_write
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        if self._can_write is None or self._can_write.done():
            self._can_write = self._loop.create_future()

    def resume_writing(self) -> None:
        waiter = self._can_write
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._pieces:
            if self._eof:
                if self._lost is not None:
                    raise httpcore.ReadError(f"connection lost: {self._lost}")
                return b""
            await self._wait(timeout)
            if not self._pieces:
                if self._lost is not None:
                    raise httpcore.ReadError(f"connection lost: {self._lost}")
                return b""
        piece = self._pieces.popleft()
        if len(piece) > max_bytes:
            self._pieces.appendleft(piece[max_bytes:])
            piece = piece[:max_bytes]
        self._buffered -= len(piece)
        if self._paused and self._buffered <= _HIGH_WATER // 4 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return piece

    async def _wait(self, timeout: float | None) -> None:
        waiter = self._waiter = self._loop.create_future()
        if timeout is None:
            try:
                await waiter
            finally:
                self._waiter = None
            return
        timer = self._loop.call_later(timeout, _time_out, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        transport = self._transport
        if transport is None or transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        transport.write(buffer)
        waiter = self._can_write
        if waiter is not None and not waiter.done():
            try:
                await wait_within(asyncio.shield(waiter), timeout)
            except asyncio.TimeoutError:
                raise httpcore.WriteTimeout(f"the socket took no data for {timeout} s") from None
        if self._lost is not None:
            raise httpcore.WriteError(f"connection lost: {self._lost}")

    async def aclose(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
            await asyncio.sleep(0)  # let the loop close the socket now (it does so "soon")

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        transport = self._transport
        if transport is None:
            raise httpcore.ConnectError("the connection is closed")
        try:
            tls = await self._loop.start_tls(
                transport,
                self,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except (asyncio.TimeoutError, TimeoutError):
            transport.close()
            raise httpcore.ConnectTimeout(f"the TLS handshake took over {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        if tls is None:
            raise httpcore.ConnectError("the TLS handshake did not complete")
        self._transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "is_readable":  # data or an end already came: an idle connection is stale
            return bool(self._pieces) or self._eof
        if transport is None:
            return None
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        return None


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpcore.ReadTimeout("no data from the server in time"))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """``httpcore`` network backend on asyncio protocols (see the module docstring)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        stream = _Stream(loop)
        local = (local_address, 0) if local_address else None
        connect = loop.create_connection(lambda: stream, host, port, local_addr=local)
        await _connect(connect, timeout, f"{host}:{port}")
        _set_options(stream, socket_options)
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        stream = _Stream(loop)
        await _connect(loop.create_unix_connection(lambda: stream, path), timeout, path)
        _set_options(stream, socket_options)
        return stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(connect: Any, timeout: float | None, where: str) -> None:
    try:
        await wait_within(connect, timeout)
    except asyncio.TimeoutError:
        raise httpcore.ConnectTimeout(f"connecting to {where} took over {timeout} s") from None
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None


def _set_options(stream: _Stream, options: Iterable[SocketOption] | None) -> None:
    sock: socket.socket | None = stream.get_extra_info("socket")
    if sock is not None:
        for option in options or ():
            sock.setsockopt(*option)
