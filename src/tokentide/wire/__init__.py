"""Sans-I/O wire formats: server-sent events and streamed JSON.

Everything here takes bytes or text in and gives events or values out; nothing touches a socket
or an event loop, so the same code serves sync and async clients and servers.

- :class:`SSEDecoder` / :class:`ServerSentEvent`: decode a ``text/event-stream`` body.
- :func:`encode_sse`, :func:`encode_data`, :func:`encode_comment`: build SSE frames.
- :class:`PartialJSONParser` / :func:`parse_partial_json`: best-effort values of JSON text
  that is still arriving (structured output, tool-call arguments).
"""

from __future__ import annotations

from ._encode import encode_comment, encode_data, encode_sse
from ._partial_json import NO_CHANGE, PartialJSONParser, parse_partial_json
from ._sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder, SSEEventTooLarge

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "NO_CHANGE",
    "PartialJSONParser",
    "SSEDecoder",
    "SSEEventTooLarge",
    "ServerSentEvent",
    "encode_comment",
    "encode_data",
    "encode_sse",
    "parse_partial_json",
]
