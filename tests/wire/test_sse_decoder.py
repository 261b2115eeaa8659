"""SSEDecoder: the WHATWG event-stream rules, whatever the way the bytes are split."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokentide.wire import ServerSentEvent, SSEDecoder

Event = tuple[str, str, "str | None", "int | None"]


def reference_decode(stream: bytes) -> list[Event]:
    """A deliberately plain reading of the WHATWG algorithm, on the whole stream at once."""
    text = stream.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # the text after the last line ending is not a line (yet)
    events: list[Event] = []
    data: list[str] = []
    event_type, last_id, retry = "", None, None
    for line in lines:
        if line == "":
            if data:
                events.append((event_type or "message", "\n".join(data), last_id, retry))
            data, event_type, retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return events


def as_tuples(events: list[ServerSentEvent]) -> list[Event]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


def decode_pieces(pieces: list[bytes]) -> list[Event]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    events.extend(decoder.flush())
    return as_tuples(events)


TRICKY_STREAMS = [
    b"data: hello\n\n",
    b"data: a\r\n\r\ndata: b\r\r",
    b"data: a\rdata: b\r\rdata: c\r\n\r\n",
    b"\xef\xbb\xbfdata: bom\n\n",
    b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n",
    b"data:no-space\ndata:  two-spaces\ndata\n\n",
    b": comment\n\n:\n: another\ndata: after comments\n\n",
    b'event: delta\nid: 7\nretry: 1500\ndata: {"a": 1}\n\n',
    b"id: 1\ndata: x\n\nid: bad\x00id\ndata: y\n\nid\ndata: z\n\n",
    b"retry: 12a\ndata: r\n\nretry: 250\n\n",
    b"data: \xea\xb0\x80\xeb\x82\x98 \xf0\x9f\x98\x80\n\n",
    b"data: line1\ndata: line2\n\n\n\ndata: next\n\n",
    b"event: only-type\n\ndata: unterminated",
    b"data:\n\ndata\n\n",
    b"field-without-colon\nunknown: value\ndata: q\n\n",
    b"\n\n\r\n\r\rdata: late\n\n",
    b"data: a\n\n\ndata: b\n\n\n\n\ndata: c\n\n",
    b"event:\ndata: e\n\n",
    b"data: \xff\xfe invalid utf8\n\n",
    b"data: x\nid: after-data\n\n",
]


@pytest.mark.parametrize("stream", TRICKY_STREAMS)
def test_whole_stream_matches_reference(stream: bytes) -> None:
    assert decode_pieces([stream]) == reference_decode(stream)


@pytest.mark.parametrize("stream", TRICKY_STREAMS)
def test_split_at_every_offset(stream: bytes) -> None:
    expected = reference_decode(stream)
    for cut in range(len(stream) + 1):
        assert decode_pieces([stream[:cut], stream[cut:]]) == expected, cut


@pytest.mark.parametrize("stream", TRICKY_STREAMS)
def test_byte_by_byte(stream: bytes) -> None:
    pieces = [stream[i : i + 1] for i in range(len(stream))]
    assert decode_pieces(pieces) == reference_decode(stream)


FRAGMENTS = st.sampled_from(
    [
        b"data: x",
        b"data:y",
        b"data",
        b"data: \xed\x95\x9c",
        b"\xf0\x9f\x8e\x89",
        b"event: e",
        b"id: 1",
        b"id: \x00",
        b"id",
        b"retry: 30",
        b"retry: x",
        b": c",
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b"\xef\xbb\xbf",
        b" ",
        b"other: v",
    ]
)


# A stream of random fragments, and where to cut it.
STREAM_AND_CUTS = (st.lists(FRAGMENTS, max_size=40), st.lists(st.integers(0, 400), max_size=8))


def split_bounds(fragments: list[bytes], cuts: list[int]) -> tuple[bytes, list[int]]:
    """The stream of ``fragments``, and the bounds of its pieces when cut at ``cuts``."""
    stream = b"".join(fragments)
    offsets = sorted({min(c, len(stream)) for c in cuts})
    return stream, [0, *offsets, len(stream)]


@settings(max_examples=300, deadline=None)
@given(*STREAM_AND_CUTS)
def test_random_streams_random_splits(fragments: list[bytes], cuts: list[int]) -> None:
    stream, bounds = split_bounds(fragments, cuts)
    pieces = [stream[a:b] for a, b in pairwise(bounds)]
    assert decode_pieces(pieces) == reference_decode(stream)


def test_cr_then_lf_in_next_feed_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent(data="a\nb")]
    assert decoder.feed(b"\n") == []  # completes the CRLF begun above: not another blank line
    assert decoder.feed(b"data: c\n\n") == [ServerSentEvent(data="c")]


def test_cr_at_end_of_feed_followed_by_empty_feed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [ServerSentEvent(data="a")]


def test_bom_only_at_very_start() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"\xef\xbb\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n")
    assert [e.data for e in events] == ["a"]  # the second BOM starts an unknown field name


def test_bom_split_across_feeds_and_a_bom_like_prefix() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    assert decoder.feed(b"\xbfdata: a\n\n") == [ServerSentEvent(data="a")]
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.feed(b"data: z\n\n") == []  # "\xef\xbbdata" is not a known field name


def test_multibyte_utf8_split_mid_sequence() -> None:
    payload = "안녕하세요 🌊🎉".encode()
    stream = b"data: " + payload + b"\n\n"
    for cut in range(6, len(stream)):
        decoder = SSEDecoder()
        events = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [e.data for e in events] == ["안녕하세요 🌊🎉"]


def test_fields_and_defaults() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'event: delta\nid: 42\nretry: 900\ndata: {"k": [1]}\n\ndata: next\n\n')
    assert events[0] == ServerSentEvent("delta", '{"k": [1]}', "42", 900)
    assert events[0].json() == {"k": [1]}
    assert events[1] == ServerSentEvent("message", "next", "42", None)  # the id persists
    assert decoder.last_event_id == "42"
    assert decoder.retry == 900


def test_id_with_nul_is_ignored_and_empty_id_resets() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\nid\ndata: c\n\n")
    assert [e.id for e in events] == ["1", "1", ""]
    assert decoder.last_event_id == ""


def test_id_without_data_updates_last_event_id() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 9\n\n") == []
    assert decoder.last_event_id == "9"


def test_retry_digits_only() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 1e3\n\nretry: -5\n\nretry:  7\n\nretry: \n\n")
    assert decoder.retry is None
    decoder.feed(b"retry:250\n\n")
    assert decoder.retry == 250


def test_empty_data_buffer_dispatches_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: x\n\n\n\n: c\n\n") == []
    assert decoder.feed(b"data\n\n") == [ServerSentEvent(data="")]
    assert decoder.feed(b"data:\ndata:\n\n") == [ServerSentEvent(data="\n")]


def test_event_type_resets_after_dispatch() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\n")
    assert [e.event for e in events] == ["a", "message", "message"]


def test_flush_discards_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: done\n") == []
    assert decoder.flush() == []
    decoder = SSEDecoder()
    decoder.feed(b"data: done\nretry: 40\nretry: 50")
    assert decoder.flush() == []
    assert decoder.retry == 40  # a complete retry line takes effect; the cut one does not


def test_flush_lenient_dispatches_unterminated_event() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"event: end\ndata: [DONE]\n")
    assert decoder.flush(strict=False) == [ServerSentEvent("end", "[DONE]")]
    assert decoder.flush(strict=False) == []


def test_decoder_reusable_after_flush() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 3\ndata: partial")
    decoder.flush()
    assert decoder.feed(b"\xef\xbb\xbfdata: again\n\n") == [ServerSentEvent("message", "again")]


@pytest.mark.parametrize(
    ("pieces", "progress"),
    [
        ([b": ping\n\n"], [False]),
        ([b":\n\n", b": keep-alive\n\n"], [False, False]),
        ([b": pi", b"ng\n", b"\n"], [False, False, False]),
        ([b"data: x\n\n"], [True]),
        ([b"data: lo", b"ng", b" line"], [True, True, True]),
        ([b": ping\n\ndata: st"], [True]),
        ([b"da", b"ta: x\n", b"\n"], [True, True, True]),
        ([b": c\n", b"data"], [False, True]),
        ([b"id: 4\n\n"], [True]),
        ([b"\n", b"\r\n"], [False, False]),
    ],
)
def test_progress_excludes_keep_alive_comments(pieces: list[bytes], progress: list[bool]) -> None:
    decoder = SSEDecoder()
    seen = []
    for piece in pieces:
        decoder.feed(piece)
        seen.append(decoder.progressed)
    assert seen == progress


def test_comments_seen_counts_comment_lines() -> None:
    decoder = SSEDecoder()
    decoder.feed(b": a\n:b\n\ndata: x\n: c\n\n")
    assert decoder.comments_seen == 3


def test_many_events_in_one_feed_and_large_event_in_small_pieces() -> None:
    decoder = SSEDecoder()
    stream = b"".join(b"data: %d\n\n" % i for i in range(1000))
    assert [e.data for e in decoder.feed(stream)] == [str(i) for i in range(1000)]
    big = b"data: " + b"x" * 200_000 + b"\n\n"
    events = []
    for i in range(0, len(big), 7):
        events.extend(decoder.feed(big[i : i + 7]))
    assert [len(e.data) for e in events] == [200_000]


def test_event_repr_and_equality() -> None:
    event = ServerSentEvent("e", "d", "1", 5)
    assert repr(event) == "ServerSentEvent(event='e', data='d', id='1', retry=5)"
    assert event == ServerSentEvent("e", "d", "1", 5)
    assert event != ServerSentEvent("e", "d", "1")
    assert hash(event) == hash(ServerSentEvent("e", "d", "1", 5))
    assert ServerSentEvent().event == "message"


def test_single_event_reads_keep_the_last_event_id() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 3\n\n") == []
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("message", "x", "3")]
    assert decoder.progressed
    assert decoder.feed(b"data: y\r\r") == [ServerSentEvent("message", "y", "3")]
    assert decoder.feed(b"\ndata: z\n\n") == [ServerSentEvent("message", "z", "3")]


@settings(max_examples=200, deadline=None)
@given(*STREAM_AND_CUTS)
def test_blocks_then_decode_is_feed(fragments: list[bytes], cuts: list[int]) -> None:
    """``decode(blocks(piece))`` gives the events, ``progressed`` and state of ``feed``."""
    stream, bounds = split_bounds(fragments, cuts)
    fed, split = SSEDecoder(), SSEDecoder()
    for a, b in pairwise(bounds):
        piece = stream[a:b]
        events = fed.feed(piece)
        blocks = split.blocks(piece)
        assert split.progressed == fed.progressed
        assert as_tuples(split.decode(blocks)) == as_tuples(events)
        assert (split.last_event_id, split.retry, split.comments_seen) == (
            fed.last_event_id,
            fed.retry,
            fed.comments_seen,
        )
    assert as_tuples(split.flush(strict=False)) == as_tuples(fed.flush(strict=False))
