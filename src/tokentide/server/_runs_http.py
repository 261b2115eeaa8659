"""What the runs endpoints answer when the store is in trouble or a client asks for a position
that does not exist.

- The store unavailable (Redis down or restarting): before a response started, ``503`` with an
  OpenAI-shaped error (``code: store_unavailable``) and ``Retry-After``; in a live event stream,
  one last ``error`` event (``type: StoreUnavailable``, ``retryable: true``, ``retry_after``),
  after which the client resumes with ``Last-Event-ID``. The cause (host, error text) goes to
  the server's log, not to the client.
- ``Last-Event-ID`` past the last event of the run: ``400`` (``code:
  last_event_id_out_of_range``) before the stream starts: a browser's ``EventSource`` stops
  reconnecting on it, where an empty stream would make it reconnect forever.
"""

from __future__ import annotations

import logging
from typing import Any

from ._asgi import HTTPError
from ._store import EventsExpired, RunNotFound, StoreUnavailable, StreamStore

__all__ = ["check_position", "reader_error", "request_cancel_quietly", "store_unavailable"]

logger = logging.getLogger("tokentide.server")


def store_unavailable(exc: StoreUnavailable) -> HTTPError:
    """The ``503`` for a request that needed the unavailable store."""
    logger.warning("runs request answered 503: %s", exc)
    return HTTPError(
        503,
        "The run store is unavailable (it cannot be reached or is restarting); "
        f"try again in {exc.retry_after} s.",
        code="store_unavailable",
        headers=[(b"retry-after", str(exc.retry_after).encode())],
    )


def reader_error(exc: EventsExpired | RunNotFound | StoreUnavailable) -> dict[str, Any]:
    """The data of the ``error`` event that ends a stream whose reader failed."""
    if isinstance(exc, StoreUnavailable):
        logger.warning("run stream ended with an error event: %s", exc)
        return {
            "type": "StoreUnavailable",
            "message": "the run store became unavailable; resume this stream with "
            f"Last-Event-ID in {exc.retry_after} s",
            "retryable": True,
            "retry_after": exc.retry_after,
            "partial": None,
        }
    return {"type": type(exc).__name__, "message": str(exc), "retryable": False, "partial": None}


async def check_position(store: StreamStore, run_id: str, after: int) -> None:
    """`HTTPError` ``400`` if ``after`` (a ``Last-Event-ID``) is past the run's last event."""
    if after <= 0:
        return
    try:
        last = await store.last_event_id(run_id)
    except RunNotFound:
        raise HTTPError(
            404, f"no run {run_id!r} (unknown or expired)", code="run_not_found"
        ) from None
    if after > last:
        raise HTTPError(
            400,
            f"Last-Event-ID {after} is past the last event of run {run_id!r} (id {last}): "
            "send the id of an event this run sent, or 0 to replay it from the start",
            param="last_event_id",
            code="last_event_id_out_of_range",
        )


async def request_cancel_quietly(store: StreamStore, run_id: str) -> None:
    """Cancel a run whose reader left (``on_disconnect: cancel``); a store that cannot be
    reached or a run already gone is only logged."""
    try:
        await store.request_cancel(run_id)
    except (StoreUnavailable, RunNotFound) as exc:
        logger.warning("run %s: not cancelled after its client left: %s", run_id, exc)
