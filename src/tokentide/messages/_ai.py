"""Messages from the model: `AIMessage` and the streamed `AIMessageChunk`.

Folding a stream with ``acc = acc + chunk`` is linear in the total text: the merged chunks of
one fold share an append-only log of text pieces and tool-call pieces, and each merged chunk
only remembers how much of the log is its own. ``content`` is joined on first read and cached.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, TypedDict

from typing_extensions import Unpack

from ._base import _COMMON_FIELDS, BaseMessage, BaseMessageChunk, _merge_optional, _plain_copy
from ._merge import merge_ids
from ._tools import (
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
    chunks_from_tool_calls,
    merge_tool_call_chunks,
    parse_tool_call_chunks,
)
from ._usage import UsageMetadata, add_usage

__all__ = ["AIMessage", "AIMessageChunk", "plain_text", "text_chunk", "usage_and_finish"]

# Text pieces past this many uncompacted ones are joined into one piece (each character is
# copied once by compaction, so the fold stays linear and the piece list stays short).
_COMPACT_EVERY = 64


class _Log:
    """Append-only record shared by the merged chunks of one fold.

    The text is the concatenation of ``parts`` (pieces may be joined, never changed); ``size``
    is its length. A merged chunk owns the first ``_len`` characters and ``_ntools`` tool
    pieces; it may append in place only if it owns the whole log.
    """

    __slots__ = ("parts", "size", "frozen", "tools")

    def __init__(self, text: str, tools: list[ToolCallChunk]) -> None:
        self.parts = [text] if text else []
        self.size = len(text)
        self.frozen = 0
        self.tools = tools

    def append_text(self, text: str) -> None:
        parts = self.parts
        parts.append(text)
        self.size += len(text)
        if len(parts) - self.frozen >= _COMPACT_EVERY:
            self.compact()

    def compact(self) -> None:
        """Join the pieces appended since the last compaction into one."""
        parts = self.parts
        start = self.frozen
        parts[start:] = ["".join(parts[start:])]
        self.frozen = start + 1

    def text(self, length: int) -> str:
        """The first ``length`` characters."""
        parts = self.parts
        if length == self.size:
            text = "".join(parts)
            if len(parts) > 1:
                parts[:] = [text]
                self.frozen = 1
            return text
        kept: list[str] = []
        remaining = length
        for part in parts:
            if len(part) >= remaining:
                kept.append(part[:remaining])
                break
            kept.append(part)
            remaining -= len(part)
        return "".join(kept)


_AI_FIELDS: tuple[tuple[str, Any], ...] = (
    *_COMMON_FIELDS,
    ("tool_calls", []),
    ("invalid_tool_calls", []),
    ("usage_metadata", None),
)


class AIMessage(BaseMessage):
    """A complete message from the model, possibly with tool calls and token usage.

    Example::

        msg = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1",
                                         "type": "tool_call"}])
        msg.to_dict()["tool_calls"][0]["function"]  # {"name": "add", "arguments": '{"a": 1}'}
    """

    __slots__ = ("tool_calls", "invalid_tool_calls", "usage_metadata")
    type: ClassVar[str] = "ai"
    _openai_role: ClassVar[str] = "assistant"
    _fields: ClassVar[tuple[tuple[str, Any], ...]] = _AI_FIELDS

    tool_calls: list[ToolCall]
    invalid_tool_calls: list[InvalidToolCall]
    usage_metadata: UsageMetadata | None

    def __init__(
        self,
        content: str = "",
        *,
        id: str | None = None,
        name: str | None = None,
        tool_calls: list[ToolCall] | None = None,
        invalid_tool_calls: list[InvalidToolCall] | None = None,
        usage_metadata: UsageMetadata | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
    ) -> None:
        self.content = content
        self.id = id
        self.name = name
        self.tool_calls = [] if tool_calls is None else tool_calls
        self.invalid_tool_calls = [] if invalid_tool_calls is None else invalid_tool_calls
        self.usage_metadata = usage_metadata
        self._additional_kwargs = additional_kwargs
        self._response_metadata = response_metadata

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if not (self.tool_calls or self.invalid_tool_calls):
            return out
        calls: list[dict[str, Any]] = [
            _openai_tool_call(
                call["id"], call["name"], json.dumps(call["args"], ensure_ascii=False)
            )
            for call in self.tool_calls
        ]
        calls += [
            _openai_tool_call(bad["id"], bad["name"] or "", bad["args"] or "")
            for bad in self.invalid_tool_calls
        ]
        out["tool_calls"] = calls
        if not out["content"]:
            out["content"] = None
        return out

    def pretty_repr(self) -> str:
        lines = [super().pretty_repr()]
        if self.tool_calls or self.invalid_tool_calls:
            lines.append("Tool Calls:")
            for call in self.tool_calls:
                lines.append(f"  {call['name']} ({call['id']})")
                lines.append(f" Call ID: {call['id']}")
                lines.append("  Args:")
                lines.extend(f"    {key}: {value}" for key, value in call["args"].items())
            for bad in self.invalid_tool_calls:
                lines.append(f"  {bad['name']} ({bad['id']}) [invalid]")
                lines.append(f"  Args: {bad['args']}")
        return "\n".join(lines)


def _openai_tool_call(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class _Extra:
    """The fields a chunk rarely has, kept apart so that a text chunk is a few stores.

    ``tcc``, ``calls`` and ``invalid`` also cache what a merged chunk parsed (``None``: not
    built yet). Owned by one chunk: copies and merges make their own.
    """

    __slots__ = ("calls", "invalid", "metadata", "kwargs", "name", "position", "tcc", "usage")

    def __init__(
        self,
        name: str | None = None,
        usage_metadata: UsageMetadata | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
        chunk_position: Literal["last"] | None = None,
        tool_call_chunks: list[ToolCallChunk] | None = None,
        tool_calls: list[ToolCall] | None = None,
        invalid_tool_calls: list[InvalidToolCall] | None = None,
    ) -> None:
        # The parameters are AIMessageChunk's keyword arguments: _Extra(**fields) binds them.
        self.name = name
        self.usage = usage_metadata
        self.kwargs = additional_kwargs
        self.metadata = response_metadata
        self.position = chunk_position
        if tool_calls and tool_call_chunks is None:
            tool_call_chunks = chunks_from_tool_calls(tool_calls)
        self.tcc = tool_call_chunks
        self.calls = tool_calls
        self.invalid = invalid_tool_calls

    @classmethod
    def restore(cls, state: tuple[Any, ...]) -> _Extra:
        """The `_Extra` whose `state` is ``state`` (as it was: nothing derived again)."""
        extra = object.__new__(cls)
        (
            extra.name,
            extra.usage,
            extra.kwargs,
            extra.metadata,
            extra.position,
            extra.tcc,
            extra.calls,
            extra.invalid,
        ) = state
        return extra

    def state(self) -> tuple[Any, ...]:
        return (
            self.name,
            self.usage,
            self.kwargs,
            self.metadata,
            self.position,
            self.tcc,
            self.calls,
            self.invalid,
        )


class _ChunkFields(TypedDict, total=False):
    """The keyword arguments of `AIMessageChunk` besides ``content`` and ``id`` (the
    parameters of `_Extra`)."""

    name: str | None
    tool_call_chunks: list[ToolCallChunk] | None
    tool_calls: list[ToolCall] | None
    invalid_tool_calls: list[InvalidToolCall] | None
    usage_metadata: UsageMetadata | None
    additional_kwargs: dict[str, Any] | None
    response_metadata: dict[str, Any] | None
    chunk_position: Literal["last"] | None


def _extra_of(fields: _ChunkFields) -> _Extra:
    """The `_Extra` of a chunk built with ``fields``."""
    try:
        return _Extra(**fields)
    except TypeError as exc:
        raise TypeError(str(exc).replace("_Extra", "AIMessageChunk")) from None


_NO_STATE = (None,) * 8


def _merge_extra(left: _Extra | None, right: _Extra | None) -> _Extra | None:
    """The fields of ``left + right`` (tool pieces are merged through the log instead)."""
    a = _EMPTY if left is None else left
    b = _EMPTY if right is None else right
    name = a.name if a.name is not None else b.name
    usage = add_usage(a.usage, b.usage)
    kwargs = _merge_optional(a.kwargs, b.kwargs) if a.kwargs or b.kwargs else None
    metadata = _merge_optional(a.metadata, b.metadata) if a.metadata or b.metadata else None
    position = a.position if a.position is not None else b.position
    if name is None and usage is None and kwargs is None and metadata is None and position is None:
        return None
    return _Extra(name, usage, kwargs, metadata, position)


#: Read-only stand-in for a missing `_Extra` (never assigned to a chunk).
_EMPTY = _Extra()


class AIMessageChunk(AIMessage, BaseMessageChunk):
    """A streamed piece of an `AIMessage`; pieces merge with ``+``.

    Merge rules (``a + b``):

    - ``content`` is concatenated; ``tool_call_chunks`` are merged by ``index`` (see
      `merge_tool_call_chunks`); ``usage_metadata`` is added field by field;
    - ``additional_kwargs`` and ``response_metadata`` are merged with `merge_dicts`;
    - ``id`` is the first one seen, preferring provider ids over ``run-``/``lc_run`` ids;
    - ``chunk_position`` is ``"last"`` if either side is last.

    ``tool_calls`` and ``invalid_tool_calls`` are parsed from ``tool_call_chunks`` (partial
    JSON allowed) when first read, so a chunk without tool pieces costs nothing extra. A chunk
    with only ``content`` and ``id`` stores just those: its other fields read as their empty
    defaults, and the lists and dicts are made for that chunk when first read or assigned.

    Example::

        acc = AIMessageChunk("Hel", id="chatcmpl-1")
        acc = acc + AIMessageChunk("lo", usage_metadata={"input_tokens": 3, "output_tokens": 2,
                                                         "total_tokens": 5})
        acc.content  # "Hello"
    """

    __slots__ = ("_content", "_log", "_len", "_ntools", "_x")
    type: ClassVar[str] = "AIMessageChunk"
    _fields: ClassVar[tuple[tuple[str, Any], ...]] = (
        *_AI_FIELDS,
        ("tool_call_chunks", []),
        ("chunk_position", None),
    )

    _content: str | None
    _log: _Log | None
    _len: int
    _ntools: int
    _x: _Extra | None

    def __init__(
        self, content: str = "", *, id: str | None = None, **fields: Unpack[_ChunkFields]
    ) -> None:
        """``fields``: ``name``, ``tool_call_chunks``, ``tool_calls``, ``invalid_tool_calls``,
        ``usage_metadata``, ``additional_kwargs``, ``response_metadata``, ``chunk_position``
        (all ``None`` by default)."""
        # _len and _ntools are only read while _log is set.
        self._content = content
        self._log = None
        self.id = id
        self._x = _extra_of(fields) if fields else None

    def _extra(self) -> _Extra:
        """This chunk's `_Extra`, made when a field is first stored."""
        extra = self._x
        if extra is None:
            extra = self._x = _Extra()
        return extra

    # ------------------------------------------------------------------ fields kept apart

    @property
    def name(self) -> str | None:
        """An optional name for the message."""
        extra = self._x
        return None if extra is None else extra.name

    @name.setter
    def name(self, value: str | None) -> None:
        if value is not None or self._x is not None:
            self._extra().name = value

    @property
    def usage_metadata(self) -> UsageMetadata | None:
        """Token usage reported with this piece (summed by ``+``)."""
        extra = self._x
        return None if extra is None else extra.usage

    @usage_metadata.setter
    def usage_metadata(self, value: UsageMetadata | None) -> None:
        if value is not None or self._x is not None:
            self._extra().usage = value

    @property
    def chunk_position(self) -> Literal["last"] | None:
        """``"last"`` on the final piece of a stream, when the provider says so."""
        extra = self._x
        return None if extra is None else extra.position

    @chunk_position.setter
    def chunk_position(self, value: Literal["last"] | None) -> None:
        if value is not None or self._x is not None:
            self._extra().position = value

    @property
    def _additional_kwargs(self) -> dict[str, Any] | None:
        extra = self._x
        return None if extra is None else extra.kwargs

    @_additional_kwargs.setter
    def _additional_kwargs(self, value: dict[str, Any] | None) -> None:
        if value is not None or self._x is not None:
            self._extra().kwargs = value

    @property
    def _response_metadata(self) -> dict[str, Any] | None:
        extra = self._x
        return None if extra is None else extra.metadata

    @_response_metadata.setter
    def _response_metadata(self, value: dict[str, Any] | None) -> None:
        if value is not None or self._x is not None:
            self._extra().metadata = value

    # ------------------------------------------------------------------ lazily built fields

    @property
    def content(self) -> str:
        """The text; for a merged chunk it is joined on first read and cached."""
        text = self._content
        if text is None:
            assert self._log is not None
            text = self._content = self._log.text(self._len)
        return text

    @content.setter
    def content(self, value: str) -> None:
        self._detach()
        self._content = value

    @property
    def text(self) -> str:
        """The text content of the message."""
        text = self._content
        if text is None:
            assert self._log is not None
            text = self._content = self._log.text(self._len)
        return text

    @property
    def tool_call_chunks(self) -> list[ToolCallChunk]:
        """The tool-call pieces, merged by index for a merged chunk."""
        extra = self._x
        chunks = None if extra is None else extra.tcc
        if chunks is None:
            log = self._log
            if log is None or not self._ntools:
                chunks = []
            else:
                chunks = merge_tool_call_chunks(log.tools[: self._ntools])
            self._extra().tcc = chunks
        return chunks

    @tool_call_chunks.setter
    def tool_call_chunks(self, value: list[ToolCallChunk]) -> None:
        self._detach()
        extra = self._extra()
        extra.tcc = value
        extra.calls = extra.invalid = None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Tool calls parsed from `tool_call_chunks` (arguments may be partial)."""
        extra = self._x
        calls = None if extra is None else extra.calls
        if calls is None:
            calls = self._parse_tools()[0]
        return calls

    @tool_calls.setter
    def tool_calls(self, value: list[ToolCall]) -> None:
        self._extra().calls = value

    @property
    def invalid_tool_calls(self) -> list[InvalidToolCall]:
        """Tool-call pieces whose arguments do not parse as a JSON object."""
        extra = self._x
        invalid = None if extra is None else extra.invalid
        if invalid is None:
            invalid = self._parse_tools()[1]
        return invalid

    @invalid_tool_calls.setter
    def invalid_tool_calls(self, value: list[InvalidToolCall]) -> None:
        self._extra().invalid = value

    def _parse_tools(self) -> tuple[list[ToolCall], list[InvalidToolCall]]:
        chunks = self.tool_call_chunks
        extra = self._extra()
        if extra.calls is None or extra.invalid is None:
            calls, invalid = parse_tool_call_chunks(chunks) if chunks else ([], [])
            if extra.calls is None:
                extra.calls = calls
            if extra.invalid is None:
                extra.invalid = invalid
        return extra.calls, extra.invalid

    def model_dump(self) -> dict[str, Any]:
        extra = self._x
        if self._log is not None or (
            extra is not None and (extra.tcc or extra.calls or extra.invalid)
        ):
            return super().model_dump()
        # The common case while streaming: no tool pieces.
        if extra is None:
            return {
                "content": self.content,
                "additional_kwargs": {},
                "response_metadata": {},
                "type": self.type,
                "name": None,
                "id": self.id,
                "tool_calls": [],
                "invalid_tool_calls": [],
                "usage_metadata": None,
                "tool_call_chunks": [],
                "chunk_position": None,
            }
        out = self._dump_common()
        usage = extra.usage
        out["tool_calls"] = []
        out["invalid_tool_calls"] = []
        out["usage_metadata"] = _plain_copy(usage) if usage is not None else None
        out["tool_call_chunks"] = []
        out["chunk_position"] = extra.position
        return out

    # ------------------------------------------------------------------ copy and pickle

    def __getstate__(self) -> tuple[Any, ...]:
        if self._log is not None:
            self.tool_call_chunks  # noqa: B018 - cached in _x, so the state carries it
        extra = self._x
        return (self.content, self.id, None if extra is None else extra.state())

    def __setstate__(self, state: Any) -> None:
        if len(state) == 2 and isinstance(state[1], dict):  # an older slot-by-slot state
            state = _from_slot_state(state[1])
        content, id, fields = state
        self._content = content
        self._log = None
        self.id = id
        self._x = None if fields is None else _Extra.restore(fields)

    # ------------------------------------------------------------------ merging

    def _detach(self) -> None:
        """Stop sharing the fold's log (before a field is assigned directly)."""
        if self._log is not None:
            self._content = self.content
            self.tool_call_chunks  # noqa: B018 - cached in _x
            self._log = None

    def _own_log(self) -> _Log:
        """The log to append to: the shared one if this chunk owns all of it, else a copy."""
        log = self._log
        if log is not None and log.size == self._len and len(log.tools) == self._ntools:
            return log
        return _Log(self.content, list(self.tool_call_chunks))

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, AIMessageChunk):
            if isinstance(other, (list, tuple)):
                result = self
                for item in other:
                    result = result + item
                return result
            return NotImplemented
        log = self._own_log()
        text = other._content
        if text is None:
            text = other.content
        if text:
            log.append_text(text)
        right = other._x
        tools: list[ToolCallChunk] | None
        if other._log is not None:
            tools = other.tool_call_chunks
        else:
            tools = None if right is None else right.tcc
        if tools:
            log.tools.extend(tools)
        new = object.__new__(type(self))
        new._content = None
        new._log = log
        new._len = log.size
        new._ntools = len(log.tools)
        new.id = merge_ids(self.id, other.id)
        left = self._x
        new._x = None if left is None and right is None else _merge_extra(left, right)
        return new


