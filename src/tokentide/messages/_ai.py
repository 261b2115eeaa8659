"""Messages from the model: `AIMessage` and the streamed `AIMessageChunk`.

Folding a stream with ``acc = acc + chunk`` is linear in the total text: the merged chunks of
one fold share an append-only log of text pieces and tool-call pieces, and each merged chunk
only remembers how much of the log is its own. ``content`` is joined on first read and cached.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

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

__all__ = ["AIMessage", "AIMessageChunk", "text_chunk"]

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


class AIMessageChunk(AIMessage, BaseMessageChunk):
    """A streamed piece of an `AIMessage`; pieces merge with ``+``.

    Merge rules (``a + b``):

    - ``content`` is concatenated; ``tool_call_chunks`` are merged by ``index`` (see
      `merge_tool_call_chunks`); ``usage_metadata`` is added field by field;
    - ``additional_kwargs`` and ``response_metadata`` are merged with `merge_dicts`;
    - ``id`` is the first one seen, preferring provider ids over ``run-``/``lc_run`` ids;
    - ``chunk_position`` is ``"last"`` if either side is last.

    ``tool_calls`` and ``invalid_tool_calls`` are parsed from ``tool_call_chunks`` (partial
    JSON allowed) when first read, so a chunk without tool pieces costs nothing extra.

    Example::

        acc = AIMessageChunk("Hel", id="chatcmpl-1")
        acc = acc + AIMessageChunk("lo", usage_metadata={"input_tokens": 3, "output_tokens": 2,
                                                         "total_tokens": 5})
        acc.content  # "Hello"
    """

    __slots__ = (
        "_content",
        "_log",
        "_len",
        "_ntools",
        "_tcc",
        "_tool_calls",
        "_invalid_tool_calls",
        "chunk_position",
    )
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
    _tcc: list[ToolCallChunk] | None
    _tool_calls: list[ToolCall] | None
    _invalid_tool_calls: list[InvalidToolCall] | None
    chunk_position: Literal["last"] | None

    def __init__(
        self,
        content: str = "",
        *,
        id: str | None = None,
        name: str | None = None,
        tool_call_chunks: list[ToolCallChunk] | None = None,
        tool_calls: list[ToolCall] | None = None,
        invalid_tool_calls: list[InvalidToolCall] | None = None,
        usage_metadata: UsageMetadata | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
        chunk_position: Literal["last"] | None = None,
    ) -> None:
        # _len and _ntools are only read while _log is set.
        self._content = content
        self._log = None
        self.id = id
        self.name = name
        self.usage_metadata = usage_metadata
        self._additional_kwargs = additional_kwargs
        self._response_metadata = response_metadata
        self.chunk_position = chunk_position
        if tool_calls and tool_call_chunks is None:
            tool_call_chunks = chunks_from_tool_calls(tool_calls)
        self._tcc = tool_call_chunks
        self._tool_calls = tool_calls
        self._invalid_tool_calls = invalid_tool_calls

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
        chunks = self._tcc
        if chunks is None:
            log = self._log
            if log is None or not self._ntools:
                chunks = []
            else:
                chunks = merge_tool_call_chunks(log.tools[: self._ntools])
            self._tcc = chunks
        return chunks

    @tool_call_chunks.setter
    def tool_call_chunks(self, value: list[ToolCallChunk]) -> None:
        self._detach()
        self._tcc = value
        self._tool_calls = self._invalid_tool_calls = None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Tool calls parsed from `tool_call_chunks` (arguments may be partial)."""
        calls = self._tool_calls
        if calls is None:
            calls = self._parse_tools()[0]
        return calls

    @tool_calls.setter
    def tool_calls(self, value: list[ToolCall]) -> None:
        self._tool_calls = value

    @property
    def invalid_tool_calls(self) -> list[InvalidToolCall]:
        """Tool-call pieces whose arguments do not parse as a JSON object."""
        invalid = self._invalid_tool_calls
        if invalid is None:
            invalid = self._parse_tools()[1]
        return invalid

    @invalid_tool_calls.setter
    def invalid_tool_calls(self, value: list[InvalidToolCall]) -> None:
        self._invalid_tool_calls = value

    def _parse_tools(self) -> tuple[list[ToolCall], list[InvalidToolCall]]:
        chunks = self.tool_call_chunks
        if chunks:
            calls, invalid = parse_tool_call_chunks(chunks)
        else:
            calls, invalid = [], []
        if self._tool_calls is None:
            self._tool_calls = calls
        if self._invalid_tool_calls is None:
            self._invalid_tool_calls = invalid
        return self._tool_calls, self._invalid_tool_calls

    def model_dump(self) -> dict[str, Any]:
        if self._log is not None or self._tcc or self._tool_calls or self._invalid_tool_calls:
            return super().model_dump()
        out = self._dump_common()  # the common case while streaming: no tool pieces
        usage = self.usage_metadata
        out["tool_calls"] = []
        out["invalid_tool_calls"] = []
        out["usage_metadata"] = _plain_copy(usage) if usage is not None else None
        out["tool_call_chunks"] = []
        out["chunk_position"] = self.chunk_position
        return out

    def _detach(self) -> None:
        """Stop sharing the fold's log (before a field is assigned directly)."""
        if self._log is not None:
            self._content = self.content
            self._tcc = self.tool_call_chunks
            self._log = None

    def _own_log(self) -> _Log:
        """The log to append to: the shared one if this chunk owns all of it, else a copy."""
        log = self._log
        if log is not None and log.size == self._len and len(log.tools) == self._ntools:
            return log
        return _Log(self.content, list(self.tool_call_chunks))

    # ------------------------------------------------------------------ merging

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
        tools = other._tcc if other._log is None else other.tool_call_chunks
        if tools:
            log.tools.extend(tools)
        new = object.__new__(type(self))
        new._content = None
        new._log = log
        new._len = log.size
        new._ntools = len(log.tools)
        new._tcc = new._tool_calls = new._invalid_tool_calls = None
        new.id = merge_ids(self.id, other.id)
        new.name = self.name if self.name is not None else other.name
        new.usage_metadata = add_usage(self.usage_metadata, other.usage_metadata)
        left, right = self._additional_kwargs, other._additional_kwargs
        new._additional_kwargs = _merge_optional(left, right) if left or right else None
        left, right = self._response_metadata, other._response_metadata
        new._response_metadata = _merge_optional(left, right) if left or right else None
        position = self.chunk_position
        new.chunk_position = position if position is not None else other.chunk_position
        return new


_new = object.__new__


def text_chunk(text: str, id: str | None) -> AIMessageChunk:
    """``AIMessageChunk(text, id=id)``, built without the keyword-argument call: the one chunk
    a streaming client makes per token (every field set as ``__init__`` sets it).

    Example::

        text_chunk("Hi", "msg_1") == AIMessageChunk("Hi", id="msg_1")  # True
    """
    chunk = _new(AIMessageChunk)
    chunk._content = text
    chunk._log = None
    chunk.id = id
    chunk.name = None
    chunk.usage_metadata = None
    chunk._additional_kwargs = None
    chunk._response_metadata = None
    chunk.chunk_position = None
    chunk._tcc = None
    chunk._tool_calls = None
    chunk._invalid_tool_calls = None
    return chunk
