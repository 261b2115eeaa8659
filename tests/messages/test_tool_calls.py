from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tokentide.messages import merge_tool_call_chunks, parse_tool_call_chunks, tool_call_chunk

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_every_prefix_of_object_args_is_a_valid_tool_call(value: dict[str, Any]) -> None:
    import json

    text = json.dumps(value)
    for end in range(1, len(text) + 1):
        calls, invalid = parse_tool_call_chunks(
            [tool_call_chunk(name="f", args=text[:end], index=0)]
        )
        assert invalid == [] and len(calls) == 1
    assert calls[0]["args"] == value


def test_merge_keeps_inputs_and_empty_args() -> None:
    first = tool_call_chunk(name="f", args="", id="c", index=0)
    merged = merge_tool_call_chunks([first, tool_call_chunk(args="", index=0)])
    assert merged == [tool_call_chunk(name="f", args="", id="c", index=0)]
    assert first == tool_call_chunk(name="f", args="", id="c", index=0)
    assert merge_tool_call_chunks([tool_call_chunk(name="f", index=3)])[0]["args"] is None


def test_later_piece_fills_missing_name_and_id() -> None:
    merged = merge_tool_call_chunks(
        [
            tool_call_chunk(args='{"a"', index=0),
            tool_call_chunk(name="f", id="c", args=": 1}", index=0),
        ]
    )
    assert merged == [tool_call_chunk(name="f", args='{"a": 1}', id="c", index=0)]


def test_same_id_without_index_joins() -> None:
    merged = merge_tool_call_chunks(
        [
            tool_call_chunk(name="f", args="{", id="c1"),
            tool_call_chunk(name="g", args="{", id="c2"),
            tool_call_chunk(args="}", id="c1"),
        ]
    )
    assert [(c["id"], c["args"]) for c in merged] == [("c1", "{}"), ("c2", "{")]


def test_parse_tool_call_chunks() -> None:
    calls, invalid = parse_tool_call_chunks(
        [
            tool_call_chunk(name="f", args='{"a": [1, 2], "b": "x', id="c1", index=0),
            tool_call_chunk(name=None, args=None, id="c2", index=1),
            tool_call_chunk(name="h", args='"str"', id="c3", index=2),
        ]
    )
    assert calls == [
        {"name": "f", "args": {"a": [1, 2], "b": "x"}, "id": "c1", "type": "tool_call"},
        {"name": "", "args": {}, "id": "c2", "type": "tool_call"},
    ]
    assert invalid == [
        {"name": "h", "args": '"str"', "id": "c3", "error": None, "type": "invalid_tool_call"}
    ]


def test_unparseable_args_are_invalid() -> None:
    calls, invalid = parse_tool_call_chunks([tool_call_chunk(name="f", args="}{", id="c", index=0)])
    assert calls == [] and invalid[0]["args"] == "}{"


def test_parallel_calls_at_the_same_index_never_mix() -> None:
    """langchain #34807 / #35281: providers that send every call at index 0 with its own id."""
    from tokentide.messages import AIMessageChunk

    pieces = [
        tool_call_chunk(name="get_weather", args='{"city":', id="c1", index=0),
        tool_call_chunk(args=' "Paris"}', index=0),
        tool_call_chunk(name="get_time", args='{"tz":', id="c2", index=0),
        tool_call_chunk(args=' "CET"}', index=0),
        tool_call_chunk(args="", id="c2", index=0),  # same id again: same call
    ]
    merged = merge_tool_call_chunks(pieces)
    assert [(c["name"], c["id"], c["args"]) for c in merged] == [
        ("get_weather", "c1", '{"city": "Paris"}'),
        ("get_time", "c2", '{"tz": "CET"}'),
    ]
    acc = AIMessageChunk("")
    for piece in pieces:
        acc = acc + AIMessageChunk("", tool_call_chunks=[piece])
    assert acc.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"},
        {"name": "get_time", "args": {"tz": "CET"}, "id": "c2", "type": "tool_call"},
    ]


def test_index_none_pieces_follow_ids_then_the_last_call() -> None:
    merged = merge_tool_call_chunks(
        [
            tool_call_chunk(name="a", args='{"x"', id="c1"),
            tool_call_chunk(args=": 1}"),  # no index, id or name: continues the last call
            tool_call_chunk(name="b", args="{}", id="c2"),
            tool_call_chunk(name="c", args="{}"),  # a name without id: a new call
        ]
    )
    assert [(c["name"], c["args"]) for c in merged] == [
        ("a", '{"x": 1}'),
        ("b", "{}"),
        ("c", "{}"),
    ]
