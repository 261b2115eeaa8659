"""ChatOpenAI: chunk mapping (every field of chat.completion.chunk), odd chunk boundaries,
request bodies and configuration."""

from __future__ import annotations

import json

import pytest

from fakes.sse_server import Script, chat_chunk, data, usage_chunk
from tokentide.errors import APIError
from tokentide.messages import AIMessageChunk, ChunkAccumulator
from tokentide.models import ChatOpenAI
from tokentide.models._openai_core import ChatChunkParser
from tokentide.wire import SSEDecoder

from .openai_support import SYNC, collect, make_model, text_of


def _body(*payloads: object) -> bytes:
    return b"".join(f"data: {json.dumps(p)}\n\n".encode() for p in payloads) + b"data: [DONE]\n\n"


def _parse(body: bytes, step: int | None = None) -> tuple[list[AIMessageChunk], ChatChunkParser]:
    parser, decoder = ChatChunkParser(), SSEDecoder()
    pieces = [body] if step is None else [body[i : i + step] for i in range(0, len(body), step)]
    out: list[AIMessageChunk] = []
    for piece in pieces:
        out.extend(parser.feed(decoder.feed(piece)))
        if parser.done:
            break
    return out, parser


def _merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.result()


TOOL_STREAM = _body(
    chat_chunk(role="assistant", content=None),
    chat_chunk(
        tool_calls=[{"index": 0, "id": "call_a", "function": {"name": "add", "arguments": ""}}]
    ),
    chat_chunk(
        tool_calls=[{"index": 1, "id": "call_b", "function": {"name": "mul", "arguments": '{"x"'}}]
    ),
    chat_chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"a": 1'}}]),
    chat_chunk(tool_calls=[{"index": 1, "function": {"arguments": ": 2}"}}]),
    chat_chunk(tool_calls=[{"index": 0, "function": {"arguments": ', "b": "é"}'}}]),
    chat_chunk(finish_reason="tool_calls"),
    usage_chunk(9, 12),
)


@pytest.mark.parametrize("step", [None, 1, 2, 3, 7, 64])
def test_mapper_is_independent_of_chunk_boundaries(step: int | None) -> None:
    chunks, parser = _parse(TOOL_STREAM, step)
    assert parser.done and parser.failure is None
    message = _merge(chunks)
    assert message.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": "é"}, "id": "call_a", "type": "tool_call"},
        {"name": "mul", "args": {"x": 2}, "id": "call_b", "type": "tool_call"},
    ]
    assert message.usage_metadata == {"input_tokens": 9, "output_tokens": 12, "total_tokens": 21}
    assert message.response_metadata["finish_reason"] == "tool_calls"


def test_tool_calls_without_index_get_indexes_by_id_then_order() -> None:
    body = _body(
        chat_chunk(tool_calls=[{"id": "c1", "function": {"name": "a", "arguments": '{"p":'}}]),
        chat_chunk(tool_calls=[{"function": {"arguments": " 1}"}}]),
        chat_chunk(tool_calls=[{"id": "c2", "function": {"name": "b", "arguments": "{}"}}]),
        chat_chunk(tool_calls=[{"id": "c1", "function": {"arguments": ""}}]),
        chat_chunk(finish_reason="tool_calls"),
    )
    chunks, _ = _parse(body)
    indexes = [(c["id"], c["index"]) for ch in chunks for c in ch.tool_call_chunks]
    assert indexes == [("c1", 0), (None, 0), ("c2", 1), ("c1", 0)]
    calls = _merge(chunks).tool_calls
    assert [(c["name"], c["args"], c["id"]) for c in calls] == [
        ("a", {"p": 1}, "c1"),
        ("b", {}, "c2"),
    ]


def test_every_field_is_mapped() -> None:
    body = _body(
        chat_chunk(role="assistant", content=""),
        chat_chunk(reasoning_content="think"),
        chat_chunk(refusal="I can't"),
        chat_chunk("Hi"),
        {**chat_chunk(finish_reason="stop"), "system_fingerprint": "fp_1"},
        usage_chunk(
            3,
            2,
            prompt_tokens_details={"cached_tokens": 1, "audio_tokens": 0},
            completion_tokens_details={"reasoning_tokens": 1},
        ),
    )
    chunks, _ = _parse(body)
    assert chunks[0].additional_kwargs == {"reasoning_content": "think"}
    assert chunks[0].response_metadata["model_name"] == "fake-model"
    assert chunks[1].additional_kwargs == {"refusal": "I can't"}
    assert chunks[2].content == "Hi" and chunks[2].id == "chatcmpl-fake"
    assert chunks[3].response_metadata == {
        "finish_reason": "stop",
        "model_name": "fake-model",
        "system_fingerprint": "fp_1",
        "model_provider": "openai",
    }
    assert chunks[4].usage_metadata == {
        "input_tokens": 3,
        "output_tokens": 2,
        "total_tokens": 5,
        "input_token_details": {"cache_read": 1, "audio": 0},
        "output_token_details": {"reasoning": 1},
    }
    assert len(chunks) == 5  # the role-only delta makes no chunk


