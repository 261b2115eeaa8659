"""Tool calls: the finished, invalid and streaming (chunk) shapes, and how chunks merge."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict

from tokentide.wire import parse_partial_json

__all__ = [
    "InvalidToolCall",
    "ToolCall",
    "ToolCallChunk",
    "invalid_tool_call",
    "chunks_from_tool_calls",
    "merge_tool_call_chunks",
    "parse_tool_call_chunks",
    "tool_call",
    "tool_call_chunk",
]


class ToolCall(TypedDict):
    """A finished request from the model to call a tool.

    Example::

        call: ToolCall = {"name": "add", "args": {"a": 1}, "id": "call_1", "type": "tool_call"}
    """

    name: str
    args: dict[str, Any]
    id: str | None
    type: NotRequired[Literal["tool_call"]]


class ToolCallChunk(TypedDict):
    """A streamed piece of a tool call; ``args`` is a fragment of a JSON string.

    Chunks with the same ``index`` belong to the same call.

    Example::

        piece: ToolCallChunk = {"name": None, "args": '{"a": ', "id": None, "index": 0,
                                "type": "tool_call_chunk"}
    """

    name: str | None
    args: str | None
    id: str | None
    index: int | None
    type: NotRequired[Literal["tool_call_chunk"]]


class InvalidToolCall(TypedDict):
    """A tool call whose arguments could not be parsed as a JSON object.

    Example::

        bad: InvalidToolCall = {"name": "add", "args": "{oops", "id": "call_1",
                                "error": None, "type": "invalid_tool_call"}
    """

    name: str | None
    args: str | None
    id: str | None
    error: str | None
    type: NotRequired[Literal["invalid_tool_call"]]


def tool_call(*, name: str, args: dict[str, Any], id: str | None) -> ToolCall:
    """Build a `ToolCall` dict."""
    return {"name": name, "args": args, "id": id, "type": "tool_call"}


def tool_call_chunk(
    *,
    name: str | None = None,
    args: str | None = None,
    id: str | None = None,
    index: int | None = None,
) -> ToolCallChunk:
    """Build a `ToolCallChunk` dict."""
    return {"name": name, "args": args, "id": id, "index": index, "type": "tool_call_chunk"}


def invalid_tool_call(
    *,
    name: str | None = None,
    args: str | None = None,
    id: str | None = None,
    error: str | None = None,
) -> InvalidToolCall:
    """Build an `InvalidToolCall` dict."""
    return {"name": name, "args": args, "id": id, "error": error, "type": "invalid_tool_call"}


def _find_target(
    entry: ToolCallChunk,
    merged: list[ToolCallChunk],
    by_index: dict[int, int],
    by_id: dict[str, int],
    last: int,
) -> int:
    """Position of the merged entry that ``entry`` continues, or -1 for a new call."""
    index = entry.get("index")
    call_id = entry.get("id")
    if index is not None:
        target = by_index.get(index, -1)
        if target >= 0 and call_id is not None:
            known = merged[target]["id"]
            if known is not None and known != call_id:
                return -1  # another call sent at the same index (Bedrock, Ollama, Grok)
        return target
    if call_id is not None:
        return by_id.get(call_id, -1)
    if entry.get("name") is None:
        return last
    return -1


def merge_tool_call_chunks(chunks: Iterable[ToolCallChunk]) -> list[ToolCallChunk]:
    """Merge streamed tool-call pieces into one chunk per call.

    The rule, applied to each piece in order:

    - a piece with an ``index`` joins the call with the same index (or starts it), unless
      both have an ``id`` and the ids differ: then it starts a new call (some providers send
      parallel calls all at index 0), which later id-less pieces at that index continue;
    - a piece without an index joins the call with the same ``id`` if it has an id; a piece
      with neither index, id nor name is the continuation of the call touched last;
      anything else starts a new call.

    ``args`` fragments are concatenated; ``name`` and ``id`` come from whichever piece has them.
    Work is linear in the number of pieces. The input dicts are not modified.

    Example::

        merge_tool_call_chunks([
            tool_call_chunk(name="add", args='{"a"', id="c1", index=0),
            tool_call_chunk(args=": 1}", index=0),
        ])  # [{"name": "add", "args": '{"a": 1}', "id": "c1", "index": 0, ...}]
    """
    if type(chunks) is list and len(chunks) < 2:  # the common case: a call in one piece
        if not chunks:
            return []
        entry = chunks[0]
        fragment = entry.get("args")
        return [
            tool_call_chunk(
                name=entry.get("name"),
                args=fragment if fragment is None or type(fragment) is str else "".join([fragment]),
                id=entry.get("id"),
                index=entry.get("index"),
            )
        ]
    merged: list[ToolCallChunk] = []
    args_parts: list[list[str]] = []
    by_index: dict[int, int] = {}
    by_id: dict[str, int] = {}
    last = -1
    for entry in chunks:
        target = _find_target(entry, merged, by_index, by_id, last)
        if target < 0:
            target = len(merged)
            merged.append(
                tool_call_chunk(
                    name=entry.get("name"), id=entry.get("id"), index=entry.get("index")
                )
            )
            args_parts.append([])
        current = merged[target]
        for key in ("name", "id", "index"):
            if current[key] is None and entry.get(key) is not None:
                current[key] = entry[key]
        fragment = entry.get("args")
        if fragment is not None:
            args_parts[target].append(fragment)
        if current["index"] is not None:
            by_index[current["index"]] = target  # the newest call at this index
        if current["id"] is not None:
            by_id.setdefault(current["id"], target)
        last = target
    for current, parts in zip(merged, args_parts, strict=True):
        current["args"] = "".join(parts) if parts else None
    return merged


def parse_tool_call_chunks(
    chunks: Iterable[ToolCallChunk],
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Turn merged tool-call chunks into tool calls, parsing partial JSON arguments.

    Arguments that are empty become ``{}``; arguments that do not parse (even as a prefix) or
    are not a JSON object make an `InvalidToolCall`.
    """
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for chunk in chunks:
        raw = chunk.get("args")
        try:
            args = parse_partial_json(raw) if raw else {}
        except ValueError:
            args = None
        if isinstance(args, dict):
            calls.append(tool_call(name=chunk.get("name") or "", args=args, id=chunk.get("id")))
        else:
            invalid.append(invalid_tool_call(name=chunk.get("name"), args=raw, id=chunk.get("id")))
    return calls, invalid


def chunks_from_tool_calls(calls: Iterable[ToolCall]) -> list[ToolCallChunk]:
    """Express finished tool calls as tool-call chunks (arguments as a JSON string)."""
    return [
        tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call.get("id"))
        for call in calls
    ]
