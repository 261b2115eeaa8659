"""encode_sse / encode_data / encode_comment: correct frames that decode back to the same events."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokentide.wire import ServerSentEvent, SSEDecoder, encode_comment, encode_data, encode_sse

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
SINGLE_LINE = TEXT.filter(lambda s: "\n" not in s and "\r" not in s)


def decode(frame: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(frame)
    assert decoder.flush() == []
    return events


def test_simple_frames() -> None:
    assert encode_sse("hi") == b"data: hi\n\n"
    assert encode_sse("a\nb", event="delta", id="7", retry=3000) == (
        b"event: delta\nid: 7\nretry: 3000\ndata: a\ndata: b\n\n"
    )
    assert encode_sse("") == b"data: \n\n"
    assert encode_sse("x\r\ny\rz") == b"data: x\ndata: y\ndata: z\n\n"
    assert encode_data('{"a": 1}') == b'data: {"a": 1}\n\n'
    assert encode_data("\ud55c") == "data: \ud55c\n\n".encode()
    assert encode_data("a\nb") == encode_sse("a\nb")
    assert encode_comment() == b": ping\n\n"
    assert encode_comment("") == b":\n\n"
    assert encode_comment("two\nlines") == b": two\n: lines\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\n"])
def test_line_breaks_in_event_or_id_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_sse("x", event=bad)
    with pytest.raises(ValueError, match="line break"):
        encode_sse("x", id=bad)


@pytest.mark.parametrize("retry", [-1, True, 1.5, "10"])
def test_bad_retry_is_refused(retry: object) -> None:
    with pytest.raises(ValueError, match="retry"):
        encode_sse("x", retry=retry)  # type: ignore[arg-type]


def test_nul_in_id_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode_sse("x", id="a\x00b")


def test_comment_decodes_to_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(encode_comment() + encode_comment("a\nb")) == []
    assert decoder.comments_seen == 3
    assert decoder.progressed is False


@given(
    TEXT,
    st.none() | SINGLE_LINE,
    st.none() | SINGLE_LINE.filter(lambda s: "\x00" not in s),
    st.none() | st.integers(0, 10**9),
)
def test_round_trip(data: str, event: str | None, id: str | None, retry: int | None) -> None:
    frame = encode_sse(data, event=event, id=id, retry=retry)
    expected = ServerSentEvent(event or "message", re.sub(r"\r\n|\r", "\n", data), id, retry)
    assert decode(frame) == [expected]


@given(st.lists(TEXT, max_size=10))
def test_round_trip_many_data_frames(payloads: list[str]) -> None:
    stream = b"".join(encode_data(p) for p in payloads)
    assert [e.data for e in decode(stream)] == [re.sub(r"\r\n|\r", "\n", p) for p in payloads]
