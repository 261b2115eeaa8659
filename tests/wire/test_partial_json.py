"""parse_partial_json / PartialJSONParser: best-effort values of JSON text that is still arriving."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokentide.wire import NO_CHANGE, PartialJSONParser, parse_partial_json


def is_partial(part: Any, final: Any) -> bool:
    """Whether ``part`` is what a prefix of ``final``'s text may show (see the module docs)."""
    if isinstance(final, dict):
        if not isinstance(part, dict):
            return False
        keys = list(part)
        if keys != list(final)[: len(keys)]:
            return False
        done = all(part[k] == final[k] for k in keys[:-1])
        return done and (not keys or is_partial(part[keys[-1]], final[keys[-1]]))
    if isinstance(final, list):
        if not isinstance(part, list) or len(part) > len(final):
            return False
        if not part:
            return True
        done = part[:-1] == final[: len(part) - 1]
        return done and is_partial(part[-1], final[len(part) - 1])
    if isinstance(final, str):
        return isinstance(part, str) and final.startswith(part)
    return type(part) is type(final) and part == final


def feed_all(pieces: list[str]) -> tuple[list[Any], Any]:
    """Feed ``pieces``; return the snapshots the parser reported and the final value."""
    parser = PartialJSONParser()
    snapshots = []
    for piece in pieces:
        value = parser.feed(piece)
        if value is not NO_CHANGE:
            snapshots.append(value)
    return snapshots, parser.close()


DOCUMENTS = [
    '{"a": 1, "b": "hello", "c": [true, false, null], "d": {"e": -1.5e+3}}',
    "[1, -0, 0.25, 1E5, 2e-2, -12.5E+10, 123456789012345678901234567890]",
    '"a plain string with \\"quotes\\" and \\\\ slashes \\/ \\b\\f\\n\\r\\t"',
    '{"emoji": "\\ud83d\\ude00 \\ud83c\\udf0a", "lone": "\\ud800x", "low": "\\udc00"}',
    '{"korean": "안녕하세요", "raw": "🎉🌊", "esc": "\\uac00\\u00e9\\u0041"}',
    ' \n\t{ "sp" :\r\n [ 1 ,\t2 , { } , [ ] ] , "x" : { "y" : [ [ [ ] ] ] } } \n',
    '[[[[["deep"]]]], {"a": {"b": {"c": {}}}}]',
    '{"a": "\\ud83d\\ud83d\\ude00", "b": "\\u0000"}',
    '{"": "", "k": "", "n": [""]}',
    "true",
    "null",
    '"top"',
    "[]",
    "{}",
    '{"dup": 1, "dup": 2}',
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_prefix_is_consistent(document: str) -> None:
    final = json.loads(document)
    for end in range(len(document) + 1):
        prefix = document[:end]
        value = parse_partial_json(prefix)
        if '"dup"' not in document:
            assert value is None or is_partial(value, final), (prefix, value)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_split_in_two_at_every_offset(document: str) -> None:
    expected = json.loads(document)
    for cut in range(len(document) + 1):
        snapshots, final = feed_all([document[:cut], document[cut:]])
        assert final == expected
        if isinstance(expected, (dict, list)) and '"dup"' not in document:
            assert snapshots[-1] == expected
            assert all(is_partial(s, expected) for s in snapshots)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_char_by_char(document: str) -> None:
    expected = json.loads(document)
    snapshots, final = feed_all(list(document))
    assert final == expected
    if '"dup"' not in document:
        assert all(is_partial(s, expected) for s in snapshots)
        for before, after in pairwise(snapshots):
            assert before != after  # a snapshot is reported only when the value changed
            assert is_partial(before, after)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ('{"a": 1, "b": "hel', {"a": 1, "b": "hel"}),
        ('{"a": tr', {}),
        ('{"a": true', {"a": True}),
        ('{"a": 1, "b', {"a": 1}),
        ('{"a": 1, "b"', {"a": 1}),
        ('{"a": 1, "b":', {"a": 1}),
        ('{"a": 1, "b": ', {"a": 1}),
        ('{"a": "', {"a": ""}),
        ('{"a": [', {"a": []}),
        ('{"a": {', {"a": {}}),
        ('{"a": 12', {}),
        ('{"a": 12 ', {"a": 12}),
        ('{"a": -', {}),
        ('{"a": 1.', {}),
        ("[1, 2", [1]),
        ("[1, 2,", [1, 2]),
        ('[1, "ab', [1, "ab"]),
        ("[1, ", [1]),
        ("[tr", []),
        ("[null, fals", [None]),
        ('"ab\\', "ab"),
        ('"ab\\u00', "ab"),
        ('"ab\\u00e9', "abé"),
        ('"\\ud83d', ""),
        ('"\\ud83d\\ude', ""),
        ('"\\ud83d\\ude00', "😀"),
        ('"\\ud83dz', "\ud83dz"),
        ("", None),
        ("   ", None),
        ("tr", None),
        ("12", 12),
        ("1.5e3", 1500.0),
        ("[", []),
        ('{"a": [{"b": [1, {"c": "x', {"a": [{"b": [1, {"c": "x"}]}]}),
    ],
)
def test_documented_prefix_values(prefix: str, expected: Any) -> None:
    value = parse_partial_json(prefix)
    assert value == expected
    assert type(value) is type(expected)


def test_has_value_tells_null_from_nothing() -> None:
    parser = PartialJSONParser()
    parser.advance("  nu")
    assert not parser.has_value and parser.snapshot() is None
    parser.advance("ll")
    assert parser.has_value and parser.snapshot() is None
    assert parser.close() is None


