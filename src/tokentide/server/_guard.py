"""Browser safety and hostile-input checks of the ASGI app.

- **Hosts** (DNS rebinding): a request whose ``Host`` is not allowed gets 403. Allowed by
  default: ``localhost``, names under ``.localhost``, and IP addresses (a rebinding page can
  only use a DNS name); more with ``allowed_hosts`` (``api.example.com``, ``.example.com`` for
  a domain and its subdomains, ``*`` for any).
- **Origins** (cross-site requests): a request that carries an ``Origin`` header is accepted
  only from the server's own origin (the web page) or one of ``cors_origins``; those get CORS
  headers and preflight answers. ``Origin: null`` (sandboxed frames, files) is refused.
- **Content type**: a JSON body must be sent as ``application/json`` (415 otherwise), so that
  a cross-site ``text/plain`` form post can never start a generation.
- **JSON**: ``NaN`` / ``Infinity``, nesting deeper than `MAX_DEPTH`, integers of more than
  4,300 digits and lone UTF-16 surrogates are a 400 saying so, never a 500.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ._asgi import HTTPError, Message, Scope, Send, shorten

__all__ = ["MAX_DEPTH", "RequestGuard", "decode_json"]

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects accepted in a request body."""

# A ``\\udXXX`` escape of a surrogate, or a UTF-8-encoded surrogate (json.loads lets it pass):
# only bodies with one of these can hold a lone surrogate, and only they are walked.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_CORS_METHODS = b"GET, POST, DELETE, OPTIONS"
_CORS_HEADERS = b"authorization, content-type, last-event-id, accept, x-request-id"
_EXPOSED = b"x-run-id, content-location, location, retry-after"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _host_name(host: str) -> str:
    """``Host`` without its port, lower case (``[::1]:8000`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class RequestGuard:
    """Host, origin and content-type checks for one app (see the module doc).

    Example::

        guard = RequestGuard(allowed_hosts=["api.example.com"], cors_origins=["http://localhost:3000"])
        cors = guard.check(scope)        # raises HTTPError 403; returns the allowed cross origin
    """

    __slots__ = ("_any_host", "_hosts", "_suffixes", "cors_origins")

    def __init__(self, allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = ()) -> None:
        hosts = {"localhost"}
        suffixes = [".localhost"]
        self._any_host = False
        for raw in allowed_hosts:
            name = raw.strip().lower()
            if name == "*":
                self._any_host = True
            elif name.startswith("."):
                suffixes.append(name)
                hosts.add(name[1:])
            elif name:
                hosts.add(_host_name(name))
        self._hosts = frozenset(hosts)
        self._suffixes = tuple(suffixes)
        self.cors_origins = frozenset(o.strip().rstrip("/").lower() for o in cors_origins if o)

    def host_allowed(self, host: str) -> bool:
        if self._any_host:
            return True
        name = _host_name(host).rstrip(".")
        return name in self._hosts or name.endswith(self._suffixes) or _is_ip(name)

    def check(self, scope: Scope) -> bytes | None:
        """Refuse a request from a host or origin that is not allowed (`HTTPError` 403).

        Returns the request's ``Origin`` when it is an allowed *cross* origin (the response
        then needs CORS headers), else ``None``.
        """
        host = _header(scope, b"host")
        if host is not None and not self.host_allowed(host.decode("latin-1")):
            raise HTTPError(
                403,
                f"the host {shorten(host.decode('latin-1'))} is not allowed; start the server "
                "with --allowed-host NAME (allowed_hosts=[...]) to serve it",
                code="host_not_allowed",
            )
        origin = _header(scope, b"origin")
        if origin is None:
            return None
        text = origin.decode("latin-1").strip().rstrip("/").lower()
        scheme = scope.get("scheme", "http")
        if host is not None and text == f"{scheme}://{host.decode('latin-1').strip().lower()}":
            return None  # same origin: the built-in web page
        if text in self.cors_origins or "*" in self.cors_origins:
            return origin
        raise HTTPError(
            403,
            f"cross-origin requests from {shorten(origin.decode('latin-1'))} are not allowed; "
            "start the server with --cors-origin ORIGIN (cors_origins=[...]) to allow it",
            code="origin_not_allowed",
        )


def preflight_headers(origin: bytes, scope: Scope) -> list[tuple[bytes, bytes]]:
    """The answer headers of a CORS preflight (``OPTIONS``) from an allowed origin."""
    requested = _header(scope, b"access-control-request-headers")
    allowed = requested if requested is not None else _CORS_HEADERS
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-methods", _CORS_METHODS),
        (b"access-control-allow-headers", allowed[:1024]),
        (b"access-control-max-age", b"600"),
        (b"vary", b"Origin"),
        (b"content-length", b"0"),
    ]


def with_cors(send: Send, origin: bytes) -> Send:
    """``send`` that adds the CORS headers of an allowed cross origin to the response start."""

    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [
                *message.get("headers", ()),
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", _EXPOSED),
                (b"vary", b"Origin"),
            ]
        await send(message)

    return cors_send


def require_json(scope: Scope) -> None:
    """415 unless the request says its body is ``application/json``."""
    value = _header(scope, b"content-type")
    media = (value or b"").split(b";", 1)[0].strip().lower()
    if media != b"application/json":
        got = "none" if value is None else shorten(value.decode("latin-1"))
        raise HTTPError(
            415,
            f"the request body must be sent with 'Content-Type: application/json' (got {got})",
            code="unsupported_media_type",
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def decode_json(body: bytes) -> Any:
    """Decode a request body; `HTTPError` 400 for anything this server will not take."""
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise HTTPError(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"the request body is not valid JSON: {exc}") from None
    except ValueError as exc:  # a 4,301-digit integer, NaN, Infinity
        raise HTTPError(400, f"the request body is not valid JSON: {exc}") from None
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        _check_depth(value)
    if _MAYBE_SURROGATE.search(body) is not None:
        _check_strings(value)
    return value


def _too_deep() -> HTTPError:
    return HTTPError(
        400, f"the request body is nested deeper than {MAX_DEPTH} levels", code="too_deep"
    )


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Sequence[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise _too_deep()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _check_strings(value: Any, path: str = "") -> None:
    """400 naming the first string (key or value) with a lone UTF-16 surrogate."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, where)
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        param = shorten(where, 60).strip("'") if where else None
        raise HTTPError(
            400,
            f"{('field ' + param) if param else 'the request body'} holds a lone UTF-16 "
            f"surrogate (\\u{ord(text[exc.start]):04x} at character {exc.start}): not valid "
            "Unicode text",
            param=param.split(".")[0].split("[")[0] if param else None,
            code="invalid_unicode",
        ) from None
