"""The per-token path of the three protocol encoders (OpenAI chat completions, Anthropic
Messages, OpenAI Responses): a chunk that carries nothing but text is encoded without making
its empty fields (no dict or list per token), and into the same bytes as the general path
gives the same text when the chunk's empty fields were made."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tokentide.messages import AIMessageChunk
from tokentide.server._anthropic_encode import MessagesEncoder
from tokentide.server._openai_api import ChunkEncoder
from tokentide.server._responses_encode import ResponsesEncoder

TEXTS = ["Hel", "lo", "", ' "q" \\ é😀\n', "\ud83d"]

ENCODERS: dict[str, Callable[[], Any]] = {
    "openai chat": lambda: ChunkEncoder("chatcmpl-1", 0, "m"),
    "anthropic": lambda: MessagesEncoder("msg_1", "m"),
    "responses": lambda: ResponsesEncoder("resp_1", {"model": "m"}),
}


def same_ids(events: Any) -> str:
    """The encoder's output with its random item ids made equal."""
    return re.sub(r"(msg|rs|fc)_[0-9a-f]{32}", r"\1_ID", repr(events))


def with_empty_fields(text: str) -> AIMessageChunk:
    """The same chunk, its empty fields made (as reading them makes them)."""
    chunk = AIMessageChunk(text, id="x")
    assert chunk.response_metadata == {} and chunk.tool_call_chunks == []
    assert chunk.additional_kwargs == {}
    return chunk


@pytest.mark.parametrize("name", list(ENCODERS))
def test_a_text_chunk_is_encoded_without_making_its_empty_fields(name: str) -> None:
    encoder = ENCODERS[name]()
    for text in TEXTS:
        chunk = AIMessageChunk(text, id="x")
        encoder.chunk(chunk)
        assert chunk._x is None, (name, text)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_the_text_path_gives_the_bytes_of_the_general_path(name: str) -> None:
    fast, general = ENCODERS[name](), ENCODERS[name]()
    for text in TEXTS:
        got = fast.chunk(AIMessageChunk(text, id="x"))
        assert same_ids(got) == same_ids(general.chunk(with_empty_fields(text))), text
    assert fast.chunks == general.chunks == len([t for t in TEXTS if t])
    assert same_ids(fast.finish()) == same_ids(general.finish())


def test_anthropic_blocks_hold_every_piece_when_blocks_take_turns() -> None:
    """The Messages encoder keeps an open block's pieces apart and joins them when the block
    closes: the final ``message`` has every piece, in order, in its block, also when two tool
    calls' arguments interleave (a block reopened) and when text follows tool calls."""
    encoder = MessagesEncoder("msg_1", "m")
    thinking = {"reasoning_content": "hm"}
    pieces: list[AIMessageChunk] = [
        AIMessageChunk("", additional_kwargs=thinking),
        AIMessageChunk("", additional_kwargs={"reasoning_content": "m."}),
        AIMessageChunk("Let me "),
        AIMessageChunk("check."),
    ]
    for index, args in [(0, '{"city"'), (1, '{"tz"'), (0, ': "sf"}'), (1, ': "PST"}')]:
        tool: Any = {"index": index, "args": args, "type": "tool_call_chunk"}
        if args.startswith("{"):
            tool.update(id=f"call_{index}", name=["weather", "clock"][index])
        pieces.append(AIMessageChunk("", tool_call_chunks=[tool]))
    pieces += [AIMessageChunk("Done"), AIMessageChunk("!")]
    for chunk in pieces:
        encoder.chunk(chunk)
    encoder.finish()
    blocks = encoder.message()["content"]
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use", "tool_use", "text"]
    assert blocks[0]["thinking"] == "hmm."
    assert blocks[1]["text"] == "Let me check." and blocks[4]["text"] == "Done!"
    assert blocks[2]["input"] == {"city": "sf"} and blocks[3]["input"] == {"tz": "PST"}


def test_responses_tool_calls_hold_every_argument_piece_when_calls_take_turns() -> None:
    """The Responses encoder keeps the open call's argument pieces apart and joins them into
    its item when the call closes: each ``function_call`` item, and the last
    ``function_call_arguments.done`` of each call, has all its arguments in order."""
    import json

    encoder = ResponsesEncoder("resp_1", {"model": "m"})
    events = encoder.chunk(AIMessageChunk("Checking."))
    steps = [(0, '{"ci'), (0, 'ty"'), (1, '{"tz"'), (0, ': "sf"}'), (1, ': "PST"}')]
    for index, args in steps:
        tool: Any = {"index": index, "args": args, "type": "tool_call_chunk"}
        if args.startswith("{"):
            tool.update(id=f"call_{index}", name=["weather", "clock"][index])
        events += encoder.chunk(AIMessageChunk("", tool_call_chunks=[tool]))
    events += encoder.finish()
    calls = [item for item in encoder.response()["output"] if item["type"] == "function_call"]
    assert [(c["name"], c["arguments"]) for c in calls] == [
        ("weather", '{"city": "sf"}'),
        ("clock", '{"tz": "PST"}'),
    ]
    done: dict[str, str] = {}
    for kind, data in events:
        if kind == "response.function_call_arguments.done":
            fields = json.loads(data)
            done[fields["name"]] = fields["arguments"]
    assert done == {"weather": '{"city": "sf"}', "clock": '{"tz": "PST"}'}
