"""OpenAI (``/v1/completions``) against the scripted SSE server: request, mapping, usage,
errors before and after the first token, retries, idle timeout and prompt close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from fakes.sse_server import Script, ScriptedSSEServer, comment, data, end, reset, sleep
from tokentide.errors import (
    APIError,
    AuthenticationError,
    ProviderError,
    RateLimitError,
    StreamIdleTimeout,
    StreamInterrupted,
)
from tokentide.models import CompletionText, OpenAI
from tokentide.wire import ServerSentEvent

from .openai_support import SYNC, collect


def text_chunk(text: str, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """One streamed ``text_completion`` chunk."""
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 1700000000,
        "model": "instruct-fake",
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }


USAGE_CHUNK = {
    "id": "cmpl-fake",
    "object": "text_completion",
    "created": 1700000000,
    "model": "instruct-fake",
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


def completion_script(
    tokens: list[str], *, usage: bool = True, done: bool = True, rate: float = 0.0
) -> Script:
    steps = [data(text_chunk(t)) for t in tokens]
    steps.append(data(text_chunk("", "stop")))
    if usage:
        steps.append(data(USAGE_CHUNK))
    if done:
        steps.append(data("[DONE]"))
    return Script(steps, rate=rate)


TOKENS = ["\n\n", "Spark", "ling", " water"]


@pytest.fixture
def server() -> Iterator[ScriptedSSEServer]:
    with ScriptedSSEServer(completion_script(TOKENS)) as srv:
        yield srv


@pytest.fixture
async def llm(server: ScriptedSSEServer) -> AsyncIterator[OpenAI]:
    model = OpenAI(
        base_url=server.base_url, api_key="sk-test", temperature=0, max_tokens=512, idle_timeout=0.4
    )
    model._transport.retry_base_delay = 0.01
    yield model
    await model.aclose()


@SYNC
async def test_streams_text_chunks_and_posts_a_completions_body(sync, llm, server) -> None:
    chunks, err = await collect(llm, sync, "Write me a 1 verse song about sparkling water.")
    assert err is None
    assert chunks == [*TOKENS, ""]  # the finish chunk's empty text too, as LangChain
    request = server.requests[-1]
    assert request.path == "/v1/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Write me a 1 verse song about sparkling water.",
        "stream": True,
        "temperature": 0,
        "max_tokens": 512,
        "stream_options": {"include_usage": True},
    }


@SYNC
async def test_invoke_has_usage_and_metadata(sync, llm) -> None:
    result = llm.invoke("x") if sync else await llm.ainvoke("x")
    assert isinstance(result, CompletionText)
    assert result == "\n\nSparkling water"
    assert result.usage_metadata == {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13}
    assert result.response_metadata["finish_reason"] == "stop"
    assert result.response_metadata["model_name"] == "instruct-fake"
    assert "usage_missing" not in result.response_metadata


@SYNC
async def test_a_server_without_usage_is_flagged(sync, llm, server) -> None:
    server.push(completion_script(["a", "b"], usage=False))
    result = llm.invoke("x") if sync else await llm.ainvoke("x")
    assert result == "ab" and result.usage_metadata is None
    assert result.response_metadata["usage_missing"] is True


async def test_options_stop_and_per_call_kwargs(server) -> None:
    model = OpenAI(
        "my-instruct",
        base_url=server.base_url,
        seed=3,
        stop=["\n"],
        top_p=0.5,
        stream_usage=False,
        default_headers={"X-Test": "1"},
    )
    model.invoke("x", stop=["END"], max_tokens=7, logit_bias={"1": 2})
    body = server.requests[-1].json
    assert body["model"] == "my-instruct" and body["seed"] == 3 and body["top_p"] == 0.5
    assert body["stop"] == ["END"] and body["max_tokens"] == 7 and body["logit_bias"] == {"1": 2}
    assert "stream_options" not in body and "authorization" not in server.requests[-1].headers
    assert server.requests[-1].headers["x-test"] == "1"
    model.invoke("y")
    assert (
        server.requests[-1].json["stop"] == ["\n"] and server.requests[-1].json["max_tokens"] == 256
    )
    model.close()


def test_min_tokens_goes_in_the_body(server) -> None:
    """llama.cpp's server and vLLM take ``min_tokens``; it is sent as given."""
    model = OpenAI(base_url=server.base_url, model_kwargs={"min_tokens": 16})
    model.invoke("x")
    assert server.requests[-1].json["min_tokens"] == 16
    model.invoke("x", min_tokens=4)
    assert server.requests[-1].json["min_tokens"] == 4
    model.close()


