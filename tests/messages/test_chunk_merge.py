from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokentide.messages import (
    AIMessageChunk,
    ChunkAccumulator,
    ToolCall,
    UsageMetadata,
    _ai,
    add_usage,
    merge_dicts,
    merge_message_chunks,
    tool_call,
    tool_call_chunk,
)


def usage(i: int, o: int) -> UsageMetadata:
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


def fold(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    acc = chunks[0]
    for chunk in chunks[1:]:
        acc = acc + chunk
    return acc


def both_ways(chunks: list[AIMessageChunk]) -> list[AIMessageChunk]:
    """The fold with + and the accumulator must agree; return both."""
    return [fold(chunks), merge_message_chunks(chunks)]


# ---------------------------------------------------------------------------- content and ids


def test_content_concatenates() -> None:
    for merged in both_ways([AIMessageChunk("Hel"), AIMessageChunk(""), AIMessageChunk("lo")]):
        assert merged.content == "Hello" and merged.text == "Hello"
        assert type(merged) is AIMessageChunk


def test_operands_are_not_modified() -> None:
    a = AIMessageChunk("a", response_metadata={"x": {"y": 1}})
    b = AIMessageChunk("b", response_metadata={"x": {"z": 2}})
    merged = a + b
    assert merged.response_metadata == {"x": {"y": 1, "z": 2}}
    assert a == AIMessageChunk("a", response_metadata={"x": {"y": 1}})
    assert b == AIMessageChunk("b", response_metadata={"x": {"z": 2}})
    merged.response_metadata["new"] = 1
    assert "new" not in a.response_metadata


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([None, None], None),
        ([None, "a"], "a"),
        (["a", "b"], "a"),
        (["run-1", "chatcmpl-1"], "chatcmpl-1"),
        (["lc_run--1", None, "chatcmpl-1"], "chatcmpl-1"),
        (["chatcmpl-1", "run-1"], "chatcmpl-1"),
        (["run-1", "run-2"], "run-1"),
    ],
)
def test_id_rule(ids: list[str | None], expected: str | None) -> None:
    for merged in both_ways([AIMessageChunk("x", id=i) for i in ids]):
        assert merged.id == expected


def test_name_first_wins_and_position_last_sticks() -> None:
    chunks = [
        AIMessageChunk("a"),
        AIMessageChunk("b", name="bot"),
        AIMessageChunk("", chunk_position="last"),
    ]
    for merged in both_ways(chunks):
        assert merged.name == "bot" and merged.chunk_position == "last"


def test_add_list_of_chunks_and_unsupported_operand() -> None:
    merged = AIMessageChunk("a") + [AIMessageChunk("b"), AIMessageChunk("c")]
    assert merged.content == "abc"
    with pytest.raises(TypeError):
        AIMessageChunk("a") + "b"


def test_merge_of_nothing_is_empty() -> None:
    assert merge_message_chunks([]) == AIMessageChunk("")


# ---------------------------------------------------------------------------- metadata and usage


def test_usage_is_summed() -> None:
    chunks = [
        AIMessageChunk("a"),
        AIMessageChunk("b", usage_metadata=usage(3, 1)),
        AIMessageChunk("c", usage_metadata=usage(0, 2)),
    ]
    for merged in both_ways(chunks):
        assert merged.usage_metadata == usage(3, 3)


def test_add_usage_details_and_none() -> None:
    assert add_usage(None, None) is None
    assert add_usage(usage(1, 1), None) == usage(1, 1)
    left: UsageMetadata = {**usage(1, 2), "input_token_details": {"cache_read": 1}}
    right: UsageMetadata = {
        **usage(1, 1),
        "input_token_details": {"cache_read": 2, "audio": 1},
        "output_token_details": {"reasoning": 4},
    }
    assert add_usage(left, right) == {
        **usage(2, 3),
        "input_token_details": {"cache_read": 3, "audio": 1},
        "output_token_details": {"reasoning": 4},
    }
    assert left == {**usage(1, 2), "input_token_details": {"cache_read": 1}}


def test_metadata_merge_rules() -> None:
    chunks = [
        AIMessageChunk("a", response_metadata={"model_name": "m", "finish_reason": None}),
        AIMessageChunk("b", response_metadata={"model_name": "", "logprobs": {"content": [1]}}),
        AIMessageChunk(
            "c", response_metadata={"finish_reason": "stop", "logprobs": {"content": [2]}}
        ),
        AIMessageChunk("", response_metadata={"finish_reason": None, "count": 3}),
    ]
    expected: dict[str, Any] = {
        "model_name": "m",
        "finish_reason": "stop",
        "logprobs": {"content": [1, 2]},
        "count": 3,
    }
    for merged in both_ways(chunks):
        assert merged.response_metadata == expected
    kwargs = [
        AIMessageChunk("", additional_kwargs={"a": 1}),
        AIMessageChunk("", additional_kwargs={"a": 2, "b": 1}),
    ]
    for merged in both_ways(kwargs):
        assert merged.additional_kwargs == {"a": 2, "b": 1}


