"""The raw-block fast paths of the Anthropic Messages and OpenAI Responses parsers.

``feed_blocks`` reads the common text-delta event straight from the SSE block; whatever the
stream (split at any byte, CRLF, comments, keys in another order, escapes, several ``data:``
lines, errors), it must give exactly the chunks, failure and end that the full parse
(``feed(decoder.feed(...))``) gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tokentide.messages import AIMessageChunk
from tokentide.models._anthropic_core import MessagesEventParser
from tokentide.models._responses_core import ResponsesEventParser
from tokentide.wire import SSEDecoder

Parser = MessagesEventParser | ResponsesEventParser
Outcome = tuple[list[tuple[Any, ...]], Any, bool]


def compact(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def block(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def text_delta(text: str, index: int = 0) -> bytes:
    payload = {"type": "content_block_delta", "index": index}
    payload["delta"] = {"type": "text_delta", "text": text}
    return block("content_block_delta", compact(payload))


def output_delta(text: str, seq: int = 3, **extra: Any) -> bytes:
    payload = {"type": "response.output_text.delta", "sequence_number": seq, "item_id": "msg_1"}
    payload.update(output_index=0, content_index=0, delta=text, logprobs=[], **extra)
    return block("response.output_text.delta", compact(payload))


ANTHROPIC_HEAD = block(
    "message_start",
    compact({"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {}}}),
)
ANTHROPIC_TAIL = block(
    "message_delta",
    compact(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 3},
        }
    ),
) + block("message_stop", '{"type":"message_stop"}')
RESPONSES_HEAD = block(
    "response.created",
    compact({"type": "response.created", "response": {"id": "resp_1", "model": "m"}}),
)
RESPONSES_TAIL = block(
    "response.completed",
    compact(
        {
            "type": "response.completed",
            "response": {"id": "resp_1", "status": "completed", "usage": {"input_tokens": 1}},
        }
    ),
)


def describe(chunk: AIMessageChunk) -> tuple[Any, ...]:
    return (
        type(chunk),
        chunk.content,
        chunk.id,
        chunk.tool_call_chunks,
        chunk.additional_kwargs,
        chunk.response_metadata,
        chunk.usage_metadata,
        chunk.chunk_position,
        chunk.name,
    )


def run(parser: Parser, pieces: list[bytes], *, fast: bool) -> Outcome:
    """What the transport does with a body: feed the pieces, then the end of the body."""
    decoder = SSEDecoder()
    out: list[AIMessageChunk] = []
    for piece in pieces:
        if fast:
            blocks = decoder.blocks(piece)
            if blocks:
                out += parser.feed_blocks(blocks, decoder)
        else:
            events = decoder.feed(piece)
            if events:
                out += parser.feed(events)
        if parser.failure is not None or parser.done:
            break
    else:
        events = decoder.flush(strict=False)
        if events:
            out += parser.feed(events)
        if not parser.done and parser.failure is None:
            out += parser.end()
    failure = parser.failure
    described = None if failure is None else (failure.kind, str(failure), failure.status)
    return [describe(chunk) for chunk in out], described, parser.done


def splits(body: bytes) -> list[list[bytes]]:
    """The body whole, in two pieces at every byte offset, and byte by byte."""
    ways = [[body], [body[i : i + 1] for i in range(len(body))]]
    ways += [[body[:i], body[i:]] for i in range(1, len(body))]
    return ways


def check(make: Callable[[], Parser], body: bytes) -> Outcome:
    expected = run(make(), [body], fast=False)
    for pieces in splits(body):
        assert run(make(), pieces, fast=True) == expected, pieces
    return expected


ANTHROPIC_BODIES = {
    "plain": [text_delta("Hel"), text_delta("lo")],
    "unicode escapes and surrogate pairs": [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\n\\t"}}\n\n',
        text_delta('é😀 ünïcode\n"quoted"\\'),
    ],
    "a lone surrogate escape": [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"\\ud83d"}}\n\n'
    ],
    "other block indexes": [
        text_delta("a", 1),
        text_delta("b", 10),
        text_delta("c", 123),
        text_delta('é😀\n"', 2),
    ],
    "empty text": [text_delta(""), text_delta("x")],
    "keys in another order": [
        block(
            "content_block_delta",
            '{"index":0,"type":"content_block_delta","delta":{"text":"a","type":"text_delta"}}',
        ),
        block(
            "content_block_delta",
            '{"type":"content_block_delta","delta":{"type":"text_delta","text":"b"},"index":0}',
        ),
    ],
    "spaces and extra fields": [
        block(
            "content_block_delta",
            json.dumps(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "a"},
                }
            ),
        ),
        block(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"b","x":1}}',
        ),
        block(
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"c"}} ',
        ),
    ],
    "no event line, an id line, a comment": [
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}'
        b"\n\n",
        b"id: 7\n" + text_delta("b"),
        b": ping\n" + text_delta("c"),
        text_delta("d"),
    ],
    "data split over two data lines": [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\n'
        b'data: "delta":{"type":"text_delta","text":"a"}}\n\n',
        text_delta("b"),
    ],
    "a newline inside the string is bad JSON": [
        text_delta("a"),
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"x\ndata: y"}}\n\n',
        text_delta("never"),
    ],
    "a control character is bad JSON": [
        text_delta("a"),
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"x\ty"}}\n\n',
    ],
    "a bad escape is bad JSON": [
        text_delta("a"),
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"\\q"}}\n\n',
    ],
    "a leading zero is bad JSON": [
        text_delta("a"),
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":01,"delta":'
        b'{"type":"text_delta","text":"b"}}\n\n',
    ],
    "invalid UTF-8": [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"a\xff\xc3"}}\n\n'
    ],
    "in-band error": [
        text_delta("a"),
        block("error", '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'),
        text_delta("never"),
    ],
    "tool use and thinking between texts": [
        text_delta("a"),
        block(
            "content_block_start",
            compact(
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                }
            ),
        ),
        block(
            "content_block_delta",
            compact(
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": '{"x"'},
                }
            ),
        ),
        block(
            "content_block_delta",
            compact(
                {
                    "type": "content_block_delta",
                    "index": 2,
                    "delta": {"type": "thinking_delta", "thinking": "hmm"},
                }
            ),
        ),
        text_delta("b", 3),
        block("ping", '{"type":"ping"}'),
    ],
}


class CountingDecoder(SSEDecoder):
    """Records the blocks that went the full way (to events)."""

    def __init__(self) -> None:
        super().__init__()
        self.decoded: list[bytes] = []

    def decode(self, blocks: list[bytes]) -> Any:
        self.decoded.extend(blocks)
        return super().decode(blocks)


def test_anthropic_fast_path_reads_text_deltas_without_events() -> None:
    """The common block never becomes a `ServerSentEvent` (the others still do)."""
    decoder = CountingDecoder()
    parser = MessagesEventParser()
    body = ANTHROPIC_HEAD + text_delta("a") + text_delta("b\n", 1) + ANTHROPIC_TAIL
    chunks = parser.feed_blocks(decoder.blocks(body), decoder)
    assert [c.content for c in chunks] == ["a", "b\n", ""]
    assert chunks[0].id == "msg_1" and parser.done
    assert len(decoder.decoded) == 3  # message_start, message_delta, message_stop


RESPONSES_BODIES = {
    "plain": [output_delta("Hel"), output_delta("lo", 4)],
    "real API fields": [output_delta("a", obfuscation="Xy12"), output_delta("b", 12345)],
    "unicode escapes and surrogate pairs": [
        output_delta('é😀 "q" \\ \n\t'),
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"delta":"caf\\u00e9 \\ud83d\\ude00 \\ud83d"}\n\n',
    ],
    "empty delta": [output_delta(""), output_delta("x")],
    "keys in another order": [
        block(
            "response.output_text.delta",
            '{"delta":"a","type":"response.output_text.delta","sequence_number":3}',
        ),
        block(
            "response.output_text.delta",
            '{"type":"response.output_text.delta","content_index":0,"delta":"b","item_id":"m",'
            '"logprobs":[],"output_index":0,"sequence_number":4}',
        ),
    ],
    "repeated keys": [
        block(
            "response.output_text.delta",
            '{"type":"response.output_text.delta","delta":"a","delta":"b"}',
        ),
        block(
            "response.output_text.delta",
            '{"type":"response.output_text.delta","delta":"a","type":"response.refusal.delta"}',
        ),
    ],
    "other values": [
        block(
            "response.output_text.delta",
            '{"type":"response.output_text.delta","sequence_number":-1,"delta":"a",'
            '"logprobs":[{"token":"a"}],"x":null,"y":1.5,"z":"\\u00e9"}',
        ),
        block("response.output_text.delta", '{"type":"response.output_text.delta","delta":5}'),
        block(
            "response.output_text.delta", '{"type":"response.output_text.delta","n":01,"delta":"a"}'
        ),
    ],
    "no event line, a comment, data over two lines": [
        b'data: {"type":"response.output_text.delta","delta":"a"}\n\n',
        b": ping\n" + output_delta("b"),
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",\n'
        b'data: "delta":"c"}\n\n',
    ],
    "bad JSON": [
        output_delta("a"),
        block("response.output_text.delta", '{"type":"response.output_text.delta","delta":"\\q"}'),
    ],
    "in-band error": [
        output_delta("a"),
        block("error", '{"type":"error","code":"server_error","message":"boom"}'),
    ],
    "done marker": [output_delta("a"), b"data: [DONE]\n\n", output_delta("never")],
}


# Each protocol: its parser, and the head, named middles and tail of its event streams.
PROTOCOLS: dict[str, tuple[Callable[[], Parser], bytes, dict[str, list[bytes]], bytes]] = {
    "anthropic": (MessagesEventParser, ANTHROPIC_HEAD, ANTHROPIC_BODIES, ANTHROPIC_TAIL),
    "responses": (ResponsesEventParser, RESPONSES_HEAD, RESPONSES_BODIES, RESPONSES_TAIL),
}


def body_of(protocol: str, name: str, *, crlf: bool = False, tail: bool = True) -> bytes:
    _, head, bodies, end = PROTOCOLS[protocol]
    body = head + b"".join(bodies[name]) + (end if tail else b"")
    return body.replace(b"\n", b"\r\n") if crlf else body


def anthropic_body(name: str) -> bytes:
    return body_of("anthropic", name)


def responses_body(name: str) -> bytes:
    return body_of("responses", name)


@pytest.mark.parametrize(
    ("protocol", "name"),
    [
        (protocol, name)
        for protocol, (_, _, bodies, _) in PROTOCOLS.items()
        for name in sorted(bodies)
    ],
)
def test_fast_path_gives_what_the_full_parse_gives(protocol: str, name: str) -> None:
    check(PROTOCOLS[protocol][0], body_of(protocol, name))


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("name", ["plain", "unicode escapes and surrogate pairs", "in-band error"])
def test_fast_path_with_crlf_and_no_end(protocol: str, name: str) -> None:
    check(PROTOCOLS[protocol][0], body_of(protocol, name, crlf=True))
    check(PROTOCOLS[protocol][0], body_of(protocol, name, tail=False))


def test_responses_fast_path_reads_text_deltas_without_events() -> None:
    decoder = CountingDecoder()
    parser = ResponsesEventParser()
    deltas = output_delta("a") + output_delta("b\n", 4, obfuscation="Xy")
    chunks = parser.feed_blocks(decoder.blocks(RESPONSES_HEAD + deltas + RESPONSES_TAIL), decoder)
    assert [c.content for c in chunks] == ["a", "b\n", ""]
    assert chunks[0].id == "resp_1" and parser.done
    assert len(decoder.decoded) == 2  # response.created, response.completed


def test_the_outcomes_are_the_expected_ones() -> None:
    """A sanity check of the reference itself on a few bodies."""
    chunks, failure, done = check(MessagesEventParser, anthropic_body("plain"))
    assert [c[1] for c in chunks] == ["Hel", "lo", ""] and failure is None and done
    chunks, failure, done = check(
        MessagesEventParser, anthropic_body("unicode escapes and surrogate pairs")
    )
    assert chunks[0][1] == 'café 😀 "q" \\ / \n\t'
    chunks, failure, done = check(
        MessagesEventParser, anthropic_body("a control character is bad JSON")
    )
    assert [c[1] for c in chunks] == ["a"] and failure[0] == "protocol"
    chunks, failure, done = check(ResponsesEventParser, responses_body("repeated keys"))
    assert [c[1] for c in chunks] == ["b", "", ""] and chunks[1][4] == {"refusal": "a"} and done
