"""Sans-I/O fast path of the streaming protocol parsers: text deltas read from raw SSE blocks.

Nearly every event of a streamed answer is one text delta, written by the server in one fixed
shape (e.g. Anthropic's ``event: content_block_delta`` +
``data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}``).
`feed_text_blocks` matches each raw block of the decoder (see `SSEDecoder.blocks`) against a
compiled pattern of that exact shape, and for a match builds the chunk straight from the text
(its escapes undone by the C string scanner ``json.loads`` uses): no `ServerSentEvent`, no
dict. Any other block (another event, another key order or spacing, a comment, an ``id:``
line, bad JSON) is decoded and parsed in full, in order, so the result is always exactly that
of ``parser.feed(decoder.decode(blocks))``.

A pattern must match only blocks whose full parse is a text delta with the text of its group
``text``: a JSON string's characters (`JSON_STRING` below: no quote, backslash or control
character except as an escape json accepts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from re import Pattern
from typing import Any, Protocol

from tokentide.messages import AIMessageChunk
from tokentide.messages._ai import text_chunk
from tokentide.wire import ServerSentEvent, SSEDecoder

from ._errors import StreamFailure

__all__ = ["JSON_STRING", "TextParser", "TextShape", "feed_text_blocks"]

#: The characters of a JSON string between its quotes, as ``json.loads`` (strict) accepts them.
JSON_STRING = rb'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'

# The C scanner json.loads uses for strings (typeshed does not list it).
_scanstring: Any = getattr(json.decoder, "scanstring")  # noqa: B009


class TextParser(Protocol):
    """A protocol parser with a full path (``feed``) and the state the fast path needs."""

    _id: str | None
    done: bool
    failure: StreamFailure | None

    def feed(self, events: list[ServerSentEvent]) -> list[AIMessageChunk]: ...


class TextShape:
    """The shape of one protocol's text-delta block.

    ``pattern`` matches the whole block, the text's characters as group 1 (see `JSON_STRING`).
    ``head`` and ``tail``, optional, are a quicker test of the most common form: the block
    starts with the ASCII bytes ``head`` (through the text's opening quote) and the string's
    closing quote is followed by exactly ``tail``; the string is then read (and checked) by
    the C scanner of ``json.loads``. A block of neither form is parsed in full.
    """

    __slots__ = ("head", "pattern", "size", "tail")

    def __init__(self, pattern: Pattern[bytes], head: bytes = b"", tail: str = "") -> None:
        self.pattern = pattern
        self.head = head
        self.size = len(head)
        self.tail = tail


def feed_text_blocks(
    parser: TextParser, shape: TextShape, blocks: Sequence[bytes], decoder: SSEDecoder
) -> list[AIMessageChunk]:
    """The chunks of ``blocks``: text deltas of ``shape`` read here, the rest (in order, in
    runs) through ``decoder.decode`` and ``parser.feed``; stops where ``feed`` fails or ends
    the stream."""
    out: list[AIMessageChunk] = []
    append = out.append
    match = shape.pattern.fullmatch
    head, size, tail = shape.head, shape.size, shape.tail
    scan = _scanstring
    msg_id = parser._id
    others: list[bytes] = []
    text: str | None
    for block in blocks:
        if size and block[:size] == head:
            line = block.decode("utf-8", "replace")  # ASCII head: same offsets as the bytes
            try:
                text, end = scan(line, size, True)
            except ValueError:
                text = None
            else:
                if line[end:] != tail:
                    text = None
        else:
            found = match(block)
            if found is None:
                text = None
            else:
                raw = found[1]
                if b"\\" in raw:
                    text = _unescape(block, found.start(1))
                else:
                    text = raw.decode("utf-8", "replace")
        if text is None:
            others.append(block)
            continue
        if others:
            out += parser.feed(decoder.decode(others))
            if parser.failure is not None or parser.done:
                return out
            others = []
            msg_id = parser._id
        if text:
            append(text_chunk(text, msg_id))
    if others:
        out += parser.feed(decoder.decode(others))
    return out


def _unescape(block: bytes, start: int) -> str:
    """The JSON string starting at ``block[start]`` (past its opening quote), unescaped."""
    text: str = _scanstring(block[start:].decode("utf-8", "replace"), 0, True)[0]
    return text