def test_merge_dicts_does_not_modify_inputs() -> None:
    left = {"x": {"a": [1]}}
    assert merge_dicts(left, {"x": {"a": [2]}}) == {"x": {"a": [1, 2]}}
    assert left == {"x": {"a": [1]}}


# ---------------------------------------------------------------------------- tool-call chunks


def test_parallel_interleaved_tool_calls_merge_by_index() -> None:
    pieces = [
        tool_call_chunk(name="add", args="", id="c1", index=0),
        tool_call_chunk(name="mul", args="", id="c2", index=1),
        tool_call_chunk(args='{"a": ', index=0),
        tool_call_chunk(args='{"b": 2', index=1),
        tool_call_chunk(args="1}", index=0),
        tool_call_chunk(args="}", index=1),
    ]
    for merged in both_ways([AIMessageChunk("", tool_call_chunks=[p]) for p in pieces]):
        assert merged.tool_call_chunks == [
            tool_call_chunk(name="add", args='{"a": 1}', id="c1", index=0),
            tool_call_chunk(name="mul", args='{"b": 2}', id="c2", index=1),
        ]
        assert merged.tool_calls == [
            {"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"},
            {"name": "mul", "args": {"b": 2}, "id": "c2", "type": "tool_call"},
        ]
        assert merged.invalid_tool_calls == []


def test_tool_chunks_without_index() -> None:
    pieces = [
        tool_call_chunk(name="a", args='{"x"', id="c1"),
        tool_call_chunk(args=": 1}"),  # no index, id or name: continues the last call
        tool_call_chunk(name="b", args="{}", id="c2"),  # a name: a new call
        tool_call_chunk(args='{"y": 2}', id="c3"),  # an unseen id: a new call
    ]
    for merged in both_ways([AIMessageChunk("", tool_call_chunks=[p]) for p in pieces]):
        assert [(c["name"], c["id"], c["args"]) for c in merged.tool_call_chunks] == [
            ("a", "c1", '{"x": 1}'),
            ("b", "c2", "{}"),
            (None, "c3", '{"y": 2}'),
        ]
        assert [c["args"] for c in merged.tool_calls] == [{"x": 1}, {}, {"y": 2}]
        assert merged.tool_calls[2]["name"] == ""


def test_tool_calls_are_partial_while_streaming_and_invalid_when_unparseable() -> None:
    head = AIMessageChunk(
        "", tool_call_chunks=[tool_call_chunk(name="f", args='{"city": "Par', id="c", index=0)]
    )
    assert head.tool_calls == [
        {"name": "f", "args": {"city": "Par"}, "id": "c", "type": "tool_call"}
    ]
    full = head + AIMessageChunk("", tool_call_chunks=[tool_call_chunk(args='is"}', index=0)])
    assert full.tool_calls[0]["args"] == {"city": "Paris"}
    bad = AIMessageChunk(
        "", tool_call_chunks=[tool_call_chunk(name="g", args="[1, 2]", id="d", index=0)]
    )
    assert bad.tool_calls == []
    assert bad.invalid_tool_calls == [
        {"name": "g", "args": "[1, 2]", "id": "d", "error": None, "type": "invalid_tool_call"}
    ]