def _from_slot_state(slots: dict[str, Any]) -> tuple[Any, ...]:
    """The state of a chunk pickled by an older version (one entry per set slot)."""
    content = slots.get("_content")
    if content is None:
        content = slots.get("content", "")
    log = slots.get("_log")
    tcc: list[ToolCallChunk] | None = slots.get("_tcc")
    if content is None or (tcc is None and log is not None):
        chunk = object.__new__(AIMessageChunk)
        chunk._content, chunk._log, chunk._x = content, log, None
        chunk._len, chunk._ntools = slots.get("_len", 0), slots.get("_ntools", 0)
        content, tcc = chunk.content, chunk.tool_call_chunks
    fields = (
        slots.get("name"),
        slots.get("usage_metadata"),
        slots.get("_additional_kwargs"),
        slots.get("_response_metadata"),
        slots.get("chunk_position"),
        tcc,
        slots.get("_tool_calls"),
        slots.get("_invalid_tool_calls"),
    )
    return (content, slots.get("id"), None if fields == _NO_STATE else fields)


_new = object.__new__


def text_chunk(text: str, id: str | None) -> AIMessageChunk:
    """``AIMessageChunk(text, id=id)``, built without the keyword-argument call: the one chunk
    a streaming client makes per token (every slot set as ``__init__`` sets it).

    Example::

        text_chunk("Hi", "msg_1") == AIMessageChunk("Hi", id="msg_1")  # True
    """
    chunk = _new(AIMessageChunk)
    chunk._content = text
    chunk._log = None
    chunk.id = id
    chunk._x = None
    return chunk


