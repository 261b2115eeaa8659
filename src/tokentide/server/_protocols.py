"""uvicorn's HTTP protocols with the checks of `ServerLimits` mixed in (see `_limits`).

Imported only when a server starts (it needs uvicorn); the classes live at module level so that
they pickle for uvicorn's worker processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._limits import HeadGuard, ServerLimits

__all__ = ["LimitedH11Protocol", "LimitedHttpToolsProtocol"]

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: only the h11 protocol is available
    HttpToolsProtocol = H11Protocol  # type: ignore[assignment,misc]


class LimitedHttpToolsProtocol(HeadGuard, HttpToolsProtocol):
    """uvicorn's ``httptools`` protocol with `ServerLimits` checks."""

    def __init__(self, *args: Any, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._in_head = True
        self._guard_init()

    def _head_pending(self) -> bool:
        return self._in_head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_connection_made()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._guard_data(data):
            super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_done()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()


class LimitedH11Protocol(HeadGuard, H11Protocol):
    """uvicorn's ``h11`` protocol with `ServerLimits` checks."""

    def __init__(self, *args: Any, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._guard_init()

    def _head_pending(self) -> bool:
        return bool(self.conn.their_state is h11.IDLE)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_connection_made()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._guard_data(data):
            return
        super().data_received(data)
        if not self._head_pending():
            self._head_done()
