"""The HTTP shell of streaming models: one transport for sync and async SSE requests.

`HTTPTransport` owns the ``httpx`` clients of one model (one ``httpx.Client``, one
``httpx.AsyncClient`` per event loop, both created on first use) and streams a POST request's
server-sent events through a sans-I/O `EventHandler` that turns events into items (chat
chunks, completion text ...). It is not tied to chat: any OpenAI-style SSE endpoint fits.

What it guarantees:

- **Retries only before the first item reaches the caller**: connect errors, timeouts, 429
  and 5xx (and in-band errors that mean those) are retried up to ``max_retries`` times with
  exponential backoff and jitter, honouring ``Retry-After`` up to ``retry_after_cap`` (60 s):
  a server asking for a longer wait is not retried; its error (with ``retry_after``) is
  raised at once. Never after an item was yielded.
- **Only event streams**: a ``200`` whose ``Content-Type`` is not ``text/event-stream`` (an
  HTML login page of a proxy, a JSON body) is an `APIError` at once, not retried, quoting the
  start of the body. Compressed bodies (``Content-Encoding: gzip`` / ``deflate``, or any
  encoding ``httpx`` decodes) are decoded; one event is buffered up to ``max_event_bytes``
  (a bigger one is a protocol error).
- **Secrets stay**: error messages and bodies from the server are shortened and have
  credentials (this client's key, bearer tokens, ``sk-...`` keys) redacted.
- **Typed errors**: HTTP statuses map to `APIStatusError` subclasses, ``httpx`` errors to
  `APIConnectionError` / `APITimeoutError` before the first item, and every failure after it
  to a `StreamError` subclass (see `tokentide.models._errors`). No raw ``httpx`` exception
  escapes.
- **Idle timeout**: no SSE progress for ``idle_timeout`` seconds raises; keep-alive comments do
  not count as progress. Async streams time out exactly at the deadline; sync streams when
  the socket is silent for ``idle_timeout``, or at the first keep-alive after the deadline.
- **Prompt close**: leaving the stream (``break``, ``aclose()``, cancellation) closes the HTTP
  response at once.
- **A bounded pool**: at most ``max_connections`` connections per client (httpx's default,
  100, when ``None``), all kept alive for reuse; a request that finds none free within
  ``timeout`` raises `PoolTimeoutError` (not retried). Async clients use `AsyncPool`
  (``tokentide.models._pool``), whose work per request does not grow with the number of
  connections it holds (``httpx``'s own pool walks them all, twice over, at every request);
  with ``httptools`` installed its connections are `H1Connection`s
  (``tokentide.models._h1``) and an uncompressed event stream is read straight off the
  connection (`H1Body.receive`), past ``httpx``'s iterators. An async request goes straight
  to that pool too, past the ``httpx`` client's layers (`DirectSend`).
- **Proxies from the environment**: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
  ``NO_PROXY`` are honoured by the sync and the async client alike (the async client is then
  ``httpx``'s own, on its own pool).

Example::

    transport = HTTPTransport(base_url="http://127.0.0.1:8080/v1", api_key=None)
    for item in transport.stream("/chat/completions", body, handler_factory):
        ...
    transport.close()
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Generic, Protocol, TypeVar

import httpx

from tokentide.errors import APIConnectionError, APIError, APITimeoutError, PoolTimeoutError
from tokentide.wire import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder, SSEEventTooLarge

from ._direct import DirectSend, environment_proxies
from ._errors import (
    StreamFailure,
    decode_body,
    failure_to_error,
    parse_retry_after,
    redact_secrets,
    status_error,
)
from ._pool import pooled_transport

try:
    from ._h1 import BODY_EXTENSION, H1Body
except ImportError:  # no httptools
    BODY_EXTENSION, H1Body = "", None  # type: ignore[assignment,misc]

__all__ = ["EventHandler", "HTTPTransport"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_MAX_ERROR_BODY = 64 * 1024
_MAX_DRAIN = 64 * 1024  # bytes read after the end marker to keep the connection
_HAS_TIMEOUT_CM = sys.version_info >= (3, 11)
_MAX_SNIPPET = 200  # characters of a non-SSE body quoted in its error


class EventHandler(Protocol[T_co]):
    """Sans-I/O consumer of one response's SSE events.

    ``feed`` maps a batch of events to items; on a failure it returns the items that came
    before it and sets ``failure``; after the end marker it sets ``done``. ``end`` is called
    when the body ended: it returns any last items and sets ``failure`` if the end marker was
    missing.
    """

    done: bool
    failure: StreamFailure | None

    def feed(self, events: list[ServerSentEvent]) -> Sequence[T_co]: ...

    def end(self) -> Sequence[T_co]: ...


class HTTPTransport:
    """Streams SSE responses of one model's requests with retries, idle timeout and close.

    ``timeout`` bounds connecting, sending and waiting for the response headers;
    ``idle_timeout`` bounds the silence between two pieces of progress in the body.
    ``max_connections`` bounds the concurrent requests of each client (sync, and async per
    event loop); a server in front of this model sets it to its own concurrency.

    Example::

        transport = HTTPTransport(base_url="http://127.0.0.1:8080/v1", api_key=None)
        try:
            for chunk in transport.stream("/chat/completions", body, ChatChunkParser):
                print(chunk.content, end="")
        finally:
            transport.close()
    """

    #: First backoff delay in seconds (doubled per attempt, with jitter) and the caps.
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0
    retry_after_cap: float = 60.0

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float | None = 60.0,
        idle_timeout: float | None = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        max_event_bytes: int | None = DEFAULT_MAX_EVENT_BYTES,
        max_connections: int | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.max_connections = max_connections
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.max_retries = max_retries
        self.max_event_bytes = max_event_bytes
        self._secret = api_key
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        headers.update(default_headers or {})
        self.headers = headers
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._aclients = weakref.WeakKeyDictionary()
        # The async clients on `AsyncPool`, each with its request path past ``httpx``'s
        # client layers (`DirectSend`); none when the environment names a proxy.
        self._direct: weakref.WeakKeyDictionary[httpx.AsyncClient, DirectSend]
        self._direct = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ clients

    def client(self) -> httpx.Client:
        """The sync client (created on first use)."""
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), limits=self._limits())
        return self._client

    def aclient(self) -> httpx.AsyncClient:
        """The async client of the running event loop (created on first use)."""
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            limits, timeout = self._limits(), httpx.Timeout(self.timeout)
            if environment_proxies():
                # ``httpx`` honours HTTP(S)_PROXY / ALL_PROXY / NO_PROXY only in a client
                # that has its own transport: this one, as the sync client does.
                client = httpx.AsyncClient(timeout=timeout, limits=limits)
            else:
                transport = pooled_transport(limits)
                client = httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport)
                self._direct[client] = DirectSend(client, transport, self.headers)
            self._aclients[loop] = client
        return client

    def _limits(self) -> httpx.Limits:
        """The pool: ``max_connections``, every one of them kept alive for reuse."""
        if self.max_connections is None:
            return httpx.Limits(max_connections=100, max_keepalive_connections=20)
        n = self.max_connections
        return httpx.Limits(max_connections=n, max_keepalive_connections=n)

    def close(self) -> None:
        """Close the sync client (async clients need :meth:`aclose`)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the sync client and the running loop's async client."""
        self.close()
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------------------ requests

    def _request(self, client: httpx.Client | httpx.AsyncClient, path: str, body: Any) -> Any:
        return client.build_request(
            "POST", self.base_url + path, content=_content(body), headers=self.headers
        )

    def _body_timeout(self, response: httpx.Response) -> None:
        """From here on, a socket read may take up to ``idle_timeout`` (not ``timeout``)."""
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = self.idle_timeout

    def _delay(self, attempt: int, error: APIError) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and retry_after <= self.retry_after_cap:
            return float(retry_after)
        delay = min(self.retry_base_delay * 2.0**attempt, self.retry_max_delay)
        return delay * (1.0 - 0.25 * random.random())

    def _should_retry(self, error: APIError, attempt: int) -> bool:
        if not error.retryable or attempt >= self.max_retries:
            return False
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and retry_after > self.retry_after_cap:
            error.message += (
                f" (the server asked to retry after {retry_after:g} s, longer than this "
                f"client waits, {self.retry_after_cap:g} s: not retried)"
            )
            error.args = (error.message,)
            return False
        return True

    def _transport_error(self, exc: httpx.HTTPError) -> APIError:
        text = redact_secrets(f"{type(exc).__name__}: {exc}", self._secret)
        if isinstance(exc, httpx.PoolTimeout):
            return PoolTimeoutError(
                f"no free connection to {self.base_url} within {self.timeout} s: all "
                f"{self.max_connections or 100} pooled connections are busy (raise "
                "max_connections, or retry later)"
            )
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"request timed out: {text}")
        return APIConnectionError(f"connection failed: {text}")

    def _read_failure(self, exc: httpx.HTTPError) -> StreamFailure:
        if isinstance(exc, httpx.ReadTimeout):
            return StreamFailure("idle", "no data from the server within the idle timeout")
        text = redact_secrets(f"{type(exc).__name__}: {exc}", self._secret)
        return StreamFailure("interrupted", f"connection lost: {text}")

    def _status_error(self, response: httpx.Response, raw: bytes) -> APIError:
        return status_error(
            response.status_code,
            decode_body(raw),
            retry_after=parse_retry_after(response.headers),
            secrets=(self._secret,),
        )

    def _not_sse_error(self, response: httpx.Response, raw: bytes) -> APIError:
        kind = response.headers.get("content-type", "")
        text = redact_secrets(raw[: _MAX_SNIPPET * 2].decode("utf-8", "replace"), self._secret)
        text = " ".join(text.split())[:_MAX_SNIPPET]
        return APIError(
            f"the server answered {response.status_code} with Content-Type {kind!r}, not an "
            f"event stream (text/event-stream); is the base URL right? The body starts: {text!r}"
        )

    def _decoder(self) -> SSEDecoder:
        return SSEDecoder(self.max_event_bytes)

    def _idle_failure(self) -> StreamFailure:
        return StreamFailure(
            "idle", f"no data from the server for {self.idle_timeout} s (keep-alives only)"
        )

    # ------------------------------------------------------------------ sync

    def _open(self, path: str, body: Any) -> httpx.Response:
        client = self.client()
        try:
            response = client.send(self._request(client, path, body), stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400 or not _is_event_stream(response):
            try:
                raw = _read_some(response)
            except httpx.HTTPError:
                raw = b""
            finally:
                response.close()
            if response.status_code >= 400:
                raise self._status_error(response, raw)
            raise self._not_sse_error(response, raw)
        self._body_timeout(response)
        return response

    def stream(
        self, path: str, body: Any, handler_factory: Callable[[], EventHandler[T]]
    ) -> Iterator[T]:
        """POST ``body`` to ``path`` and yield the items of its SSE response."""
        attempt = 0
        while True:
            handler = handler_factory()
            started = False
            try:
                response = self._open(path, body)
                pump = self._pump(response, handler)
                try:
                    for items in pump:
                        started = True
                        yield from items
                finally:
                    pump.close()
                    response.close()
                return
            except StreamFailure as failure:
                error = failure_to_error(failure, started=started)
            except APIError as exc:
                error = exc
            if started or not isinstance(error, APIError) or not self._should_retry(error, attempt):
                raise error
            time.sleep(self._delay(attempt, error))
            attempt += 1

    def _pump(
        self, response: httpx.Response, handler: EventHandler[T]
    ) -> Generator[Sequence[T], None, None]:
        body = _BodyFeed(self, handler)
        pieces = _body(response)
        try:
            for piece in pieces:
                items = body.feed(piece)
                if items:
                    yield items
                if body.finished():
                    _drain(pieces)
                    return
        except httpx.HTTPError as exc:
            raise self._read_failure(exc) from None
        except SSEEventTooLarge as exc:
            raise StreamFailure("protocol", str(exc)) from None
        yield from _finish(body.decoder, handler)

    # ------------------------------------------------------------------ async

    async def _aopen(self, path: str, body: Any) -> httpx.Response:
        client = self.aclient()
        direct = self._direct.get(client)
        try:
            if direct is not None:
                response = await direct.post(self.base_url + path, _content(body))
            else:
                response = await client.send(self._request(client, path, body), stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400 or not _is_event_stream(response):
            try:
                raw = await _aread_some(response)
            except httpx.HTTPError:
                raw = b""
            finally:
                await response.aclose()
            if response.status_code >= 400:
                raise self._status_error(response, raw)
            raise self._not_sse_error(response, raw)
        self._body_timeout(response)
        return response

    async def astream(
        self, path: str, body: Any, handler_factory: Callable[[], EventHandler[T]]
    ) -> AsyncIterator[T]:
        """Async :meth:`stream`. The read loop is written out here rather than in a
        generator of its own: each item passes one generator layer, not two."""
        attempt = 0
        while True:
            handler = handler_factory()
            started = False
            try:
                response = await self._aopen(path, body)
                read, pieces = self._areader(response)
                feed = _BodyFeed(self, handler)
                try:
                    while True:
                        try:
                            piece = await read(feed.deadline)
                            items = feed.feed(piece) if piece else None
                        except TimeoutError:
                            raise self._idle_failure() from None
                        except httpx.HTTPError as exc:
                            raise self._read_failure(exc) from None
                        except SSEEventTooLarge as exc:
                            raise StreamFailure("protocol", str(exc)) from None
                        if items is None:  # the body ended
                            for batch in _finish(feed.decoder, handler):
                                started = True
                                for item in batch:
                                    yield item
                            break
                        if items:
                            started = True
                            for item in items:
                                yield item
                        if feed.finished():
                            await _adrain(read, feed.deadline)
                            break
                finally:
                    if pieces is not None:
                        await pieces.aclose()  # type: ignore[attr-defined]
                    await response.aclose()
                return
            except StreamFailure as failure:
                error = failure_to_error(failure, started=started)
            except APIError as exc:
                error = exc
            if started or not isinstance(error, APIError) or not self._should_retry(error, attempt):
                raise error
            await asyncio.sleep(self._delay(attempt, error))
            attempt += 1

    def _areader(
        self, response: httpx.Response
    ) -> tuple[Callable[[float | None], Awaitable[bytes]], AsyncIterator[bytes] | None]:
        """``read(deadline)`` for ``response``'s body (its next piece, ``b""`` at its end,
        ``TimeoutError`` at the idle deadline), and the ``httpx`` iterator to close after
        (``None``). An uncompressed body on an `H1Connection` is read straight off the
        connection; any other through ``httpx``."""
        direct = response.extensions.get(BODY_EXTENSION) if BODY_EXTENSION else None
        if H1Body is not None and isinstance(direct, H1Body) and not _encoded(response):
            return direct.receive, None
        pieces = _abody(response)

        async def read(deadline: float | None) -> bytes:
            while True:
                try:
                    piece = await _next_piece(pieces, deadline)
                except StopAsyncIteration:
                    return b""
                if piece:
                    return piece

        return read, pieces


def _content(body: Any) -> bytes:
    """A request's JSON body."""
    return json.dumps(body, ensure_ascii=False).encode()


class _BodyFeed(Generic[T]):
    """The sans-I/O core of reading one event-stream body (both pumps feed it the pieces):
    decode, keep the idle deadline, hand the events to the protocol's handler.

    A handler with a ``feed_blocks(blocks, decoder)`` method gets the raw blocks of the events
    instead (see `SSEDecoder.blocks`), to read its protocol's common event without building
    a `ServerSentEvent` and a dict for it."""

    __slots__ = ("blocks", "deadline", "decoder", "handler", "idle", "model")

    def __init__(self, model: Any, handler: EventHandler[T]) -> None:
        self.model = model
        self.decoder: SSEDecoder = model._decoder()
        self.handler = handler
        self.blocks: Callable[[list[bytes], SSEDecoder], Sequence[T]] | None
        self.blocks = getattr(handler, "feed_blocks", None)
        self.idle: float | None = model.idle_timeout
        self.deadline = time.monotonic() + self.idle if self.idle is not None else None

    def feed(self, piece: bytes) -> Sequence[T]:
        """The items that ``piece`` completes (raises past the idle deadline)."""
        decoder = self.decoder
        blocks = self.blocks
        if blocks is not None:
            raw = decoder.blocks(piece)
            self._check_idle()
            return blocks(raw, decoder) if raw else ()
        events = decoder.feed(piece)
        self._check_idle()
        return self.handler.feed(events) if events else ()

    def _check_idle(self) -> None:
        if self.deadline is not None and self.idle is not None:
            if self.decoder.progressed:
                self.deadline = time.monotonic() + self.idle
            elif time.monotonic() > self.deadline:
                raise self.model._idle_failure()

    def finished(self) -> bool:
        """Whether the handler has seen the end (raises the failure it found, if any)."""
        handler = self.handler
        if handler.failure is not None:
            raise handler.failure
        return handler.done


def _is_event_stream(response: httpx.Response) -> bool:
    """A ``200`` that is an event stream (or says nothing of its type)."""
    kind = response.headers.get("content-type")
    return kind is None or kind.split(";", 1)[0].strip().lower() == "text/event-stream"


def _encoded(response: httpx.Response) -> bool:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    return encoding not in ("", "identity")


def _body(response: httpx.Response) -> Iterator[bytes]:
    """The body's pieces: raw off the socket, or decoded when it is compressed."""
    return response.iter_bytes() if _encoded(response) else response.iter_raw()


def _abody(response: httpx.Response) -> AsyncIterator[bytes]:
    return response.aiter_bytes() if _encoded(response) else response.aiter_raw()


def _read_some(response: httpx.Response) -> bytes:
    """Up to ``_MAX_ERROR_BODY`` bytes of an error (or non-SSE) body, decoded."""
    parts: list[bytes] = []
    size = 0
    pieces = response.iter_bytes()
    try:
        for piece in pieces:
            parts.append(piece)
            size += len(piece)
            if size >= _MAX_ERROR_BODY:
                break
    finally:
        pieces.close()  # type: ignore[attr-defined]
    return b"".join(parts)[:_MAX_ERROR_BODY]


async def _aread_some(response: httpx.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    pieces = response.aiter_bytes()
    try:
        async for piece in pieces:
            parts.append(piece)
            size += len(piece)
            if size >= _MAX_ERROR_BODY:
                break
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    return b"".join(parts)[:_MAX_ERROR_BODY]


async def _next_piece(pieces: AsyncIterator[bytes], deadline: float | None) -> bytes:
    """The next body piece, raising ``TimeoutError`` at ``deadline`` (Python 3.11+)."""
    if deadline is None or not _HAS_TIMEOUT_CM:
        return await pieces.__anext__()
    async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):  # type: ignore[attr-defined]
        return await pieces.__anext__()


def _drain(pieces: Iterator[bytes]) -> None:
    """Read the rest of a finished body (its end marker) so the connection can be reused."""
    total = 0
    try:
        for piece in pieces:
            total += len(piece)
            if total > _MAX_DRAIN:
                return
    except httpx.HTTPError:
        return


async def _adrain(read: Callable[[float | None], Awaitable[bytes]], deadline: float | None) -> None:
    """Async :func:`_drain`, bounded by the idle deadline."""
    total = 0
    try:
        while total <= _MAX_DRAIN:
            piece = await read(deadline)
            if not piece:
                return
            total += len(piece)
    except (TimeoutError, httpx.HTTPError):
        return


def _finish(decoder: SSEDecoder, handler: EventHandler[T]) -> Iterator[Sequence[T]]:
    """The body ended: hand the decoder's tail and the end to the handler."""
    events = decoder.flush(strict=False)
    if events:
        items = handler.feed(events)
        if items:
            yield items
        if handler.failure is not None:
            raise handler.failure
        if handler.done:
            return
    items = handler.end()
    if items:
        yield items
    if handler.failure is not None:
        raise handler.failure