def test_chunk_built_from_tool_calls() -> None:
    call: ToolCall = {"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
    chunk = AIMessageChunk("", tool_calls=[call])
    assert chunk.tool_calls == [call]
    assert chunk.tool_call_chunks[0]["args"] == '{"a": 1}'
    merged = chunk + AIMessageChunk("", tool_calls=[tool_call(name="f", args={"a": 1}, id="c2")])
    assert [c["id"] for c in merged.tool_calls] == ["c1", "c2"]


def test_setting_tool_call_chunks_resets_parsed_calls() -> None:
    merged = AIMessageChunk("a") + AIMessageChunk("b")
    merged.tool_call_chunks = [tool_call_chunk(name="f", args="{}", id="c", index=0)]
    assert merged.content == "ab"
    assert merged.tool_calls[0]["name"] == "f"


# ---------------------------------------------------------------------------- sharing and branching


def test_branching_from_a_shared_prefix() -> None:
    base = fold([AIMessageChunk(t) for t in "abc"])
    left = base + AIMessageChunk("L")
    right = base + AIMessageChunk("R")
    assert (base.content, left.content, right.content) == ("abc", "abcL", "abcR")
    left2 = left + AIMessageChunk("1")
    again = base + AIMessageChunk("X")
    assert (left2.content, again.content, right.content, base.content) == (
        "abcL1",
        "abcX",
        "abcR",
        "abc",
    )


def test_branching_keeps_tool_pieces_apart() -> None:
    base = AIMessageChunk(
        "", tool_call_chunks=[tool_call_chunk(name="f", args='{"a"', id="c", index=0)]
    )
    base = base + AIMessageChunk("", tool_call_chunks=[tool_call_chunk(args=": ", index=0)])
    one = base + AIMessageChunk("", tool_call_chunks=[tool_call_chunk(args="1}", index=0)])
    two = base + AIMessageChunk("", tool_call_chunks=[tool_call_chunk(args="2}", index=0)])
    assert one.tool_calls[0]["args"] == {"a": 1}
    assert two.tool_calls[0]["args"] == {"a": 2}
    assert base.tool_call_chunks[0]["args"] == '{"a": '


def test_empty_chunks_do_not_confuse_ownership() -> None:
    a = AIMessageChunk("a") + AIMessageChunk("b")
    same = a + AIMessageChunk("")  # owns the same prefix as a
    x = a + AIMessageChunk("x")
    y = same + AIMessageChunk("y")
    assert (a.content, same.content, x.content, y.content) == ("ab", "ab", "abx", "aby")


def test_merged_right_operand() -> None:
    left = AIMessageChunk("a") + AIMessageChunk("b")
    right = AIMessageChunk("c") + AIMessageChunk(
        "d", tool_call_chunks=[tool_call_chunk(name="f", args="{}", index=0)]
    )
    merged = left + right
    assert merged.content == "abcd" and merged.tool_calls[0]["name"] == "f"
    assert (merged + merged).content == "abcdabcd"


tokens = st.text(alphabet="ab☃", max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=30), tokens), max_size=40))
def test_any_merge_tree_matches_plain_strings(ops: list[tuple[int, str]]) -> None:
    """Extend arbitrary earlier results (branching, reading in between) and compare."""
    results: list[tuple[AIMessageChunk, str]] = [(AIMessageChunk(""), "")]
    for pick, token in ops:
        chunk, text = results[pick % len(results)]
        if pick % 3 == 0:
            assert chunk.content == text
        results.append((chunk + AIMessageChunk(token), text + token))
    for chunk, text in results:
        assert chunk.content == text


@settings(max_examples=100, deadline=None)
@given(st.lists(tokens, min_size=1, max_size=200))
def test_fold_accumulator_and_join_agree(parts: list[str]) -> None:
    chunks = [AIMessageChunk(p) for p in parts]
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    assert fold(chunks).content == acc.text == acc.result().content == "".join(parts)
    assert acc.count == len(parts)


# ---------------------------------------------------------------------------- linear cost


class _CountingLog(_ai._Log):
    """Counts the characters copied when a fold has to start a new log."""

    copied = 0

    def __init__(self, text: str, tools: list[Any]) -> None:
        _CountingLog.copied += len(text)
        super().__init__(text, tools)


def test_fold_copies_no_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ai, "_Log", _CountingLog)
    _CountingLog.copied = 0
    merged = fold([AIMessageChunk("tok ") for _ in range(20_000)])
    assert _CountingLog.copied <= len("tok ")  # only the first chunk's text, once
    assert len(merged.content) == 80_000
    log = merged._log
    assert log is not None and len(log.parts) == 1  # reading compacted it
    # Branching copies only the prefix that is branched from.
    _CountingLog.copied = 0
    base = AIMessageChunk("ab") + AIMessageChunk("c")
    base + AIMessageChunk("1")
    base + AIMessageChunk("2")
    assert _CountingLog.copied == len("ab") + len("abc")


def test_piece_list_stays_short_while_folding() -> None:
    acc = AIMessageChunk("")
    for _ in range(10_000):
        acc = acc + AIMessageChunk("x")
    assert acc._log is not None and len(acc._log.parts) < 10_000 // 32


def _fold_seconds(n: int) -> float:
    """CPU time of one fold of ``n`` chunks (CPU time, not wall time: on a loaded machine
    the time this process waits for a core is not its own)."""
    chunks = [AIMessageChunk("tok ", id="chatcmpl-1") for _ in range(n)]
    tool_chunks = [
        AIMessageChunk("", tool_call_chunks=[tool_call_chunk(args="x", index=0)])
        for _ in range(n // 4)
    ]
    start = time.process_time()
    merged = fold(chunks + tool_chunks)
    spent = time.process_time() - start
    assert len(merged.content) == 4 * n
    assert len(merged.tool_call_chunks[0]["args"] or "") == n // 4
    return spent


def test_doubling_the_stream_does_not_quadruple_the_time() -> None:
    # Best of 5, small and large measured in turn, so that a busy spell hits both alike.
    small = large = float("inf")
    for _ in range(5):
        small = min(small, _fold_seconds(20_000))
        large = min(large, _fold_seconds(40_000))
    assert large / small < 3.0, (small, large)
