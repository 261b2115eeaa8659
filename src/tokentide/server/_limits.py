"""Connection limits enforced before a request reaches the application (and its API key check).

uvicorn bounds the idle time of a kept-alive connection, but with its default ``httptools``
parser it buffers a request head of any size and waits for it forever. `ServerLimits` and
`limited_protocol` close that gap: a subclass of uvicorn's HTTP protocol looks at the raw bytes
of each request head *before* the parser buffers them, and

- answers ``431`` past ``max_header_bytes`` (the request line and all headers) or
  ``max_headers`` header lines, and ``414`` past ``max_request_line``;
- closes a connection whose request head is not complete ``header_timeout`` seconds after the
  connection opened (or after the first byte of a later request on it): a slowloris client
  sending a byte a second is cut off, and a connection that never sends anything too;
- answers ``503`` (and closes) a connection beyond ``max_connections``.

Each refusal is an OpenAI-shaped JSON error with ``Connection: close``; the connection then
reads and drops at most 64 KiB for one second (so that the client sees the answer rather than
a reset) and closes. The body's own deadline (``body_timeout``) is enforced by the application
(see `tokentide.server._asgi.read_body`), the idle keep-alive by uvicorn
(``timeout_keep_alive``).

Example::

    import uvicorn
    from tokentide.server import ServerLimits, create_app, uvicorn_options

    limits = ServerLimits(header_timeout=5)
    app = create_app(models=..., body_timeout=limits.body_timeout)
    uvicorn.run(app, host="127.0.0.1", port=8000, **uvicorn_options(limits))
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["HeadGuard", "ServerLimits", "limited_protocol", "uvicorn_options"]

_LINGER_SECONDS = 1.0
_LINGER_BYTES = 64 * 1024
_REASONS = {
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class ServerLimits:
    """Limits of the HTTP server, all checked before authentication (see the module doc).

    - ``max_header_bytes``: the request line and headers of one request, in bytes (431).
    - ``max_headers``: header lines in one request (431).
    - ``max_request_line``: the request line (method, target, version), in bytes (414).
    - ``header_timeout``: seconds to send a whole request head (the connection is closed).
    - ``body_timeout``: seconds to send a whole request body (408); the app enforces it.
    - ``keep_alive``: seconds an idle kept-alive connection stays open.
    - ``max_connections``: open connections; more are answered 503 and closed.
    """

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    max_request_line: int = 8 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: float = 5.0
    max_connections: int = 4096

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_headers", "max_request_line", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("header_timeout", "body_timeout", "keep_alive"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")


def _refusal(status: int, message: str, code: str) -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
    extra = b"retry-after: 1\r\n" if status == 503 else b""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            extra,
            b"connection: close\r\n\r\n",
            body,
        )
    )


class HeadGuard:
    """The limit checks of one connection, mixed into a uvicorn HTTP protocol class.

    ``_head_pending()`` (given by the concrete class) says whether the parser is waiting for,
    or in the middle of, a request head; while it is, every received piece is scanned before
    the parser sees it.
    """

    limits: ServerLimits
    transport: asyncio.Transport
    connections: set[Any]
    loop: asyncio.AbstractEventLoop

    def _guard_init(self) -> None:
        self._head_bytes = 0
        self._head_lines = 0
        self._line_done = False
        self._tail = b""
        self._refused = False
        self._dropped = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def _head_pending(self) -> bool:  # pragma: no cover - given by the concrete class
        raise NotImplementedError

    def _responding(self) -> bool:
        """A response is under way on this connection (a pipelined head may wait for it)."""
        cycle = getattr(self, "cycle", None)
        return cycle is not None and not cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing():
            return
        if self._responding():
            self._arm_head_timer()  # the next request's head waits for this response
            return
        if self._head_bytes == 0:
            self.transport.close()  # nothing sent: nothing to answer
            return
        seconds = self.limits.header_timeout
        self._refuse(
            408, f"the request headers were not received within {seconds:g} s", "header_timeout"
        )

    def _refuse(self, status: int, message: str, code: str) -> None:
        self._refused = True
        self._disarm_head_timer()
        transport = self.transport
        transport.write(_refusal(status, message, code))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, transport.close)

    def _check_head(self, data: bytes) -> bool:
        """Account for ``data`` of a request head; refuse and return False past a limit."""
        limits = self.limits
        scan = self._tail + data
        end = scan.find(b"\n\r\n")
        end2 = scan.find(b"\n\n")
        if end < 0 or 0 <= end2 < end:
            end = end2
        head = scan[len(self._tail) :] if end < 0 else scan[len(self._tail) : end + 1]
        if not self._line_done:
            newline = head.find(b"\n")
            line = self._head_bytes + (len(head) if newline < 0 else newline)
            if line > limits.max_request_line:
                self._refuse(
                    414,
                    f"the request line is longer than the limit of {limits.max_request_line} bytes",
                    "request_line_too_long",
                )
                return False
            self._line_done = newline >= 0
        self._head_bytes += len(head)
        self._head_lines += head.count(b"\n")
        self._tail = scan[-3:]
        if self._head_bytes > limits.max_header_bytes:
            message = f"the request headers are larger than the limit of {limits.max_header_bytes}"
            self._refuse(431, message + " bytes", "headers_too_large")
            return False
        if self._head_lines - 1 > limits.max_headers:
            message = f"the request has more than {limits.max_headers} header lines"
            self._refuse(431, message, "too_many_headers")
            return False
        return True

    def _head_done(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = self._head_lines = 0
        self._line_done = False
        self._tail = b""

    def _guard_connection_made(self) -> bool:
        """Count the connection; refuse it (and return False) past ``max_connections``."""
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                503,
                f"the server has reached its limit of {self.limits.max_connections} "
                "connections; retry later",
                "too_many_connections",
            )
            return False
        self._arm_head_timer()
        return True

    def _guard_data(self, data: bytes) -> bool:
        """Check ``data`` before the parser sees it; False: drop it."""
        if self._refused:
            self._dropped += len(data)
            if self._dropped > _LINGER_BYTES:
                self.transport.close()
            return False
        if self._head_pending():
            self._arm_head_timer()
            return self._check_head(data)
        return True


def limited_protocol(limits: ServerLimits, http: str = "auto") -> Any:
    """uvicorn's HTTP protocol (``httptools``, or ``h11`` when it is missing or asked for) with
    the checks of `ServerLimits`, for ``uvicorn.Config(http=...)``.

    It is a ``functools.partial`` of a module-level class, so that it pickles: uvicorn's
    ``--workers`` processes receive it with their configuration."""
    from . import _protocols

    use_h11 = http == "h11"
    if not use_h11:
        try:
            import httptools  # noqa: F401
        except ImportError:
            use_h11 = True
    cls = _protocols.LimitedH11Protocol if use_h11 else _protocols.LimitedHttpToolsProtocol
    return functools.partial(cls, limits=limits)


def uvicorn_options(limits: ServerLimits | None = None, http: str = "auto") -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` that apply ``limits``
    (default: `ServerLimits()`): the limited protocol class, the keep-alive timeout, and h11's
    own head-size bound."""
    limits = limits or ServerLimits()
    return {
        "http": limited_protocol(limits, http),
        "timeout_keep_alive": limits.keep_alive,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
