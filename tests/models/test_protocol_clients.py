"""`ChatAnthropic` and `ChatOpenAI(use_responses_api=True)` against the scripted SSE server:
the mapping of each protocol's events (text, tool calls, reasoning, usage), and the failure
matrix of the chat-completions client (typed errors with partials, retries only before the
first token, idle timeout, prompt close)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from fakes.sse_server import Script, ScriptedSSEServer, comment, data, end, reset, sleep
from tokentide.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    StreamIdleTimeout,
    StreamInterrupted,
)
from tokentide.messages import ChunkAccumulator
from tokentide.models import ChatAnthropic, ChatOpenAI

from .openai_support import SYNC, break_after, collect, make_model, text_of
from .protocol_scripts import (
    anthropic_error,
    anthropic_head,
    anthropic_status,
    anthropic_tail,
    anthropic_text,
    anthropic_tokens,
    event,
    openai_status,
    responses_completed,
    responses_failed,
    responses_head,
    responses_text,
    responses_tokens,
)

pytestmark = pytest.mark.timeout(30)
TOKENS = ["Hel", "lo", " wor", "ld"]


class Protocol:
    """How to build the model and the scripts of one protocol."""

    def __init__(
        self,
        name: str,
        make: Callable[[ScriptedSSEServer], Any],
        tokens: Callable[..., Script],
        in_band_error: Any,
        status: Callable[..., Script],
    ) -> None:
        self.name = name
        self.make = make
        self.tokens = tokens
        self.in_band_error = in_band_error
        self.status = status


def _anthropic(server: ScriptedSSEServer) -> ChatAnthropic:
    model = ChatAnthropic(
        model="claude-fake", base_url=server.base_url[:-3], api_key="k", idle_timeout=0.4
    )
    model._transport.retry_base_delay = 0.01
    return model


def _responses(server: ScriptedSSEServer) -> ChatOpenAI:
    return make_model(
        server, model="gpt-fake", api_key="k", idle_timeout=0.4, use_responses_api=True
    )


PROTOCOLS = {
    "anthropic": Protocol(
        "anthropic", _anthropic, anthropic_tokens, anthropic_error(), anthropic_status
    ),
    "responses": Protocol(
        "responses", _responses, responses_tokens, responses_failed(), openai_status
    ),
}


@pytest.fixture(params=list(PROTOCOLS))
def protocol(request: pytest.FixtureRequest) -> Protocol:
    return PROTOCOLS[request.param]


@pytest.fixture
async def model(server: ScriptedSSEServer, protocol: Protocol) -> Any:
    chat = protocol.make(server)
    yield chat
    await chat.aclose()


# ---------------------------------------------------------------------- request and mapping


async def test_anthropic_request_headers_and_body(server: ScriptedSSEServer) -> None:
    chat = ChatAnthropic(
        model="claude-x", base_url=server.base_url[:-3], api_key="sk-ant", max_tokens=33
    )
    server.push(anthropic_tokens(TOKENS, cache_read=4))
    chunks, err = await collect(chat, False, [("system", "Be terse."), ("user", "hi")], stop=["X"])
    await chat.aclose()
    assert err is None and text_of(chunks) == "Hello world"
    request = server.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant" and "authorization" not in request.headers
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.json == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "system": "Be terse.",
        "max_tokens": 33,
        "stop_sequences": ["X"],
    }
    last = chunks[-1]
    assert last.usage_metadata == {
        "input_tokens": 9,
        "output_tokens": 4,
        "total_tokens": 13,
        "input_token_details": {"cache_read": 4, "cache_creation": 0},
    }
    assert last.response_metadata["stop_reason"] == "end_turn"
    assert last.response_metadata["finish_reason"] == "stop"


@SYNC
async def test_anthropic_tool_use_and_thinking(sync: bool, server: ScriptedSSEServer) -> None:
    tool_block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    steps = [
        *anthropic_head()[:1],
        event("content_block_start", {"index": 0, "content_block": {"type": "thinking"}}),
        event(
            "content_block_delta",
            {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        ),
        event("content_block_stop", {"index": 0}),
        event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        anthropic_text("Checking.", 1),
        event("content_block_stop", {"index": 1}),
        event("content_block_start", {"index": 2, "content_block": tool_block}),
        event(
            "content_block_delta",
            {"index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
        ),
        event(
            "content_block_delta",
            {"index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ty": "Paris"}'}},
        ),
        *anthropic_tail(9, "tool_use"),
    ]
    server.push(Script(steps))
    chat = _anthropic(server)
    chunks, err = await collect(chat, sync)
    await chat.aclose()
    assert err is None
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    message = acc.result()
    assert message.content == "Checking."
    assert message.additional_kwargs["reasoning_content"] == "Hmm."
    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_1", "type": "tool_call"}
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"


@SYNC
async def test_responses_request_and_mapping(sync: bool, server: ScriptedSSEServer) -> None:
    call = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_9",
        "name": "f",
        "arguments": "",
    }
    steps = [
        *responses_head()[:2],
        event(
            "response.output_item.added",
            {"output_index": 0, "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
        ),
        event(
            "response.reasoning_summary_text.delta",
            {"item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "Think."},
        ),
        *responses_head()[2:],
        responses_text("Hi"),
        event("response.output_item.added", {"output_index": 2, "item": call}),
        event(
            "response.function_call_arguments.delta",
            {"item_id": "fc_1", "output_index": 2, "delta": '{"a":'},
        ),
        event(
            "response.function_call_arguments.delta",
            {"item_id": "fc_1", "output_index": 2, "delta": " 1}"},
        ),
        event(
            "response.function_call_arguments.done",
            {"item_id": "fc_1", "output_index": 2, "arguments": '{"a": 1}'},
        ),
        responses_completed(7, 3, cached=2, reasoning=1),
    ]
    server.push(Script(steps))
    chat = _responses(server)
    bound = chat.bind_tools([{"type": "function", "function": {"name": "f", "parameters": {}}}])
    chunks, err = await collect(bound, sync, [("system", "S"), ("user", "hi")], max_tokens=9)
    await chat.aclose()
    assert err is None
    request = server.requests[0]
    assert request.path == "/v1/responses"
    body = request.json
    assert body["input"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert body["tools"] == [{"type": "function", "name": "f", "parameters": {}}]
    assert body["max_output_tokens"] == 9 and body["stream"] is True
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    message = acc.result()
    assert message.content == "Hi" and message.additional_kwargs["reasoning_content"] == "Think."
    assert message.tool_calls == [
        {"name": "f", "args": {"a": 1}, "id": "call_9", "type": "tool_call"}
    ]
    assert message.usage_metadata == {
        "input_tokens": 7,
        "output_tokens": 3,
        "total_tokens": 10,
        "input_token_details": {"cache_read": 2},
        "output_token_details": {"reasoning": 1},
    }
    assert message.response_metadata["finish_reason"] == "tool_calls"
    assert message.response_metadata["model_name"] == "gpt-fake"


async def test_responses_arguments_only_in_done_are_kept(server: ScriptedSSEServer) -> None:
    call = {"id": "fc_1", "type": "function_call", "call_id": "c", "name": "f", "arguments": ""}
    steps = [
        *responses_head()[:2],
        event("response.output_item.added", {"output_index": 0, "item": call}),
        event(
            "response.function_call_arguments.done",
            {"item_id": "fc_1", "output_index": 0, "arguments": '{"x": 2}'},
        ),
        responses_completed(1, 1),
    ]
    server.push(Script(steps))
    chat = _responses(server)
    message = await chat.ainvoke("hi")
    await chat.aclose()
    assert message.tool_calls[0]["args"] == {"x": 2}


async def test_responses_incomplete_is_length(server: ScriptedSSEServer) -> None:
    incomplete = {
        "id": "resp_1",
        "status": "incomplete",
        "model": "m",
        "incomplete_details": {"reason": "max_output_tokens"},
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }
    server.push(
        responses_tokens(["a", "b"], after=[event("response.incomplete", {"response": incomplete})])
    )
    chat = _responses(server)
    message = await chat.ainvoke("hi")
    await chat.aclose()
    assert message.content == "ab" and message.response_metadata["finish_reason"] == "length"


# ---------------------------------------------------------------------- after the first token


@SYNC
async def test_reset_after_tokens_is_stream_interrupted(sync, server, protocol, model) -> None:
    server.push(protocol.tokens(TOKENS[:2], after=[reset()]))
    chunks, err = await collect(model, sync)
    assert isinstance(err, StreamInterrupted) and err.retryable
    assert text_of(chunks) == "Hello" and err.partial.content == "Hello"
    assert len(server.requests) == 1


@SYNC
async def test_end_without_terminal_event_is_interrupted(sync, server, protocol, model) -> None:
    server.push(protocol.tokens(TOKENS, after=[end()]))
    _, err = await collect(model, sync)
    assert isinstance(err, StreamInterrupted) and err.partial.content == "Hello world"


@SYNC
async def test_in_band_error_after_tokens_is_provider_error(sync, server, protocol, model) -> None:
    server.push(protocol.tokens(TOKENS[:3], after=[protocol.in_band_error, sleep(5)]))
    chunks, err = await collect(model, sync)
    assert isinstance(err, ProviderError) and err.retryable
    assert err.partial.content == "Hello wor" == text_of(chunks)
    assert len(server.requests) == 1


@SYNC
async def test_invalid_json_after_tokens_is_protocol_error(sync, server, protocol, model) -> None:
    server.push(protocol.tokens(TOKENS[:2], after=[data("{not json"), sleep(5)]))
    _, err = await collect(model, sync)
    assert isinstance(err, ProtocolError) and err.partial.content == "Hello"


@SYNC
async def test_silence_after_tokens_times_out(sync, server, protocol, model) -> None:
    # 4 s of pings: a client that counted them as progress would not time out before they end.
    pings = [step for _ in range(80) for step in (comment("ping"), sleep(0.05))]
    server.push(protocol.tokens(TOKENS[:2], after=pings))
    started = time.monotonic()
    _, err = await collect(model, sync)
    assert isinstance(err, StreamIdleTimeout) and err.partial.content == "Hello"
    # idle_timeout is 0.4 s; the slack is for a loaded machine, well short of the pings' end.
    assert time.monotonic() - started < 2.5


# ---------------------------------------------------------------------- before the first token


@SYNC
async def test_http_errors_are_typed_and_not_retried(sync, server, protocol, model) -> None:
    server.push(protocol.status(400, "invalid_request_error", "bad field"))
    _, err = await collect(model, sync)
    assert type(err) is BadRequestError and "bad field" in str(err)
    server.push(protocol.status(401, "authentication_error", "bad key"))
    _, err = await collect(model, sync)
    assert type(err) is AuthenticationError
    assert len(server.requests) == 2


@SYNC
async def test_429_and_overload_are_retried(sync, server, protocol, model) -> None:
    server.push(
        protocol.status(429, "rate_limit_error", "slow down", **{"Retry-After": "0"}),
        protocol.status(529 if protocol.name == "anthropic" else 503, "overloaded_error"),
        protocol.tokens(TOKENS),
    )
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world" and len(server.requests) == 3


@SYNC
async def test_in_band_overload_first_is_retried(sync, server, protocol, model) -> None:
    server.push(Script([protocol.in_band_error]), protocol.tokens(TOKENS))
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world" and len(server.requests) == 2


async def test_rate_limit_gives_up_after_max_retries(server, protocol, model) -> None:
    server.push(*[protocol.status(429, "rate_limit_error", **{"Retry-After": "0"})] * 3)
    _, err = await collect(model, False)
    assert isinstance(err, RateLimitError) and len(server.requests) == 3


@SYNC
async def test_break_closes_the_upstream_promptly(sync, server, protocol, model) -> None:
    script = protocol.tokens([f"t{i} " for i in range(100)])
    script.rate = 0.02
    server.push(script)
    left = await break_after(model, sync)
    assert server.wait_closed() - left < 0.1


def test_missing_configuration_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(APIError, match="ANTHROPIC_API_KEY"):
        ChatAnthropic(model="claude-x")
    with pytest.raises(ValueError, match="model name"):
        ChatAnthropic(api_key="k")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    assert ChatAnthropic(model="m").base_url == "http://127.0.0.1:9"


@SYNC
async def test_anthropic_partial_keeps_the_input_usage(sync: bool, server) -> None:
    """An error after tokens: the partial has the exact input usage from message_start."""
    server.push(anthropic_tokens(TOKENS[:3], after=[anthropic_error(), sleep(5)], cache_read=2))
    chat = _anthropic(server)
    _, err = await collect(chat, sync)
    await chat.aclose()
    assert isinstance(err, ProviderError)
    usage = err.partial.usage_metadata
    assert usage["input_tokens"] == 7 and usage["output_tokens"] == 3
    assert usage["input_token_details"] == {"cache_read": 2, "cache_creation": 0}
    assert err.partial.response_metadata["usage_estimated"] is True
