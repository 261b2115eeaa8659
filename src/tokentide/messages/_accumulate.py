"""Collecting a stream of chunks into one message, the cheap way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, overload

from ._ai import _COMPACT_EVERY, AIMessage, AIMessageChunk, _Extra, text_chunk
from ._base import (
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    _merge_optional,
)
from ._merge import merge_ids
from ._tools import ToolCallChunk, merge_tool_call_chunks
from ._usage import UsageMetadata, add_usage

__all__ = ["ChunkAccumulator", "merge_message_chunks", "message_chunk_to_message"]


class ChunkAccumulator:
    """Fold a stream of `AIMessageChunk`s into one, with the same rules as ``+``.

    Cheaper than ``acc = acc + chunk``: no intermediate chunk is built; text pieces go to a
    list that is joined when asked for.

    Example::

        acc = ChunkAccumulator()
        for chunk in model.stream("hi"):
            acc.add(chunk)
        message = acc.result()  # an AIMessageChunk
        acc.text                # the text so far
    """

    __slots__ = (
        "_counted",
        "_frozen",
        "_id",
        "_kwargs",
        "_metadata",
        "_name",
        "_parts",
        "_position",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        # The text is "".join(_parts), one piece per chunk added; the first _frozen pieces were
        # joined already (each character is copied once by compaction, so the fold stays
        # linear), and _counted chunks more than the pieces left were added.
        self._parts: list[str] = []
        self._frozen = 0
        self._counted = 0
        self._tools: list[ToolCallChunk] = []
        self._id: str | None = None
        self._name: str | None = None
        self._usage: UsageMetadata | None = None
        self._kwargs: dict[str, Any] | None = None
        self._metadata: dict[str, Any] | None = None
        self._position: Literal["last"] | None = None

    def add(self, chunk: AIMessageChunk) -> None:
        """Merge ``chunk`` into the accumulated message (this is the per-token path: a text
        chunk costs one list append and allocates nothing)."""
        text = chunk._content
        if text is None:
            text = chunk.content
        parts = self._parts
        parts.append(text)  # even "": one piece per chunk is the count
        if len(parts) - self._frozen >= _COMPACT_EVERY:
            self._compact()
        extra = chunk._x
        if chunk._log is not None:
            tools = chunk.tool_call_chunks
            if tools:
                self._tools.extend(tools)
        elif extra is not None and extra.tcc:
            self._tools.extend(extra.tcc)
        cid = chunk.id
        if cid is not None and cid != self._id:
            self._id = merge_ids(self._id, cid)
        if extra is not None:
            self._add_fields(extra)

    def _compact(self) -> None:
        """Join the pieces added since the last compaction into one."""
        parts = self._parts
        start = self._frozen
        self._counted += len(parts) - start - 1
        parts[start:] = ["".join(parts[start:])]
        self._frozen = start + 1

    @property
    def count(self) -> int:
        """How many chunks were added."""
        return self._counted + len(self._parts)

    @count.setter
    def count(self, value: int) -> None:
        self._counted = value - len(self._parts)

    def _add_fields(self, extra: _Extra) -> None:
        """Fold the fields a chunk rarely has (name, usage, metadata, position)."""
        if self._name is None:
            self._name = extra.name
        if extra.usage is not None:
            self._usage = add_usage(self._usage, extra.usage)
        if extra.kwargs:
            self._kwargs = _merge_optional(self._kwargs, extra.kwargs)
        if extra.metadata:
            self._metadata = _merge_optional(self._metadata, extra.metadata)
        if extra.position is not None:
            self._position = extra.position

    @property
    def text(self) -> str:
        """The text accumulated so far."""
        parts = self._parts
        if len(parts) > 1:
            self._counted += len(parts) - 1
            parts[:] = ["".join(parts)]
            self._frozen = 1
        return parts[0] if parts else ""

    @property
    def tool_call_chunks(self) -> list[ToolCallChunk]:
        """The tool-call pieces so far, merged by index."""
        return merge_tool_call_chunks(self._tools)

    @property
    def usage_metadata(self) -> UsageMetadata | None:
        """The summed token usage so far."""
        return self._usage

    def result(self) -> AIMessageChunk:
        """The merged chunk (a new object on every call)."""
        chunk = text_chunk(self.text, self._id)
        tools = self.tool_call_chunks if self._tools else None
        name, usage, position = self._name, self._usage, self._position
        kwargs, metadata = self._kwargs, self._metadata
        if tools or name is not None or usage is not None or position is not None:
            chunk._x = _Extra(name, usage, None, None, position, tools)
        if kwargs or metadata:
            extra = chunk._extra()
            extra.kwargs = dict(kwargs) if kwargs else None
            extra.metadata = dict(metadata) if metadata else None
        return chunk


def merge_message_chunks(chunks: Iterable[AIMessageChunk]) -> AIMessageChunk:
    """Merge chunks into one `AIMessageChunk` (an empty one if there are none).

    Example::

        merge_message_chunks([AIMessageChunk("a"), AIMessageChunk("b")]).content  # "ab"
    """
    acc = ChunkAccumulator()
    add = acc.add
    for chunk in chunks:
        add(chunk)
    return acc.result()


@overload
def message_chunk_to_message(chunk: AIMessageChunk) -> AIMessage: ...
@overload
def message_chunk_to_message(chunk: BaseMessage) -> BaseMessage: ...


def message_chunk_to_message(chunk: BaseMessage) -> BaseMessage:
    """The complete message for a chunk (``AIMessageChunk`` → ``AIMessage``, ...).

    Tool calls are parsed from the tool-call pieces. Anything that is not a chunk is returned
    unchanged.

    Example::

        message_chunk_to_message(AIMessageChunk("hi"))  # AIMessage(content='hi')
    """
    if isinstance(chunk, AIMessageChunk):
        if chunk._x is None and chunk._log is None:  # text only
            return AIMessage(chunk.content, id=chunk.id)
        calls, invalid = chunk.tool_calls, chunk.invalid_tool_calls
        extra = chunk._extra()
        kwargs, metadata = extra.kwargs, extra.metadata
        return AIMessage(
            chunk.content,
            id=chunk.id,
            name=extra.name,
            tool_calls=list(calls),
            invalid_tool_calls=list(invalid),
            usage_metadata=extra.usage,
            additional_kwargs=dict(kwargs) if kwargs else None,
            response_metadata=dict(metadata) if metadata else None,
        )
    if not isinstance(chunk, BaseMessageChunk):
        return chunk
    target: type[BaseMessage]
    if isinstance(chunk, HumanMessageChunk):
        target = HumanMessage
    elif isinstance(chunk, SystemMessageChunk):
        target = SystemMessage
    else:
        return chunk
    return target(
        chunk.content,
        id=chunk.id,
        name=chunk.name,
        additional_kwargs=dict(chunk._additional_kwargs) if chunk._additional_kwargs else None,
        response_metadata=dict(chunk._response_metadata) if chunk._response_metadata else None,
    )