def test_missing_usage_is_flagged_and_repeated_usage_counted_once() -> None:
    chunks, _ = _parse(_body(chat_chunk("a"), chat_chunk(finish_reason="stop")))
    merged = _merge(chunks)
    assert merged.usage_metadata is None and merged.response_metadata["usage_missing"] is True
    cumulative = {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    final = {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    chunks, _ = _parse(_body(chat_chunk("a", usage=cumulative), chat_chunk("b", usage=final)))
    merged = _merge(chunks)
    assert merged.usage_metadata == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    assert "usage_missing" not in merged.response_metadata


def test_logprobs_go_to_response_metadata() -> None:
    payload = chat_chunk("a")
    payload["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.1}]}
    chunks, _ = _parse(_body(payload))
    assert chunks[0].content == "a"
    assert chunks[0].response_metadata["logprobs"]["content"][0]["token"] == "a"


@SYNC
async def test_stream_over_http_maps_reasoning_and_usage(sync, server, model) -> None:
    steps = [
        data(chat_chunk(role="assistant", content="")),
        data(chat_chunk(reasoning_content="hmm")),
        data(chat_chunk("ok")),
        data(chat_chunk(finish_reason="stop")),
        data(usage_chunk(4, 2)),
        data("[DONE]"),
    ]
    server.push(Script(steps))
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "ok"
    assert chunks[0].additional_kwargs["reasoning_content"] == "hmm"
    assert chunks[-1].usage_metadata == {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}
    assert len({chunk.id for chunk in chunks}) == 1


@SYNC
async def test_request_body_and_headers(sync, server) -> None:
    chat = make_model(
        server,
        model=None,
        model_name="gpt-4o-mini",
        temperature=0,
        max_tokens=7,
        seed=42,
        default_headers={"X-Extra": "1"},
    )
    server.push(Script.tokens(["a"]))
    _, err = await collect(chat, sync, [("system", "be brief"), ("user", "hi")], stop=["\n"])
    await chat.aclose()
    assert err is None
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["x-extra"] == "1"
    assert request.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "stream": True,
        "temperature": 0,
        "max_tokens": 7,
        "seed": 42,
        "stop": ["\n"],
        "stream_options": {"include_usage": True},
    }


@SYNC
async def test_stream_usage_false_leaves_stream_options_out(sync, server) -> None:
    chat = make_model(server, stream_usage=False)
    server.push(Script.tokens(["a"], usage=None))
    _, err = await collect(chat, sync)
    await chat.aclose()
    assert err is None and "stream_options" not in server.requests[0].json


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(APIError, match="ChatLlamaCpp"):
        ChatOpenAI()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    chat = ChatOpenAI(tags=["joke"])
    assert chat.base_url == "http://127.0.0.1:1/v1" and chat.tags == ["joke"]
    assert "Authorization" not in chat._transport.headers
    assert chat._run_metadata()["ls_model_name"] == "gpt-4o-mini"
    assert chat._run_metadata()["ls_provider"] == "openai"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    chat = ChatOpenAI(model_name="gpt-4o")
    assert chat.base_url == "https://api.openai.com/v1" and chat.model == "gpt-4o"
    assert chat._transport.headers["Authorization"] == "Bearer sk-env"


@pytest.mark.parametrize("step", [None, 5])
def test_reasoning_and_refusal_pieces_concatenate_when_merged(step: int | None) -> None:
    body = _body(
        chat_chunk(reasoning_content="Let "),
        chat_chunk(reasoning_content="me think"),
        chat_chunk(refusal="I can"),
        chat_chunk(refusal="not"),
        chat_chunk(finish_reason="stop"),
    )
    chunks, _ = _parse(body, step)
    merged = _merge(chunks)
    assert merged.additional_kwargs == {"reasoning_content": "Let me think", "refusal": "I cannot"}
