"""ChatOpenAI failure matrix against the scripted SSE server: typed errors, partials, retries
only before the first token, idle timeouts, prompt close."""

from __future__ import annotations

import asyncio
import gc
import socket
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from fakes.sse_server import (
    Script,
    ScriptedSSEServer,
    chat_chunk,
    comment,
    data,
    end,
    raw,
    reset,
    sleep,
    usage_chunk,
)
from tokentide.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    StreamError,
    StreamIdleTimeout,
    StreamInterrupted,
)
from tokentide.models import ChatOpenAI

from .openai_support import SYNC, break_after, collect, make_model, text_of

TOKENS = ["Hel", "lo", " wor", "ld"]


@pytest.fixture
async def model(server: ScriptedSSEServer) -> AsyncIterator[ChatOpenAI]:
    """The shared model fixture's, with a short idle timeout."""
    chat = make_model(server, idle_timeout=0.4)
    yield chat
    await chat.aclose()


# ------------------------------------------------------------------------ after the first token


@SYNC
async def test_reset_after_tokens_is_stream_interrupted(sync, server, model) -> None:
    server.push(Script.tokens(TOKENS[:2], after=[reset()]))
    chunks, err = await collect(model, sync)
    assert isinstance(err, StreamInterrupted) and err.retryable
    assert text_of(chunks) == "Hello" and err.partial.content == "Hello"
    assert len(server.requests) == 1  # never retried after the first token


@SYNC
async def test_close_without_done_is_stream_interrupted(sync, server, model) -> None:
    server.push(Script.tokens(TOKENS, after=[end()]))
    chunks, err = await collect(model, sync)
    assert isinstance(err, StreamInterrupted)
    assert "[DONE]" in str(err)
    assert err.partial.content == "Hello world"
    assert len(server.requests) == 1


@SYNC
async def test_usage_known_before_the_cut_is_in_the_partial(sync, server, model) -> None:
    steps = [data(chat_chunk(finish_reason="stop")), data(usage_chunk(7, 4)), reset()]
    server.push(Script.tokens(TOKENS, after=steps))
    _, err = await collect(model, sync)
    assert isinstance(err, StreamInterrupted)
    assert err.partial.usage_metadata == {"input_tokens": 7, "output_tokens": 4, "total_tokens": 11}
    assert err.partial.response_metadata["finish_reason"] == "stop"


@SYNC
async def test_in_band_error_after_tokens_is_provider_error(sync, server, model) -> None:
    error = {"error": {"message": "model overloaded", "type": "server_error", "code": "overloaded"}}
    server.push(Script.tokens(TOKENS[:3], after=[data(error), sleep(5)]))
    chunks, err = await collect(model, sync)
    assert isinstance(err, ProviderError)
    assert "model overloaded" in str(err) and err.code == "overloaded" and err.retryable
    assert err.partial.content == "Hello wor" == text_of(chunks)
    assert len(server.requests) == 1


@SYNC
async def test_invalid_json_after_tokens_is_protocol_error(sync, server, model) -> None:
    server.push(Script.tokens(TOKENS[:2], after=[data("{not json at all"), sleep(5)]))
    _, err = await collect(model, sync)
    assert isinstance(err, ProtocolError) and not err.retryable
    assert "{not json at all" in str(err)
    assert err.partial.content == "Hello"


@SYNC
async def test_silence_after_tokens_times_out(sync, server, model) -> None:
    server.push(Script.tokens(TOKENS[:2], after=[sleep(3)]))
    started = time.monotonic()
    _, err = await collect(model, sync)
    elapsed = time.monotonic() - started
    assert isinstance(err, StreamIdleTimeout) and err.retryable
    assert err.partial.content == "Hello"
    assert 0.35 < elapsed < 2.5  # idle_timeout 0.4 s, slack for a loaded machine; silence is 3 s


@SYNC
async def test_keepalive_comments_do_not_count_as_progress(sync, server, model) -> None:
    # 4 s of pings: a client that counted them as progress would not time out before they end.
    pings = [step for _ in range(80) for step in (comment("ping"), sleep(0.05))]
    server.push(Script.tokens(TOKENS[:2], after=pings))
    started = time.monotonic()
    _, err = await collect(model, sync)
    elapsed = time.monotonic() - started
    assert isinstance(err, StreamIdleTimeout)
    assert err.partial.content == "Hello"
    # idle_timeout is 0.4 s (sync: raised at the first ping after it); the slack is for a
    # loaded machine, well short of the pings' end.
    assert elapsed < 2.5


@SYNC
async def test_slow_but_steady_stream_does_not_time_out(sync, server, model) -> None:
    server.push(Script.tokens(["a"] * 6, rate=0.15))  # total 1 s > idle_timeout 0.4 s
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "aaaaaa"


# ------------------------------------------------------------------------ before the first token


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, APIStatusError),
    ],
)
@SYNC
async def test_http_status_errors_are_typed_and_not_retried(sync, status, cls, server, model):
    server.push(Script.error(status, f"the server says no ({status})"))
    chunks, err = await collect(model, sync)
    assert type(err) is cls and isinstance(err, APIStatusError)
    assert err.status_code == status and not err.retryable
    assert f"the server says no ({status})" in str(err)
    assert chunks == [] and len(server.requests) == 1


@SYNC
async def test_429_is_retried_honouring_retry_after(sync, server, model) -> None:
    server.push(Script.error(429, "slow down", retry_after=0.2), Script.tokens(TOKENS))
    started = time.monotonic()
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world"
    assert len(server.requests) == 2
    assert time.monotonic() - started >= 0.2


