"""Pure-ASGI building blocks: request bodies with a size cap, JSON and error responses, and the
server-sent-events response that watches for the client leaving.

Why pure ASGI for event streams: the response must notice ``http.disconnect`` while the
producer is waiting for its next token (not only when it next writes), cancel the producer at
once so that the upstream call is closed, send keep-alive comments while nothing happens, and
never be compressed or buffered on the way.
"""

from __future__ import annotations

import asyncio
import json
import reprlib
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from tokentide.runtime import wait_within
from tokentide.wire import encode_comment

__all__ = [
    "SSE_HEADERS",
    "ClientDisconnected",
    "EventStream",
    "HTTPError",
    "Receive",
    "Scope",
    "Send",
    "error_body",
    "read_body",
    "send_error",
    "send_json",
    "shorten",
    "watch_disconnect",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
)
"""Headers of every event stream: no caching, no proxy buffering (nginx reads
``X-Accel-Buffering``), a kept-alive connection. There is deliberately no ``Content-Encoding``:
an event stream is never compressed (Starlette's ``GZipMiddleware`` skips
``text/event-stream`` by default; keep it in ``exclude_content_types`` if you change that)."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    403: "invalid_request_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
}


MAX_MESSAGE = 1000
"""Longest error message answered, in characters: a message quoting a huge value is cut."""


def shorten(value: Any, limit: int = 80) -> str:
    """A short ``repr`` of ``value`` (strings cut to ``limit`` characters, containers to a few
    items), with its size when it was cut: for quoting a client's value in an error message
    without echoing megabytes back."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = limit
    short.maxlist = short.maxdict = short.maxtuple = short.maxset = 8
    short.maxlevel = 3
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"an integer of {value.bit_length()} bits"
    text = short.repr(value)
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return f"{text} ({len(value)} characters)"
    if isinstance(value, (list, dict)) and len(value) > 8:
        return f"{text} ({len(value)} items)"
    return text


class ClientDisconnected(Exception):
    """The client left before its request was read."""


class HTTPError(Exception):
    """An error answered with an OpenAI-style error object and a status code.

    Example::

        raise HTTPError(404, "The model 'x' does not exist", code="model_not_found", param="model")
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + f"... (cut at {MAX_MESSAGE} characters)"
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _ERROR_TYPES.get(status, "server_error")
        self.param = param
        self.code = code
        self.headers = list(headers)

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type: str, param: str | None = None, code: str | int | None = None
) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


async def read_body(
    scope: Scope, receive: Receive, limit: int, timeout: float | None = None
) -> bytes:
    """The whole request body; `HTTPError` 413 as soon as it is known to exceed ``limit``,
    408 when it has not all arrived ``timeout`` seconds after the first read."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise HTTPError(400, "invalid Content-Length header") from None
            if declared > limit:
                raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is None:
            message = await receive()
        else:
            message = await _receive_by(receive, deadline, timeout)
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _receive_by(receive: Receive, deadline: float, timeout: float | None) -> Message:
    try:
        return await wait_within(receive(), max(deadline - time.monotonic(), 0.0))
    except asyncio.TimeoutError:
        raise HTTPError(
            408,
            f"the request body was not received within {timeout:g} s",
            code="body_timeout",
            headers=[(b"connection", b"close")],
        ) from None


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, f"the request body is larger than the limit of {limit} bytes")


async def send_json(
    send: Send, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it (``\\udXXX`` is valid JSON)
        body = text.encode("utf-8", "backslashreplace")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: HTTPError) -> None:
    await send_json(send, error.status, error.body(), error.headers)


async def watch_disconnect(receive: Receive, work: Awaitable[Any]) -> tuple[bool, Any]:
    """Run ``work`` until it finishes or the client disconnects (then it is cancelled).

    Returns ``(disconnected, result)``; exceptions of ``work`` propagate.
    """
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
    try:
        return False, await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            return True, None
        raise


Producer = Callable[["EventStream"], Awaitable[None]]


class EventStream:
    """A ``text/event-stream`` response on raw ASGI.

    :meth:`run` sends the headers, runs ``producer(stream)`` as a task (it writes frames with
    :meth:`send`) and, beside it, waits for ``http.disconnect``: when the client leaves, the
    producer task is cancelled at once, whatever it is waiting on, so the ``finally`` blocks
    under it close the upstream. While the producer is quiet, a keep-alive comment goes out
    every ``heartbeat`` seconds (``ping``: the frame to send instead of ``: ping``, e.g. a
    protocol's own ping event).

    ``send`` waits while the client's socket buffer is full (the ASGI server pauses writes at
    its high-water mark), so a slow client slows its producer instead of growing memory.

    Example::

        async def produce(stream: EventStream) -> None:
            await stream.send(b"data: hello\\n\\n")

        disconnected = await EventStream(send, receive, heartbeat=15).run(produce)
    """

    __slots__ = (
        "_send",
        "_receive",
        "_heartbeat",
        "_headers",
        "_last",
        "_ping",
        "started",
    )

    def __init__(
        self,
        send: Send,
        receive: Receive,
        *,
        heartbeat: float | None = 15.0,
        headers: Iterable[tuple[bytes, bytes]] = (),
        ping: bytes | None = None,
    ) -> None:
        self._send = send
        self._receive = receive
        self._ping = ping if ping is not None else encode_comment("ping")
        self._heartbeat = heartbeat if heartbeat and heartbeat > 0 else None
        self._headers: Headers = [*SSE_HEADERS, *headers]
        self._last = time.monotonic()
        self.started = False

    async def start(self) -> None:
        """Send the status line and headers (done by the first :meth:`send` otherwise)."""
        if not self.started:
            self.started = True
            await self._send(
                {"type": "http.response.start", "status": 200, "headers": self._headers}
            )

    def send(self, frame: bytes) -> Awaitable[None]:
        """Write one or more complete SSE frames: ``await events.send(frame)``.

        A plain function returning the server's ``send`` awaitable (after the first frame):
        on the per-token path that is one coroutine fewer per frame."""
        if not self.started:
            return self._send_first(frame)
        self._last = time.monotonic()
        return self._send({"type": "http.response.body", "body": frame, "more_body": True})

    async def _send_first(self, frame: bytes) -> None:
        await self.start()
        self._last = time.monotonic()
        await self._send({"type": "http.response.body", "body": frame, "more_body": True})

    async def run(self, producer: Producer) -> bool:
        """Run the response; return ``True`` if the client disconnected before the end."""
        task = asyncio.ensure_future(producer(self))
        watcher = asyncio.ensure_future(self._watch())
        try:
            await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            watcher.cancel()
            raise
        disconnected = watcher.done() and not watcher.cancelled()
        if disconnected:
            task.cancel()
        else:
            watcher.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not disconnected:
                raise
        except HTTPError as error:
            if self.started:
                raise
            await send_error(self._send, error)  # failed before the first event: a status
            return False
        if not disconnected:
            if not self.started:
                await self.start()
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        return disconnected

    async def _watch(self) -> None:
        """Return when the client disconnects; send heartbeats meanwhile."""
        interval = self._heartbeat
        receive = self._receive
        while True:
            if interval is None:
                message = await receive()
            else:
                wait = self._last + interval - time.monotonic()
                if wait <= 0:
                    if self.started:  # (a frame waiting on a slow reader: the ping waits too)
                        await self.send(self._ping)
                    else:
                        self._last = time.monotonic()
                    continue
                try:
                    message = await wait_within(receive(), wait)
                except asyncio.TimeoutError:
                    continue
            if message["type"] == "http.disconnect":
                return
