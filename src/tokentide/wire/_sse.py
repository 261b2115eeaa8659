"""Server-sent events: a sans-I/O decoder for the ``text/event-stream`` format.

The decoder follows the WHATWG HTML "event stream interpretation" rules. It is fed raw bytes as
they come off the network and returns the events completed by those bytes. Nothing here reads a
socket or awaits anything, so the same object serves sync and async HTTP clients alike.

Speed matters here: this runs once per token of a streamed LLM answer. The decoder therefore
works on bytes, splits whole blocks of lines (``b"...\\n\\n"``) at once with C-level ``bytes``
methods, decodes UTF-8 once per event rather than per line, and has a fast path for the
overwhelmingly common block ``data: {...}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder", "SSEEventTooLarge", "ServerSentEvent"]

DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
"""Largest event (its lines up to the blank line that ends it) a decoder buffers by default."""


class SSEEventTooLarge(ValueError):
    """An event (or one line of it) grew past the decoder's ``max_event_bytes`` before it ended:
    the stream is not one this client will buffer (a runaway or hostile server)."""


_BOM = b"\xef\xbb\xbf"
_COLON = 58  # ord(":")
_LF = 10
_CR = 13


class ServerSentEvent:
    """One dispatched server-sent event.

    ``event`` is the event type (``"message"`` unless the stream named one), ``data`` the data
    lines joined with ``"\\n"``, ``id`` the last event ID in force when the event was dispatched
    (``None`` if the stream never sent one), and ``retry`` the reconnection delay in milliseconds
    given inside this event's block, if any.

    Instances are treated as immutable: the decoder never changes one after returning it.

    Example::

        event = ServerSentEvent(data='{"x": 1}')
        assert event.event == "message" and event.json() == {"x": 1}
    """

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self,
        event: str = "message",
        data: str = "",
        id: str | None = None,
        retry: int | None = None,
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def json(self) -> Any:
        """Decode ``data`` as JSON (raises ``json.JSONDecodeError``, a ``ValueError``)."""
        return json.loads(self.data)

    def _key(self) -> tuple[str, str, str | None, int | None]:
        return (self.event, self.data, self.id, self.retry)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = [f"event={self.event!r}", f"data={self.data!r}"]
        if self.id is not None:
            parts.append(f"id={self.id!r}")
        if self.retry is not None:
            parts.append(f"retry={self.retry!r}")
        return f"ServerSentEvent({', '.join(parts)})"


def _has_fields(blocks: list[bytes]) -> bool:
    """Whether any of ``blocks`` holds a line other than a comment or a blank line."""
    for block in blocks:
        if block and block[0] != _COLON and block[0] != _LF:
            return True
        for line in block.split(b"\n"):
            if line and line[0] != _COLON:
                return True
    return False


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder: bytes in, :class:`ServerSentEvent` out.

    Call :meth:`feed` with each piece of the response body as it arrives, in order, and
    :meth:`flush` once at the end of the stream. Pieces may be split anywhere: inside a line,
    between the CR and LF of a CRLF, inside a UTF-8 sequence or inside the leading BOM.

    State the caller may read (never write):

    - ``last_event_id``: the last event ID string (``None`` until the stream sets one); send it
      back as ``Last-Event-ID`` when reconnecting.
    - ``retry``: the reconnection delay in milliseconds last set by the stream, or ``None``.
    - ``comments_seen``: how many comment lines (``": ping"``) were read so far.
    - ``progressed``: after each :meth:`feed`, ``True`` if that piece carried anything other
      than comments and blank lines (a dispatched event, or part of a field line such as the
      first bytes of a long ``data:`` line). Keep-alive comments leave it ``False``, so an idle
      timer reset on ``progressed`` is not fooled by a server that only sends heartbeats.

    ``max_event_bytes`` bounds what the decoder buffers for one event that has not ended yet
    (``None``: no bound); past it, :meth:`feed` raises `SSEEventTooLarge`, so a server sending
    one endless ``data:`` line costs at most that much memory.

    Example::

        decoder = SSEDecoder()
        for piece in (b"data: hel", b"lo\\n\\n: ping\\n\\n"):
            for event in decoder.feed(piece):
                print(event.data)        # -> hello
        decoder.flush()
    """

    __slots__ = (
        "_head",
        "_line_head",
        "_max",
        "_parts",
        "_pending",
        "_pending_cr",
        "_started",
        "comments_seen",
        "last_event_id",
        "progressed",
        "retry",
    )

    def __init__(self, max_event_bytes: int | None = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes if max_event_bytes is not None else -1
        self._pending = 0  # bytes in ``_parts``
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self.comments_seen = 0
        self.progressed = False
        # Bytes received but not yet part of a complete block (kept as pieces, joined once).
        self._parts: list[bytes] = []
        # First byte of the unterminated line at the end of ``_parts`` (-1: at a line start).
        self._line_head = -1
        self._started = False  # past the (optional) leading BOM
        self._head = b""  # the first bytes while they could still be a split BOM
        self._pending_cr = False  # the previous piece ended with CR: drop a leading LF

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume the next piece of the stream; return the events it completed, in order."""
        if (
            chunk[:6] == b"data: "
            and not self._parts
            and self._started
            and not self._pending_cr
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1] == _LF
            and b"\r" not in chunk
        ):  # exactly one "data: ..." event: the typical network read
            self._line_head = -1
            self.progressed = True
            data = chunk[6:-2].decode("utf-8", "replace")
            return [ServerSentEvent("message", data, self.last_event_id)]
        blocks = self.blocks(chunk)
        return self._decode_blocks(blocks)[0] if blocks else []

    def blocks(self, chunk: bytes) -> list[bytes]:
        """Consume the next piece of the stream; return the raw blocks it completed, in order.

        A block is the bytes of one event's lines (BOM stripped, line ends made ``\\n``)
        without the blank line that ended it. Turn blocks into events with :meth:`decode`,
        in the same order and before the next piece: ``decode(blocks(piece))`` is
        ``feed(piece)``. A client that recognizes its protocol's common blocks itself may
        decode only the others (``progressed`` is already set).
        """
        if not self._started:
            chunk = self._strip_bom(chunk)
        if self._pending_cr and chunk:
            self._pending_cr = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        if not chunk:
            self.progressed = False
            return []
        if b"\r" in chunk:
            self._pending_cr = chunk[-1] == _CR
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = self._parts
        if parts:
            if b"\n\n" not in chunk and not (chunk[0] == _LF and parts[-1][-1] == _LF):
                parts.append(chunk)
                self._pending += len(chunk)
                if self._pending > self._max >= 0:
                    self._too_large()
                self.progressed = self._scan_partial(chunk)
                return []
            parts.append(chunk)
            text = b"".join(parts)
            parts.clear()
        else:
            text = chunk
        blocks = text.split(b"\n\n")
        rest = blocks.pop()
        if not blocks:
            parts.append(text)
            self._pending = len(text)
            if self._pending > self._max >= 0:
                self._too_large()
            self.progressed = self._scan_partial(chunk)
            return []
        self._line_head = -1
        self._pending = len(rest)
        fields = _has_fields(blocks)
        if rest:
            if self._pending > self._max >= 0:
                self._too_large()
            parts.append(rest)
            fields = self._scan_partial(rest) or fields
        self.progressed = fields
        return blocks

    def decode(self, blocks: list[bytes]) -> list[ServerSentEvent]:
        """The events of complete ``blocks`` from :meth:`blocks` (applying their ``id:`` and
        ``retry:`` fields and counting their comments)."""
        return self._decode_blocks(blocks)[0]

    def flush(self, *, strict: bool = True) -> list[ServerSentEvent]:
        """End the stream; return the events that the end of the stream completes.

        Per the WHATWG rules an event whose block was not closed by a blank line is discarded
        (``strict=True``, the default), so the result is empty; complete ``retry:`` lines in
        that tail still take effect. Pass ``strict=False`` to dispatch an unterminated
        trailing event as if the blank line had arrived, for servers known to omit it.
        The decoder is reset to the start-of-stream state (``last_event_id``, ``retry`` and
        ``comments_seen`` are kept).
        """
        tail = self._head + b"".join(self._parts)
        self._parts = []
        self._pending = 0
        self._line_head = -1
        self._started = False
        self._head = b""
        self._pending_cr = False
        self.progressed = False
        if not tail:
            return []
        if strict:
            end = tail.rfind(b"\n")
            for line in tail[:end].split(b"\n") if end >= 0 else ():
                if line[:6] == b"retry:":
                    value = line[6:].removeprefix(b" ")
                    if value.isdigit() and len(value) < 19:
                        self.retry = int(value)
            return []
        events, _ = self._decode_blocks([tail.rstrip(b"\n")])
        return events

    # ----------------------------------------------------------------------------- internals

    def _too_large(self) -> None:
        self._parts.clear()
        self._pending = 0
        raise SSEEventTooLarge(
            f"a server-sent event grew past {self._max} bytes without ending "
            "(max_event_bytes); the stream was abandoned"
        )

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._head + chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head  # could still become a BOM: wait for more bytes
            return b""
        self._started = True
        self._head = b""
        return head[3:] if head.startswith(_BOM) else head

    def _scan_partial(self, chunk: bytes) -> bool:
        """Say whether ``chunk`` (appended to the pending tail) holds bytes of a field line.

        Tracks the first byte of the line in progress across calls, so each byte is looked at
        once however finely the stream is split.
        """
        head = self._line_head
        segments = chunk.split(b"\n")
        progressed = False
        for index, segment in enumerate(segments):
            first = head if index == 0 and head >= 0 else (segment[0] if segment else -1)
            if first >= 0 and first != _COLON:
                progressed = True
            head = first
        last = segments[-1]
        self._line_head = head if (last or len(segments) == 1) else -1
        return progressed

    def _decode_blocks(self, blocks: list[bytes]) -> tuple[list[ServerSentEvent], bool]:
        """Decode complete blocks (each was followed by a blank line in the stream)."""
        events: list[ServerSentEvent] = []
        append = events.append
        fields = False
        event_id = self.last_event_id
        make = ServerSentEvent
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:  # the common case
                append(make("message", block[6:].decode("utf-8", "replace"), event_id))
            elif (  # "event: <name>" + one "data: " line (Anthropic, OpenAI Responses)
                block[:7] == b"event: "
                and block.count(b"\n") == 1
                and block[(nl := block.index(b"\n")) + 1 : nl + 7] == b"data: "
            ):
                name = block[7:nl].decode("utf-8", "replace") or "message"
                append(make(name, block[nl + 7 :].decode("utf-8", "replace"), event_id))
            else:
                fields = self._decode_block(block, append) or fields
                event_id = self.last_event_id
        return events, fields

    def _decode_block(self, block: bytes, append: Callable[[ServerSentEvent], None]) -> bool:
        """Process the lines of one block by the full rules; return whether it had fields."""
        data: list[bytes] = []
        event_type = b""
        retry: int | None = None
        fields = False
        for line in block.split(b"\n"):
            if not line:  # a blank line inside the block: dispatch (see "\n\n\n" splitting)
                if data:
                    append(self._make_event(event_type, data, retry))
                data, event_type, retry = [], b"", None
                continue
            if line[0] == _COLON:
                self.comments_seen += 1
                continue
            fields = True
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event_type = value
            elif name == b"id":
                if b"\x00" not in value:
                    self.last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit() and len(value) < 19:
                self.retry = retry = int(value)
        if data:
            append(self._make_event(event_type, data, retry))
        return fields

    def _make_event(
        self, event_type: bytes, data: list[bytes], retry: int | None
    ) -> ServerSentEvent:
        return ServerSentEvent(
            event_type.decode("utf-8", "replace") if event_type else "message",
            b"\n".join(data).decode("utf-8", "replace"),
            self.last_event_id,
            retry,
        )