def plain_text(chunk: AIMessageChunk) -> str | None:
    """The text of a chunk that carries nothing but text (and an ``id``), read without
    allocating; ``None`` for any other chunk (tool-call pieces, usage, metadata, additional
    kwargs, a name, a position, or a chunk merged from others).

    An encoder's per-token fast path: reading ``response_metadata`` or ``tool_call_chunks``
    of a text-only chunk makes the empty dict or list it returns, and stores it on the chunk.

    Example::

        plain_text(AIMessageChunk("Hi", id="msg_1"))  # "Hi"
        plain_text(AIMessageChunk("", usage_metadata=usage))  # None
    """
    if chunk._x is None and chunk._log is None:
        return chunk._content
    return None


def usage_and_finish(chunk: AIMessageChunk) -> tuple[UsageMetadata | None, str | None]:
    """A chunk's usage and finish reason (``response_metadata["finish_reason"]``), read without
    allocating: what a protocol encoder keeps of a chunk for the end of the reply.

    Example::

        usage_and_finish(AIMessageChunk("", response_metadata={"finish_reason": "stop"}))
        # (None, "stop")
    """
    extra = chunk._x
    if extra is None:
        return None, None
    meta = extra.metadata
    finish = meta.get("finish_reason") if meta else None
    return extra.usage, str(finish) if finish else None