@SYNC
async def test_429_gives_up_after_max_retries(sync, server, model) -> None:
    server.push(*[Script.error(429, "slow down", retry_after=0)] * 3)
    _, err = await collect(model, sync)
    assert isinstance(err, RateLimitError) and err.retry_after == 0
    assert len(server.requests) == 3  # 1 + max_retries


@SYNC
async def test_500_then_success_is_retried(sync, server, model) -> None:
    server.push(Script.error(500, "boom"), Script.error(503, "busy"), Script.tokens(TOKENS))
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world"
    assert len(server.requests) == 3


@SYNC
async def test_500_persistent_raises_api_status_error(sync, server) -> None:
    chat = make_model(server, max_retries=1)
    server.push(*[Script.error(500, "boom")] * 2)
    _, err = await collect(chat, sync)
    await chat.aclose()
    assert type(err) is APIStatusError and err.status_code == 500 and err.retryable
    assert len(server.requests) == 2


@SYNC
async def test_reset_before_first_token_is_retried(sync, server, model) -> None:
    server.push(Script([data(chat_chunk(role="assistant", content="")), reset()]))
    server.push(Script.tokens(TOKENS))
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world"
    assert len(server.requests) == 2


@SYNC
async def test_in_band_rate_limit_as_first_event_is_retried(sync, server, model) -> None:
    error = {"error": {"message": "rate limited", "type": "rate_limit_exceeded", "code": 429}}
    server.push(Script([data(error)]), Script.tokens(TOKENS))
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world"
    assert len(server.requests) == 2


@SYNC
async def test_in_band_error_as_first_event_is_an_api_error(sync, server, model) -> None:
    server.push(Script([data({"error": {"message": "weird thing", "code": "weird"}})]))
    chunks, err = await collect(model, sync)
    assert type(err) is APIError and not isinstance(err, StreamError)
    assert "weird thing" in str(err) and chunks == []
    assert len(server.requests) == 1


@SYNC
async def test_in_band_context_error_first_is_bad_request(sync, server, model) -> None:
    error = {"error": {"message": "too long", "type": "invalid_request_error"}}
    server.push(Script([data(error)]))
    _, err = await collect(model, sync)
    assert isinstance(err, BadRequestError) and "too long" in str(err)


@SYNC
async def test_connect_error_maps_to_api_connection_error(sync) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chat = ChatOpenAI(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1)
    chat._transport.retry_base_delay = 0.01
    _, err = await collect(chat, sync)
    await chat.aclose()
    assert type(err) is APIConnectionError and err.retryable


@SYNC
async def test_empty_body_is_not_an_empty_success(sync, server) -> None:
    chat = make_model(server, max_retries=0)
    server.push(Script([end()]))
    chunks, err = await collect(chat, sync)
    await chat.aclose()
    assert isinstance(err, APIConnectionError) and chunks == []


@SYNC
async def test_split_crlf_events_map_correctly(sync, server, model) -> None:
    body = b"".join(
        f'data: {{"choices":[{{"delta":{{"content":"{t}"}}}}]}}\r\n\r\n'.encode() for t in TOKENS
    )
    steps = [raw(body[i : i + 7]) for i in range(0, len(body), 7)] + [raw(b"data: [DONE]\r\n\r\n")]
    server.push(Script(steps))
    chunks, err = await collect(model, sync)
    assert err is None and text_of(chunks) == "Hello world"


# ------------------------------------------------------------------------ closing early


def _stream_script() -> Script:
    return Script.tokens([f"t{i} " for i in range(100)], rate=0.02)  # 50 tokens/s


@SYNC
async def test_break_closes_the_upstream_within_50ms(sync, server, model) -> None:
    delays = []
    for _ in range(5):
        server.push(_stream_script())
        left = await break_after(model, sync)
        delays.append(server.wait_closed() - left)
    # The claim is the typical delay; one trial that a loaded machine stalls (a GC pause, the
    # server thread not scheduled) may take longer, but never as long as the stream would run.
    assert statistics.median(delays) < 0.05 and max(delays) < 0.5, delays
    assert len(server.requests) == 5


async def test_task_cancellation_closes_the_upstream_within_50ms(server, model) -> None:
    delays = []
    for _ in range(3):
        server.push(_stream_script())
        got_five = asyncio.Event()

        async def consume(got_five: asyncio.Event = got_five) -> None:
            n = 0
            async for _chunk in model.astream("hi"):
                n += 1
                if n == 5:
                    got_five.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got_five.wait(), 5)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        delays.append(server.wait_closed() - t0)
        assert asyncio.all_tasks() == {asyncio.current_task()}
    assert statistics.median(delays) < 0.05 and max(delays) < 0.5, delays


@SYNC
async def test_finished_stream_returns_its_connection_to_the_pool(sync, server, model) -> None:
    for _ in range(3):
        server.push(Script.tokens(TOKENS))
        chunks, err = await collect(model, sync)
        assert err is None and text_of(chunks) == "Hello world"
    assert len(server.requests) == 3 and len(server.connections) == 1


@SYNC
async def test_no_resource_warning_after_break_and_close(sync, server, recwarn) -> None:
    chat = make_model(server)
    server.push(_stream_script())
    if sync:
        for _chunk in chat.stream("hi"):
            break
    else:
        stream = chat.astream("hi")
        async for _chunk in stream:
            break
        await stream.aclose()
    await chat.aclose()
    gc.collect()
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]


async def test_context_managers_close_the_clients(server) -> None:
    with make_model(server) as chat:
        chat.invoke("hi")
        client = chat._transport._client
    assert client is not None and client.is_closed
    async with make_model(server) as chat:
        await chat.ainvoke("hi")
        aclient = chat._transport.aclient()
    assert aclient.is_closed
