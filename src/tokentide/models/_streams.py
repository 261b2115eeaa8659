"""The stream objects a model's ``stream()`` / ``astream()`` return.

A stream iterates as a plain generator does, and also owns the call's result: ``.result`` is
the whole reply so far (complete once the stream ended, with usage and finish reason; after an
early close, what was produced and the usage so far). It is a resource: ``close()`` /
``aclose()`` or leaving a ``with`` block stops generation at once. The call's state lives on
the stream, never on the model, which many threads and tasks share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Generic, TypeVar

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    ChunkAccumulator,
    UsageMetadata,
    message_chunk_to_message,
)
from tokentide.runtime import aclose_if_closable

__all__ = ["AsyncChatStream", "AsyncModelStream", "ChatStream", "ModelStream"]

C = TypeVar("C")


class ModelStream(Iterator[C], Generic[C]):
    """The chunks of one model call (the common part of `ChatStream` and `CompletionStream`).

    A ``for`` loop iterates the call's generator itself (``__iter__`` returns it), so the
    stream object adds nothing per chunk; ``next(stream)`` and any mix of the two advance the
    same generator."""

    __slots__ = ("_items", "_next")

    def __init__(self, items: Iterator[C]) -> None:
        self._items = items
        self._next = items.__next__

    def __iter__(self) -> Iterator[C]:
        return self._items

    def __next__(self) -> C:
        return self._next()

    def close(self) -> None:
        """Stop the call now (generation stops, the HTTP response is closed); idempotent."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ModelStream[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncModelStream(AsyncIterator[C], Generic[C]):
    """Async `ModelStream`: ``aclose()`` or cancellation stops the call at once. An
    ``async for`` loop iterates the call's async generator itself."""

    __slots__ = ("_items",)

    def __init__(self, items: AsyncIterator[C]) -> None:
        self._items = items

    def __aiter__(self) -> AsyncIterator[C]:
        return self._items

    def __anext__(self) -> Awaitable[C]:
        return self._items.__anext__()

    async def aclose(self) -> None:
        """Stop the call now; idempotent."""
        await aclose_if_closable(self._items)

    async def __aenter__(self) -> AsyncModelStream[C]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _message(acc: ChunkAccumulator) -> AIMessage:
    return message_chunk_to_message(acc.result())


class ChatStream(ModelStream[AIMessageChunk]):
    """The ``AIMessageChunk``s of one chat-model call; ``result`` is the whole message.

    Example::

        with model.stream("Write a haiku") as stream:
            for chunk in stream:
                print(chunk.content, end="")
        stream.result.usage_metadata                      # usage, also after an early close
        stream.result.response_metadata["finish_reason"]  # when the provider sent one
    """

    __slots__ = ("_acc",)

    def __init__(self, items: Iterator[AIMessageChunk], acc: ChunkAccumulator) -> None:
        self._items = items  # as ModelStream.__init__ (one call less per model call)
        self._next = items.__next__
        self._acc = acc

    def __enter__(self) -> ChatStream:
        return self

    @property
    def result(self) -> AIMessage:
        """The reply so far as one message (complete once the stream ended; after an early
        close, what was produced with the usage so far)."""
        return _message(self._acc)

    @property
    def usage_metadata(self) -> UsageMetadata | None:
        """The usage so far (``None`` until the provider reported it or the stream ended)."""
        return self._acc.usage_metadata


class AsyncChatStream(AsyncModelStream[AIMessageChunk]):
    """Async `ChatStream`.

    Example::

        async with model.astream("Write a haiku") as stream:
            async for chunk in stream:
                print(chunk.content, end="")
        stream.result.usage_metadata
    """

    __slots__ = ("_acc",)

    def __init__(self, items: AsyncIterator[AIMessageChunk], acc: ChunkAccumulator) -> None:
        self._items = items
        self._acc = acc

    async def __aenter__(self) -> AsyncChatStream:
        return self

    @property
    def result(self) -> AIMessage:
        """The reply so far as one message (see `ChatStream.result`)."""
        return _message(self._acc)

    @property
    def usage_metadata(self) -> UsageMetadata | None:
        return self._acc.usage_metadata
