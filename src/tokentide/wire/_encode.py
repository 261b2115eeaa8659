"""Server-sent events: building frames to send.

Each function returns one complete frame (ending with the blank line that dispatches it) as
UTF-8 bytes, ready to write to a ``text/event-stream`` response. Values that would let a caller
smuggle extra fields or events into the stream (a line break inside ``event`` or ``id``) are
refused with ``ValueError``.

A lone UTF-16 surrogate (which UTF-8 cannot carry; an upstream that split an emoji across two
chunks produces one) is written as its escape ``\\udXXX``: inside JSON data, the usual payload,
that is the same string, still valid JSON.
"""

from __future__ import annotations

import re

__all__ = ["encode_comment", "encode_data", "encode_sse"]

# The decoder treats CRLF, CR and LF alike as line endings, so all three split data lines.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def encode_sse(
    data: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event; multi-line ``data`` becomes several ``data:`` lines.

    A line break in ``data`` (LF, CR or CRLF) reaches the receiver as ``"\\n"``: the format
    cannot carry a CR. ``event`` and ``id`` may not contain CR or LF (and ``id`` no NUL, which a
    receiver would ignore); ``retry`` must be a non-negative number of milliseconds.

    Example::

        encode_sse("a\\nb", event="delta", id="7")
        # b'event: delta\\nid: 7\\ndata: a\\ndata: b\\n\\n'
    """
    lines: list[str] = []
    if event is not None:
        _check_single_line("event", event)
        lines.append(f"event: {event}\n")
    if id is not None:
        _check_single_line("id", id)
        if "\x00" in id:
            raise ValueError(f"SSE id may not contain NUL: {id!r}")
        lines.append(f"id: {id}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"SSE retry must be a non-negative int, got {retry!r}")
        lines.append(f"retry: {retry}\n")
    for line in _LINE_BREAK.split(data):
        lines.append(f"data: {line}\n")
    lines.append("\n")
    return "".join(lines).encode("utf-8", "backslashreplace")


def encode_data(data: str) -> bytes:
    """Encode the common frame ``data: <data>\\n\\n`` (for example one JSON chunk).

    This is the fast path for a single-line payload such as compact ``json.dumps`` output; a
    payload with line breaks falls back to :func:`encode_sse`, so the frame is always correct.

    Example::

        encode_data('{"x": 1}')  # b'data: {"x": 1}\\n\\n'
    """
    if "\n" in data or "\r" in data:
        return encode_sse(data)
    return f"data: {data}\n\n".encode("utf-8", "backslashreplace")


def encode_comment(text: str = "ping") -> bytes:
    """Encode a comment frame, such as the keep-alive ``b": ping\\n\\n"``.

    Receivers ignore comments; they keep idle connections and proxies from timing out.
    Multi-line text becomes several comment lines; an empty text gives ``b":\\n\\n"``.
    """
    if not text:
        return b":\n\n"
    return "".join(f": {line}\n" for line in _LINE_BREAK.split(text)).encode("utf-8") + b"\n"


def _check_single_line(field: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"SSE {field} may not contain a line break: {value!r}")