def test_configuration_rules(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(APIError, match="LlamaCpp"):
        OpenAI()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert OpenAI().base_url == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    model = OpenAI(model_name="davinci-002")
    assert model.base_url == "https://api.openai.com/v1" and model.model == "davinci-002"
    assert model.get_name() == "OpenAI" and "davinci-002" in repr(model)
    with pytest.raises(ValueError, match="disagree"):
        OpenAI(model="a", model_name="b")


# ------------------------------------------------------------------ errors


@SYNC
async def test_http_error_before_first_token_is_typed(sync, llm, server) -> None:
    server.push(Script.error(401, "bad key", type="invalid_request_error", code="invalid_api_key"))
    chunks, err = await collect(llm, sync)
    assert chunks == [] and isinstance(err, AuthenticationError)
    assert "bad key" in str(err)


@SYNC
async def test_retries_happen_before_the_first_token(sync, llm, server) -> None:
    server.push(Script.error(429, "slow down", retry_after=0), Script([reset()]))
    chunks, err = await collect(llm, sync)
    assert err is None and "".join(chunks) == "\n\nSparkling water"
    assert len(server.requests) == 3


@SYNC
async def test_exhausted_retries_raise(sync, llm, server) -> None:
    server.push(*[Script.error(429, "slow down", retry_after=0)] * 3)
    _, err = await collect(llm, sync)
    assert isinstance(err, RateLimitError)
    assert len(server.requests) == 3


@SYNC
async def test_interruption_after_first_token_keeps_partial(sync, llm, server) -> None:
    server.push(Script([data(text_chunk("Hel")), data(text_chunk("lo")), reset()]))
    chunks, err = await collect(llm, sync)
    assert chunks == ["Hel", "lo"]
    assert isinstance(err, StreamInterrupted) and err.retryable
    assert err.partial == "Hello" and isinstance(err.partial, CompletionText)
    assert len(server.requests) == 1  # never retried after the first token


@SYNC
async def test_missing_done_is_an_interruption(sync, llm, server) -> None:
    server.push(completion_script(["a"], done=False))
    chunks, err = await collect(llm, sync)
    assert chunks == ["a", ""] and isinstance(err, StreamInterrupted)
    assert err.partial.usage_metadata["total_tokens"] == 13  # usage seen is kept


@SYNC
async def test_in_band_error_after_first_token(sync, llm, server) -> None:
    error = {"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}
    server.push(Script([data(text_chunk("a")), data(error)]))
    chunks, err = await collect(llm, sync)
    assert chunks == ["a"] and isinstance(err, ProviderError)
    assert err.retryable and err.partial == "a" and "overloaded" in str(err)


@SYNC
async def test_idle_timeout_after_first_token(sync, llm, server) -> None:
    # 4 s of comments: a client that counted them as progress would not time out before they end.
    steps = [data(text_chunk("a"))] + [comment(), sleep(0.15)] * 27 + [data("[DONE]")]
    server.push(Script(steps))
    started = time.monotonic()
    chunks, err = await collect(llm, sync)
    assert chunks == ["a"] and isinstance(err, StreamIdleTimeout)
    assert err.partial == "a"
    # idle_timeout is 0.4 s; the slack is for a loaded machine, well short of the comments' end.
    assert time.monotonic() - started < 2.5


@SYNC
async def test_bad_json_is_a_protocol_error(sync, llm, server) -> None:
    server.push(Script([data(text_chunk("a")), data("{nope"), end()]))
    chunks, err = await collect(llm, sync)
    assert chunks == ["a"] and type(err).__name__ == "ProtocolError"


# ------------------------------------------------------------------ prompt close


async def test_break_closes_the_http_response_at_once(llm, server) -> None:
    server.push(completion_script([f"t{i}" for i in range(500)], rate=0.02))
    stream = llm.stream("x")
    for chunk in stream:
        if chunk == "t2":
            break
    closed_at = time.monotonic()
    stream.close()
    assert server.wait_closed() - closed_at < 0.5


async def test_aclose_closes_the_http_response_at_once(llm, server) -> None:
    server.push(completion_script([f"t{i}" for i in range(500)], rate=0.02))
    stream = llm.astream("x")
    async for chunk in stream:
        if chunk == "t2":
            break
    closed_at = time.monotonic()
    await stream.aclose()
    assert await asyncio.to_thread(server.wait_closed) - closed_at < 0.5


async def test_cancellation_closes_the_http_response(llm, server) -> None:
    server.push(completion_script([f"t{i}" for i in range(500)], rate=0.02))
    got: list[str] = []
    two = asyncio.Event()

    async def consume() -> None:
        async for chunk in llm.astream("x"):
            got.append(chunk)
            if len(got) == 2:
                two.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(two.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(server.wait_closed)


def test_parser_maps_logprobs_and_fingerprint() -> None:
    from tokentide.models._completion_openai import CompletionChunkParser

    parser = CompletionChunkParser()
    chunk = text_chunk("a", system_fingerprint="fp_1")
    chunk["choices"][0]["logprobs"] = {"tokens": ["a"]}
    import json

    items = parser.feed([ServerSentEvent(data=json.dumps(chunk)), ServerSentEvent(data="[DONE]")])
    assert items[0] == "a" and parser.done
    info = items[1]
    assert info.response_metadata["system_fingerprint"] == "fp_1"  # type: ignore[union-attr]
    assert info.response_metadata["logprobs"] == [{"tokens": ["a"]}]  # type: ignore[union-attr]
