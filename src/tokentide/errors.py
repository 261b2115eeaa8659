"""Typed errors raised by tokentide.

Two families:

- Errors *before the first token* (`APIError` and its HTTP-status subclasses, `APIConnectionError`,
  `APITimeoutError`): nothing was streamed yet, so a retry is invisible to the consumer.
- Errors *after the first token* (`StreamError` and subclasses): they carry what was produced so
  far in ``.partial`` (the merged ``AIMessageChunk``, with usage when known) and say with
  ``.retryable`` whether a retry could make sense (a retry would re-generate from the start).

Example::

    from tokentide.errors import StreamError

    try:
        for chunk in model.stream("hi"):
            print(chunk.content, end="")
    except StreamError as exc:
        print("\\n[interrupted]", exc, "kept:", exc.partial.content if exc.partial else "")
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "GraphBubbleUp",
    "GraphInterrupt",
    "GraphRecursionError",
    "InvalidUpdateError",
    "ParentCommand",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "ProtocolError",
    "ProviderError",
    "RateLimitError",
    "StreamError",
    "StreamIdleTimeout",
    "StreamInterrupted",
    "TokentideError",
]


class TokentideError(Exception):
    """Base class of every error tokentide raises on purpose."""


class MissingDependencyError(TokentideError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'tokentide[{extra}]'"
        )


# --------------------------------------------------------------------------- before first token


class APIError(TokentideError):
    """A request to a model provider failed before any token was streamed."""

    retryable: bool = False

    def __init__(self, message: str, *, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body


class APIConnectionError(APIError):
    """The provider could not be reached (connect error, reset before the response)."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """The provider did not answer within the request timeout."""


class PoolTimeoutError(APITimeoutError):
    """No connection of this client's pool became free within the request timeout.

    Every pooled connection (``max_connections`` of the model) was busy with other streams:
    the provider was never asked. Not retried by the client (a retry would wait for the same
    busy pool); a server answers it with ``503`` and ``Retry-After: retry_after``.
    """

    retryable = False
    retry_after: int = 1


class APIStatusError(APIError):
    """The provider answered with an HTTP error status."""

    def __init__(self, message: str, *, status_code: int, body: Any = None) -> None:
        super().__init__(message, body=body)
        self.status_code = status_code
        self.retryable = status_code >= 500 or status_code in (408, 409, 429)


class BadRequestError(APIStatusError):
    """HTTP 400: the request was malformed; the message quotes the server."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """HTTP 404: unknown model or endpoint."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests; ``retry_after`` is in seconds when the server said."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.retry_after = retry_after


# --------------------------------------------------------------------------- after first token


class StreamError(TokentideError):
    """A stream failed after it had started producing output.

    ``partial`` is the merged message produced so far (``AIMessageChunk`` for chat models, ``str``
    for completion models), usage included when known; ``retryable`` says whether retrying the
    whole request could succeed.
    """

    default_retryable: bool = False

    def __init__(self, message: str, *, partial: Any = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial
        self.retryable = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        return self.message


class StreamInterrupted(StreamError):
    """The connection was reset, or the stream ended without its end marker."""

    default_retryable = True


class ProviderError(StreamError):
    """The provider sent an error inside the stream (an in-band ``{"error": ...}`` payload)."""

    def __init__(
        self,
        message: str,
        *,
        partial: Any = None,
        retryable: bool | None = None,
        code: str | int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, partial=partial, retryable=retryable)
        self.code = code
        self.body = body


class StreamIdleTimeout(StreamError):
    """No data arrived for ``idle_timeout`` seconds (keep-alive comments do not count)."""

    default_retryable = True


class ProtocolError(StreamError):
    """The stream carried something that is not valid for its protocol (e.g. bad JSON)."""


# --------------------------------------------------------------------------- graphs


class GraphRecursionError(TokentideError, RecursionError):
    """A graph ran more supersteps than ``recursion_limit`` allows."""


class InvalidUpdateError(TokentideError, ValueError):
    """A node returned an update the graph cannot apply."""


class GraphBubbleUp(TokentideError):
    """Raised inside a graph node to stop it and hand control to the graph, not an error of
    the node: never retried, never turned into a tool error message."""


class GraphInterrupt(GraphBubbleUp):
    """``interrupt()`` paused the node that called it; ``interrupts`` holds the ``Interrupt``
    values. The graph catches it, saves the step and ends the run as interrupted."""

    def __init__(self, interrupts: Any = ()) -> None:
        super().__init__(interrupts)
        self.interrupts: tuple[Any, ...] = tuple(interrupts)


class ParentCommand(GraphBubbleUp):
    """A node of a subgraph returned ``Command(graph=Command.PARENT)``: carried to the parent
    graph, which applies it as the update of the node that runs the subgraph."""

    def __init__(self, command: Any) -> None:
        super().__init__(command)
        self.command = command
