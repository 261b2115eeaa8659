"""A chunk built with only ``content`` and ``id`` reads every other field as its empty default,
and those defaults are never shared: mutating one chunk's list or dict leaves every other
chunk alone, through copies, pickling and merges."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from tokentide.messages import AIMessageChunk, ChunkAccumulator, message_chunk_to_message
from tokentide.messages._ai import plain_text, text_chunk, usage_and_finish

CALL: Any = {"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
PIECE: Any = {"name": "add", "args": '{"a": 1}', "id": "c1", "index": 0, "type": "tool_call_chunk"}


def test_a_text_chunk_reads_empty_defaults() -> None:
    chunk = AIMessageChunk(content="hi", id="m1")
    assert chunk.tool_calls == [] and chunk.invalid_tool_calls == []
    assert chunk.tool_call_chunks == []
    assert chunk.additional_kwargs == {} and chunk.response_metadata == {}
    assert chunk.name is None and chunk.usage_metadata is None and chunk.chunk_position is None
    assert chunk == AIMessageChunk("hi", id="m1", name=None, tool_calls=None)


@pytest.mark.parametrize(
    ("field", "item"),
    [
        ("tool_calls", CALL),
        ("invalid_tool_calls", {"name": "x", "args": "{", "id": "c2", "error": None}),
        ("tool_call_chunks", PIECE),
    ],
)
def test_appending_to_a_default_list_never_leaks(field: str, item: Any) -> None:
    first, second = AIMessageChunk("a"), AIMessageChunk("b")
    getattr(first, field).append(item)
    assert getattr(first, field) == [item]
    assert getattr(second, field) == []
    assert getattr(AIMessageChunk("c"), field) == []


@pytest.mark.parametrize("field", ["additional_kwargs", "response_metadata"])
def test_writing_to_a_default_dict_never_leaks(field: str) -> None:
    first, second = AIMessageChunk("a"), AIMessageChunk("b")
    getattr(first, field)["k"] = 1
    assert getattr(first, field) == {"k": 1}
    assert getattr(second, field) == {}
    assert (first + second).model_dump()[field] == {"k": 1}
    assert getattr(second, field) == {}


def test_fields_set_after_construction_stay_on_their_chunk() -> None:
    chunk = AIMessageChunk("a")
    chunk.name = "bot"
    chunk.usage_metadata = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    chunk.chunk_position = "last"
    assert AIMessageChunk("a").name is None
    clone = copy.copy(chunk)
    clone.name = "other"
    clone.additional_kwargs = {"x": 1}
    assert chunk.name == "bot" and chunk.additional_kwargs == {}
    assert clone.usage_metadata == chunk.usage_metadata and clone.chunk_position == "last"


def _samples() -> list[AIMessageChunk]:
    plain = AIMessageChunk("hi", id="m1")
    rich = AIMessageChunk(
        "",
        tool_call_chunks=[PIECE],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        response_metadata={"finish_reason": "tool_calls"},
        chunk_position="last",
    )
    assigned = AIMessageChunk("x")
    assigned.tool_calls = [CALL]  # set directly: no tool pieces behind it
    return [plain, rich, plain + rich, AIMessageChunk("a", name="n") + plain, assigned]


@pytest.mark.parametrize("chunk", _samples(), ids=["plain", "rich", "merged", "named", "set"])
def test_copies_and_pickles_are_equal_and_independent(chunk: AIMessageChunk) -> None:
    dump = chunk.model_dump()
    for other in (
        copy.copy(chunk),
        copy.deepcopy(chunk),
        chunk.model_copy(),
        *(pickle.loads(pickle.dumps(chunk, protocol)) for protocol in range(6)),
    ):
        assert other == chunk
        assert other.model_dump() == dump
        other.name = "changed"
        other.tool_call_chunks = []
        assert chunk.model_dump() == dump


def test_a_fold_counts_every_chunk_and_keeps_the_text() -> None:
    acc = ChunkAccumulator()
    pieces = ["a", "", "bc", " d"] * 100
    for i, piece in enumerate(pieces, 1):
        acc.add(AIMessageChunk(piece, id="m1"))
        assert acc.count == i
        if i % 37 == 0:
            assert acc.text == "".join(pieces[:i])
    assert acc.text == "".join(pieces)
    message = message_chunk_to_message(acc.result())
    assert message.content == "".join(pieces) and message.id == "m1"
    assert message.tool_calls == [] and message.response_metadata == {}


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="AIMessageChunk.*bogus"):
        AIMessageChunk("x", bogus=1)  # type: ignore[call-arg]


def test_plain_text_reads_a_text_only_chunk_without_allocating() -> None:
    chunk = AIMessageChunk("hi", id="m1")
    assert plain_text(chunk) == "hi"
    assert plain_text(text_chunk("", None)) == ""
    assert chunk._x is None  # nothing was made for the fields it does not have
    assert chunk.response_metadata == {}  # a read makes the empty dict, kept on the chunk
    assert plain_text(chunk) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"usage_metadata": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}},
        {"response_metadata": {"finish_reason": "stop"}},
        {"response_metadata": {}},
        {"additional_kwargs": {"reasoning_content": "hmm"}},
        {"tool_call_chunks": [PIECE]},
        {"name": "bot"},
        {"chunk_position": "last"},
    ],
)
def test_plain_text_is_none_for_a_chunk_with_any_other_field(fields: Any) -> None:
    assert plain_text(AIMessageChunk("hi", **fields)) is None


def test_plain_text_is_none_for_a_merged_chunk() -> None:
    merged = AIMessageChunk("a") + AIMessageChunk("b")
    assert plain_text(merged) is None and merged.content == "ab"


def test_usage_and_finish_reads_both_without_allocating() -> None:
    usage: Any = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    text = AIMessageChunk("hi")
    assert usage_and_finish(text) == (None, None) and text._x is None
    last = AIMessageChunk("", usage_metadata=usage, response_metadata={"finish_reason": "length"})
    assert usage_and_finish(last) == (usage, "length")
    assert usage_and_finish(AIMessageChunk("", response_metadata={"model_name": "m"})) == (
        None,
        None,
    )
    assert usage_and_finish(AIMessageChunk("a", name="bot")) == (None, None)
