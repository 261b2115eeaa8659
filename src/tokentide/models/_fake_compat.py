"""LangChain's fake chat models under their own names, built on :class:`FakeChatModel`.

``GenericFakeChatModel(messages=iter([...]))`` and ``FakeListChatModel(responses=[...])`` take
the constructors of ``langchain_core.language_models`` and split replies into chunks the way
those models do, so tests written for LangChain port by changing imports only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from tokentide.messages import AIMessage, BaseMessage

from ._fake import FakeChatModel, Reply, _words

__all__ = ["FakeListChatModel", "GenericFakeChatModel"]

_SPACE = re.compile(r"(\s)")


class GenericFakeChatModel(FakeChatModel):
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


class FakeListChatModel(FakeChatModel):
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
