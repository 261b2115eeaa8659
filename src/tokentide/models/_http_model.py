"""`HTTPModel`: what every model streaming over one `HTTPTransport` shares.

The model name (``model`` is ``model_name``) and the transport's lifecycle: ``close`` /
``aclose`` and ``with`` / ``async with`` blocks that close the HTTP clients when they end.
`ChatOpenAI`, `OpenAI` and `ChatAnthropic` mix it in; each sets ``model_name`` and
``_transport`` in its constructor.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from ._http import HTTPTransport

__all__ = ["HTTPModel"]

Model = TypeVar("Model", bound="HTTPModel")


class HTTPModel:
    """Mixin of the models that own an `HTTPTransport` (``_transport``)."""

    model_name: str
    _transport: HTTPTransport

    @property
    def model(self) -> str:
        """The model name sent to the server (same as ``model_name``)."""
        return self.model_name

    def close(self) -> None:
        """Close the sync HTTP client (its pooled connections)."""
        self._transport.close()

    async def aclose(self) -> None:
        """Close the HTTP clients of this model (sync, and the running loop's async one)."""
        await self._transport.aclose()

    def __enter__(self: Model) -> Model:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self: Model) -> Model:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