INVALID = [
    '{"a" 1}',
    "[1,]",
    '{"a": 1,}',
    "[01]",
    "[1.]",
    "[.5]",
    "[-]",
    "[1e]",
    "[1 2]",
    "[+1]",
    '"bad \\x escape"',
    '"bad \\u12G4"',
    '{"a": 1}}',
    '{"a": 1} x',
    "tru e",
    "nul",
    "{1: 2}",
    "{'a': 1}",
    "NaN",
    "[Infinity]",
    "[-Infinity]",
    '"raw \n newline"',
    "]",
    '{"a": ]',
    "[}",
    "{]",
    '{"a": 1 "b": 2}',
    "",
    "[",
    '"unterminated',
]


@pytest.mark.parametrize("document", INVALID)
def test_invalid_documents_are_refused(document: str) -> None:
    for pieces in ([document], list(document)):
        with pytest.raises(ValueError):
            feed_all(pieces)


@pytest.mark.parametrize(
    "document", ['{"a" 1', "[1,]", '{"a": 1,}', "[1 2", "{1", "[}", '"\\x', '"\\u12G', "tx"]
)
def test_invalid_text_is_refused_early(document: str) -> None:
    parser = PartialJSONParser()
    with pytest.raises(ValueError, match="invalid JSON at character"):
        parser.advance(document)
    with pytest.raises(ValueError):
        parser.advance("more")
    with pytest.raises(ValueError):
        parse_partial_json(document)


def test_close_error_quotes_start_of_text() -> None:
    parser = PartialJSONParser()
    parser.advance('{"answer": "unfinished')
    with pytest.raises(ValueError, match=r"\{\"answer\": \"unfinished"):
        parser.close()


def test_lax_mode_allows_control_characters() -> None:
    assert parse_partial_json('{"a": "x\ny', strict=False) == {"a": "x\ny"}
    parser = PartialJSONParser(strict=False)
    parser.advance('"a\tb"')
    assert parser.close() == "a\tb"
    with pytest.raises(ValueError):
        parse_partial_json('{"a": "x\ny')


def test_feed_reports_changes_only() -> None:
    parser = PartialJSONParser()
    assert parser.feed("  ") is NO_CHANGE
    assert parser.feed("{") == {}
    assert parser.feed('"ke') is NO_CHANGE
    assert parser.feed('y": ') is NO_CHANGE
    assert parser.feed('"v') == {"key": "v"}
    assert parser.feed("\\u00") is NO_CHANGE
    assert parser.feed("e9") == {"key": "vé"}
    assert parser.feed('", "n": 4') is NO_CHANGE
    assert parser.feed("2}") == {"key": "vé", "n": 42}
    assert parser.feed(" \n") is NO_CHANGE
    assert not NO_CHANGE
    assert repr(NO_CHANGE) == "NO_CHANGE"


def test_snapshots_are_not_mutated_later_and_share_finished_parts() -> None:
    parser = PartialJSONParser()
    first = parser.feed('{"done": {"x": [1, 2]}, "items": ["a"')
    assert first == {"done": {"x": [1, 2]}, "items": ["a"]}
    second = parser.feed(', "b", "c')
    assert first == {"done": {"x": [1, 2]}, "items": ["a"]}  # unchanged
    assert second == {"done": {"x": [1, 2]}, "items": ["a", "b", "c"]}
    assert second["done"] is first["done"]  # finished values are shared, not copied
    version = parser.version
    assert parser.snapshot() is second  # no change: the same snapshot, no copy
    assert parser.version == version


def count_consumed(document: str, piece: int) -> int:
    """Feed ``document`` in pieces of ``piece`` chars; return how many chars were scanned."""
    consumed = 0

    class CountingParser(PartialJSONParser):
        __slots__ = ()

        def _consume(self, text: str) -> None:
            nonlocal consumed
            consumed += len(text)
            super()._consume(text)

    parser = CountingParser()
    for start in range(0, len(document), piece):
        parser.advance(document[start : start + piece])
    assert parser.close() == json.loads(document)
    return consumed


@pytest.mark.parametrize("piece", [1, 3, 16])
def test_work_is_linear_in_input(piece: int) -> None:
    """Each character is scanned once, plus a re-read (at most 5 chars) of a cut escape/literal."""

    def document(n: int) -> str:
        item = {"text": "word \\ \u00e9 \ud83d\ude00 " * 3, "ok": True, "n": [1.5, None]}
        return json.dumps({"items": [item] * n})

    small, large = document(200), document(400)
    feeds = -(-len(large) // piece)
    assert count_consumed(large, piece) <= len(large) + 5 * feeds
    assert count_consumed(large, piece) <= 2.05 * count_consumed(small, piece)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(
    JSON_VALUES,
    st.sampled_from([None, 0, 2]),
    st.booleans(),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_random_documents_random_pieces(
    value: Any, indent: int | None, ascii_only: bool, cuts: list[int]
) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    offsets = sorted({min(c, len(text)) for c in cuts})
    bounds = [0, *offsets, len(text)]
    pieces = [text[a:b] for a, b in pairwise(bounds)]
    expected = json.loads(text)  # floats such as -0.0 compare equal to value
    snapshots, final = feed_all(pieces)
    assert final == expected
    for snapshot in snapshots:
        assert is_partial(snapshot, expected)
    if isinstance(expected, (dict, list)):
        assert snapshots[-1] == expected
