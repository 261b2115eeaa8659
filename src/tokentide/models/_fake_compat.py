"""LangChain's fake chat models under their own names, built on :class:`FakeChatModel`.

``GenericFakeChatModel(messages=iter([...]))`` and ``FakeListChatModel(responses=[...])`` take
the constructors of ``langchain_core.language_models`` and split replies into chunks the way
those models do, so tests written for LangChain port by changing imports only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage

from ._fake import FakeChatModel, Reply, _words

__all__ = ["FakeListChatModel", "GenericFakeChatModel"]

_SPACE = re.compile(r"(\s)")


def _is_final(chunk: AIMessageChunk) -> bool:
    return chunk.chunk_position == "last" and chunk.content == "" and not chunk.tool_call_chunks


def _marked_last(held: AIMessageChunk | None, final: AIMessageChunk) -> AIMessageChunk:
    if held is None:  # no text: the usage chunk is the only one
        return final
    held.chunk_position = "last"
    return held


class _LangChainFake(FakeChatModel):
    """Streams as LangChain's fakes do: no extra usage chunk after the text, the last text
    chunk marked ``chunk_position="last"`` (a reply with no text streams the usage chunk)."""

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        held: AIMessageChunk | None = None
        for chunk in super()._stream(messages, **kwargs):  # LangChain's fakes ignore stop
            if _is_final(chunk):
                yield _marked_last(held, chunk)
                return
            if held is not None:
                yield held
            held = chunk
        if held is not None:
            yield held

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        held: AIMessageChunk | None = None
        async for chunk in super()._astream(messages, **kwargs):  # as LangChain's
            if _is_final(chunk):
                yield _marked_last(held, chunk)
                return
            if held is not None:
                yield held
            held = chunk
        if held is not None:
            yield held


class GenericFakeChatModel(_LangChainFake):
    """Replies with the next item of ``messages`` (an iterator of ``AIMessage`` or ``str``),
    streamed split on whitespace (each space its own chunk), as LangChain's model of the
    same name. Raises ``ValueError`` once the iterator is exhausted.

    Example::

        model = GenericFakeChatModel(messages=iter([AIMessage("hello world")]))
        assert [c.content for c in model.stream("hi")][:3] == ["hello", " ", "world"]
    """

    def __init__(self, *, messages: Iterator[AIMessage | str], **kwargs: Any) -> None:
        super().__init__(responses=["(unused)"], **kwargs)
        self.messages = messages

    def get_name(self) -> str:
        return self.name or "GenericFakeChatModel"

    def _take(self) -> Reply:
        try:
            return next(self.messages)
        except StopIteration:
            raise ValueError("GenericFakeChatModel has no more messages to reply with") from None

    def _plan(self, messages: list[BaseMessage]) -> tuple[Sequence[str], AIMessage | None, int]:
        reply = self._take()
        message = reply if isinstance(reply, AIMessage) else None
        text = message.content if message is not None else reply
        if not isinstance(text, str):
            raise ValueError("GenericFakeChatModel replies must have text content")
        pieces = _SPACE.split(text) if text else []
        return pieces, message, _words(messages)


class FakeListChatModel(_LangChainFake):
    """Replies with ``responses`` in turn (cycling), streamed one character per chunk, as
    LangChain's model of the same name; ``sleep`` is the delay before each chunk.

    Example::

        model = FakeListChatModel(responses=["hi"])
        assert [c.content for c in model.stream("x")][:2] == ["h", "i"]
    """

    def __init__(
        self, *, responses: Sequence[str], sleep: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(responses=list(responses), delay=sleep or 0.0, **kwargs)

    def get_name(self) -> str:
        return self.name or "FakeListChatModel"

    def _plan(self, messages: list[BaseMessage]) -> tuple[Sequence[str], AIMessage | None, int]:
        reply = self._take()
        text = reply.content if isinstance(reply, AIMessage) else reply
        return list(text) if isinstance(text, str) else list(text), None, _words(messages)
