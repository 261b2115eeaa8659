"""A connection pool for the async HTTP clients of streaming models: constant work per request.

``httpcore``'s pool (behind ``httpx.AsyncClient``) walks every connection it holds each time a
request starts or ends, and for each idle connection counts all the others: with thousands of
pooled connections (a server proxying thousands of streams to one upstream) that walk costs
more than the streams themselves. `AsyncPool` keeps what a streaming client needs and does a
constant amount of work per request:

- at most ``max_connections`` requests at once; a request that finds no free slot within the
  request's ``pool`` timeout raises ``httpcore.PoolTimeout`` (``httpx.PoolTimeout`` to the
  caller), as ``httpcore``'s pool does;
- **keep-alive reuse**: a connection whose response was read to its end goes back to the idle
  connections of its origin (at most ``max_keepalive_connections`` in all; the most recently
  used is taken first); an idle connection that expired (``keepalive_expiry``) or that the
  server closed is closed when it is next looked at, and another is used;
- a response closed before its end closes its connection (the connection cannot be reused);
- closing a response finishes even when the closing task is cancelled (a client that leaves
  cancels the stream that reads the upstream): the slot is always given back.

HTTP/1.1 only (each connection carries one request at a time), as ``httpx``'s default. Its
connections are `H1Connection`s (``tokentide.models._h1``: an asyncio protocol whose
responses ``httptools`` parses) when ``httptools`` is installed, else ``httpcore``'s on
`AsyncioBackend`'s sockets (``tokentide.models._netstream``: asyncio protocols, not ``anyio``
streams).
`pooled_transport` returns an ``httpx.AsyncHTTPTransport`` that uses it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import anyio
import httpcore
import httpx

from tokentide.runtime import wait_within

from ._netstream import AsyncioBackend

try:
    from ._h1 import H1Connection
except ImportError:  # no httptools: every connection is httpcore's
    H1Connection = None  # type: ignore[assignment,misc]

__all__ = ["AsyncPool", "pooled_transport"]

_BACKEND = AsyncioBackend()

_Key = tuple[bytes, bytes, int]  # an origin: scheme, host, port
_H1_METHODS = frozenset((b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"))


class AsyncPool:
    """Async HTTP/1.1 connections to any number of origins, reused, bounded in number.

    Implements the request interface of ``httpcore`` (``handle_async_request``, ``aclose``)
    so that ``httpx.AsyncHTTPTransport`` can use it in place of its own pool.

    Example::

        transport = pooled_transport(httpx.Limits(max_connections=2048))
        async with httpx.AsyncClient(transport=transport) as client:
            ...
    """

    def __init__(
        self,
        *,
        max_connections: int,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.max_connections = max_connections
        self.max_keepalive_connections = (
            max_connections if max_keepalive_connections is None else max_keepalive_connections
        )
        self.keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[_Key, deque[httpcore.AsyncHTTPConnection]] = {}
        self._idle_count = 0
        self._active: set[httpcore.AsyncHTTPConnection] = set()
        self._slots: asyncio.Semaphore | None = None  # made in the loop that first uses it
        self._closed = False
        #: New connections parse responses with ``httptools`` (`H1Connection`) when it is
        #: installed; ``False``: always ``httpcore``'s connections.
        self.use_httptools = H1Connection is not None

    # ------------------------------------------------------------------ state

    @property
    def active(self) -> int:
        """Connections carrying a request now."""
        return len(self._active)

    @property
    def idle(self) -> int:
        """Connections kept alive for reuse."""
        return self._idle_count

    # ------------------------------------------------------------------ requests

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on a free connection; its body's close gives the connection back."""
        scheme = request.url.scheme
        if scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(
                f"the URL's scheme must be 'http' or 'https', not {scheme.decode()!r}"
            )
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        timeouts = request.extensions.get("timeout") or {}
        await self._acquire(timeouts.get("pool"))
        try:
            origin = request.url.origin
            while True:
                connection = await self._reuse(_key(origin))
                reused = connection is not None
                if connection is None:
                    connection = self._connection(origin, request.method)
                self._active.add(connection)
                try:
                    response = await connection.handle_async_request(request)
                except httpcore.ConnectionNotAvailable:
                    # A kept-alive connection the server closed meanwhile: try another.
                    self._active.discard(connection)
                    await _close(connection)
                    if reused:
                        continue
                    raise
                except BaseException:
                    self._active.discard(connection)
                    await _close(connection)
                    raise
                break
        except BaseException:
            self._free_slot()
            raise
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_PooledBody(response.stream, self, connection),
            extensions=response.extensions,
        )

    def _connection(self, origin: httpcore.Origin, method: bytes) -> Any:
        """A new connection: `H1Connection` when ``httptools`` is there (and the method's
        response has a body), else ``httpcore``'s on `AsyncioBackend`."""
        if H1Connection is not None and self.use_httptools and method in _H1_METHODS:
            return H1Connection(
                origin, ssl_context=self._ssl_context, keepalive_expiry=self.keepalive_expiry
            )
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self.keepalive_expiry,
            network_backend=_BACKEND,
        )

    async def _acquire(self, wait: float | None) -> None:
        slots = self._slots
        if slots is None:
            slots = self._slots = asyncio.Semaphore(self.max_connections)
        if not slots.locked():
            await slots.acquire()  # a free slot: taken without waiting
            return
        try:
            await wait_within(slots.acquire(), wait)
        except asyncio.TimeoutError:
            raise httpcore.PoolTimeout(
                f"all {self.max_connections} connections stayed busy for {wait} s"
            ) from None

    def _free_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def _reuse(self, key: _Key) -> httpcore.AsyncHTTPConnection | None:
        """The most recently used idle connection to an origin that is still good."""
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.is_idle() and not connection.has_expired():
                return connection
            await _close(connection)
        return None

    async def _give_back(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """A response ended: keep its connection for reuse, or close it."""
        self._active.discard(connection)
        try:
            if (
                not self._closed
                and connection.is_idle()
                and self._idle_count < self.max_keepalive_connections
            ):
                origin = _origin(connection)
                if origin is not None:
                    self._idle.setdefault(_key(origin), deque()).append(connection)
                    self._idle_count += 1
                    return
            await _close(connection)
        finally:
            self._free_slot()

    # ------------------------------------------------------------------ life cycle

    async def aclose(self) -> None:
        """Close every connection, idle and active."""
        self._closed = True
        connections = [c for idle in self._idle.values() for c in idle] + list(self._active)
        self._idle.clear()
        self._idle_count = 0
        self._active.clear()
        for connection in connections:
            await _close(connection)

    async def __aenter__(self) -> AsyncPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


class _PooledBody:
    """A response body that gives its connection back to the pool when it is closed."""

    __slots__ = ("_closed", "_connection", "_pool", "_stream")

    def __init__(
        self, stream: Any, pool: AsyncPool, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The connection's own iterator (no extra layer per piece); ``httpx`` closes the
        # body (``aclose``) whether the iteration ends, fails or is left early.
        iterator: AsyncIterator[bytes] = self._stream.__aiter__()
        return iterator

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            try:
                if hasattr(self._stream, "aclose"):
                    await self._stream.aclose()
            finally:
                await self._pool._give_back(self._connection)


def _key(origin: httpcore.Origin) -> _Key:
    """``httpcore.Origin`` compares by value but is not hashable."""
    return (origin.scheme, origin.host, origin.port)


def _origin(connection: httpcore.AsyncHTTPConnection) -> httpcore.Origin | None:
    origin = getattr(connection, "_origin", None)
    return origin if isinstance(origin, httpcore.Origin) else None


async def _close(connection: httpcore.AsyncHTTPConnection) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await connection.aclose()
        except Exception:  # closing a broken socket: nothing left to do
            pass


def pooled_transport(limits: httpx.Limits, *, keepalive_expiry: float | None = None) -> Any:
    """An ``httpx.AsyncHTTPTransport`` (default TLS settings) whose connections go through an
    `AsyncPool` sized by ``limits``.

    A client given this transport does not read proxies from the environment (``httpx`` does
    that only for a client that builds its own transport): `HTTPTransport` uses it only when
    the environment names no proxy."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    current = getattr(transport, "_pool", None)
    if not isinstance(current, httpcore.AsyncConnectionPool):
        return transport  # an httpx whose transport is built differently: keep its pool
    ssl_context = getattr(current, "_ssl_context", None)
    if not isinstance(ssl_context, ssl.SSLContext):
        ssl_context = httpx.create_ssl_context()
    transport._pool = AsyncPool(  # type: ignore[assignment]
        max_connections=limits.max_connections or 2**31,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=(
            keepalive_expiry if keepalive_expiry is not None else limits.keepalive_expiry
        ),
        ssl_context=ssl_context,
    )
    return transport
