"""Mapping provider failures to the typed errors of `tokentide.errors`.

Sans-I/O: an HTTP status plus body, or an in-band ``{"error": ...}`` payload, in; a typed error
out. Shared by every HTTP model (chat and text completion).

A stream handler reports what went wrong as a `StreamFailure` (what kind of failure, not when);
the transport then chooses the class by *when* it happened:

=============  =================================  ==========================================
kind           before the first token             after the first token (``.partial`` set)
=============  =================================  ==========================================
interrupted    `APIConnectionError` (retried)     `StreamInterrupted` (retryable)
idle           `APITimeoutError` (retried)        `StreamIdleTimeout` (retryable)
provider       the `APIStatusError` subclass of   `ProviderError` (retryable for 429/5xx-like
               the error's code (429/5xx-like      codes)
               ones retried), else `APIError`
protocol       `APIError` (not retried)           `ProtocolError` (not retryable)
=============  =================================  ==========================================
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Literal

from tokentide.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    StreamError,
    StreamIdleTimeout,
    StreamInterrupted,
)

__all__ = [
    "FailureKind",
    "StreamFailure",
    "error_status",
    "failure_to_error",
    "parse_retry_after",
    "redact_secrets",
    "sanitized_body",
    "status_error",
]

_SECRET_PATTERNS = (
    # "Authorization: Bearer xyz", "bearer xyz", "Basic xyz"
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{4,}"), r"\1\2[redacted]"),
    # OpenAI/Anthropic-style keys: sk-..., sk-proj-..., sk-ant-...
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), "sk-[redacted]"),
    # "api_key": "xyz", api-key=xyz, x-api-key: xyz, "authorization": "xyz", token=xyz
    (
        re.compile(
            r"(?i)((?:x-)?api[_-]?key|authorization|access[_-]?token|secret|password)"
            r"(\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\s*(?:bearer|basic)\b)[^\s\\\"',;}&]{4,}"
        ),
        r"\1\2[redacted]",
    ),
)
_MAX_MESSAGE = 500

FailureKind = Literal["interrupted", "idle", "provider", "protocol"]

_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
}

# In-band error codes/types (as OpenAI-compatible servers spell them) and their HTTP meaning.
_CODE_WORDS: tuple[tuple[str, int], ...] = (
    ("rate_limit", 429),
    ("quota", 429),
    ("too_many", 429),
    ("overload", 503),
    ("unavailable", 503),
    ("server_error", 500),
    ("internal", 500),
    ("timeout", 504),
    ("authentication", 401),
    ("api_key", 401),
    ("permission", 403),
    ("not_found", 404),
    ("invalid", 400),
    ("context_length", 400),
)


def redact_secrets(text: str, *secrets: str | None) -> str:
    """``text`` with credentials replaced by ``[redacted]``: the given ``secrets`` (this
    client's own key), bearer/basic tokens, ``sk-...`` keys and ``api_key=...``-like pairs.

    Upstream servers (and proxies in front of them) sometimes echo the request's headers in
    their error text; nothing from an upstream error reaches a message, log, run record or
    event without passing here.

    Example::

        redact_secrets('bad header "Authorization: Bearer sk-abc123xyz"')
        # 'bad header "Authorization: Bearer [redacted]"'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def sanitized_body(body: Any, *secrets: str | None) -> Any:
    """An upstream error body reduced to what is safe to keep: an OpenAI-style
    ``{"error": {"message", "type", "code", "param"}}`` with a redacted, shortened message (or
    the redacted, shortened text of a body that is not JSON)."""
    if isinstance(body, str):
        return redact_secrets(body[: _MAX_MESSAGE * 2], *secrets)[:_MAX_MESSAGE]
    if not isinstance(body, Mapping):
        return None
    error = body.get("error", body)
    if not isinstance(error, Mapping):
        return {"error": {"message": redact_secrets(str(error)[:_MAX_MESSAGE], *secrets)}}
    kept: dict[str, Any] = {
        "message": redact_secrets(error_message(error, "")[: _MAX_MESSAGE * 2], *secrets)[
            :_MAX_MESSAGE
        ]
    }
    for key in ("type", "code", "param", "status"):
        value = error.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            kept[key] = redact_secrets(value[:100], *secrets) if isinstance(value, str) else value
    return {"error": kept}


class StreamFailure(Exception):
    """Internal: a stream handler's report of a failure, classified later by the transport."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.status = status
        self.code = code
        self.body = body


def _is_retryable_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status in (408, 409, 429))


def failure_to_error(failure: StreamFailure, *, started: bool) -> APIError | StreamError:
    """The typed error for ``failure``; ``started``: a token already reached the caller."""
    kind, message = failure.kind, failure.message
    if started:
        if kind == "interrupted":
            return StreamInterrupted(message)
        if kind == "idle":
            return StreamIdleTimeout(message)
        if kind == "provider":
            return ProviderError(
                message,
                retryable=_is_retryable_status(failure.status),
                code=failure.code,
                body=failure.body,
            )
        return ProtocolError(message)
    if kind == "interrupted":
        return APIConnectionError(message)
    if kind == "idle":
        return APITimeoutError(message)
    if kind == "provider" and failure.status is not None:
        return status_error(failure.status, failure.body, message=message)
    return APIError(message, body=failure.body)


def error_status(error: Any) -> int | None:
    """The HTTP status an in-band error payload stands for (``None`` when it does not say)."""
    if not isinstance(error, Mapping):
        return None
    for key in ("status", "status_code", "code"):
        value = error.get(key)
        if isinstance(value, int) and 400 <= value <= 599:
            return value
        if isinstance(value, str) and value.isdigit() and 400 <= int(value) <= 599:
            return int(value)
    words = " ".join(str(error.get(key) or "") for key in ("code", "type")).lower()
    for word, status in _CODE_WORDS:
        if word in words:
            return status
    return None


def error_message(error: Any, default: str) -> str:
    """The human message of an error payload (``{"message": ...}``, a string, or ``default``)."""
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("detail") or error.get("error")
        if isinstance(message, str) and message:
            return message
        if isinstance(message, Mapping):
            return error_message(message, default)
    if isinstance(error, str) and error:
        return error
    return default


def status_error(
    status: int,
    body: Any,
    *,
    message: str | None = None,
    retry_after: float | None = None,
    secrets: tuple[str | None, ...] = (),
) -> APIStatusError:
    """The `APIStatusError` subclass for an HTTP status; the message quotes the server's
    message, shortened and with credentials redacted, and ``body`` is `sanitized_body`."""
    body = sanitized_body(body, *secrets)
    if message is None:
        error = body.get("error", body) if isinstance(body, Mapping) else body
        text = error_message(error, "") or (body if isinstance(body, str) else "")
        message = f"HTTP {status}" + (f": {text[:_MAX_MESSAGE]}" if text else "")
    message = redact_secrets(message, *secrets)
    if status == 429:
        return RateLimitError(message, body=body, retry_after=retry_after)
    cls = _STATUS_CLASSES.get(status, APIStatusError)
    return cls(message, status_code=status, body=body)


def decode_body(raw: bytes) -> Any:
    """An error response body: JSON when it parses, else its text."""
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)
