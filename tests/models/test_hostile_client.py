"""``ChatOpenAI`` against unlucky and hostile upstreams (the client half of the red-team suite,
see ``tests/server/test_hostile.py``): compressed event streams, answers that are not event
streams, long ``Retry-After``, endless SSE lines, upstream errors that echo credentials."""

from __future__ import annotations

import json

import httpx
import pytest

from fakes.live_server import live_server
from fakes.sse_server import Script, ScriptedSSEServer, chat_chunk, data, raw
from tokentide.errors import APIError, ProtocolError, RateLimitError
from tokentide.models import ChatOpenAI, FakeChatModel
from tokentide.server import create_app
from tokentide.wire import DEFAULT_MAX_EVENT_BYTES

from .openai_support import SYNC, collect, make_model, text_of

pytestmark = pytest.mark.timeout(60)

TOKENS = ["Hel", "lo", " wor", "ld"]
SECRET = "sk-proj-TOPsecret0123456789abcdef"


# ---------------------------------------------------------------------------- 5: compression


@SYNC
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_event_streams_are_decoded(
    server: ScriptedSSEServer, sync: bool, encoding: str
) -> None:
    script = Script.tokens(TOKENS)
    for _ in range(4):  # more than the retries: every request is compressed
        server.push(Script(script.steps, encoding=encoding))
    async with make_model(server) as model:
        for _ in range(4):
            chunks, error = await collect(model, sync)
            assert error is None and text_of(chunks) == "Hello world"
        assert "gzip" in server.requests[0].headers["accept-encoding"]


# ---------------------------------------------------------------------------- 10: odd answers


@SYNC
async def test_an_html_200_is_a_clear_error_not_retried(
    server: ScriptedSSEServer, sync: bool
) -> None:
    server.push(Script.page(b"<!doctype html><html><title>Sign in</title>" + b"x" * 5000))
    async with make_model(server, max_retries=2) as model:
        chunks, error = await collect(model, sync)
        assert chunks == [] and type(error) is APIError
        assert "text/html" in str(error) and "not an event stream" in str(error)
        assert "Sign in" in str(error) and len(str(error)) < 600
        assert len(server.requests) == 1


@SYNC
async def test_retry_after_beyond_the_cap_is_reported_not_retried(
    server: ScriptedSSEServer, sync: bool
) -> None:
    server.push(Script.error(429, "slow down", retry_after=120, code="rate_limit_exceeded"))
    async with make_model(server, max_retries=3) as model:
        _, error = await collect(model, sync)
        assert isinstance(error, RateLimitError) and error.retry_after == 120
        assert "retry after 120 s" in str(error) and "not retried" in str(error)
        assert len(server.requests) == 1


@SYNC
async def test_short_retry_after_is_still_retried(server: ScriptedSSEServer, sync: bool) -> None:
    server.push(Script.error(429, "slow down", retry_after=0.05), Script.tokens(TOKENS))
    async with make_model(server, max_retries=1) as model:
        chunks, error = await collect(model, sync)
        assert error is None and text_of(chunks) == "Hello world"
        assert len(server.requests) == 2


# ---------------------------------------------------------------------------- 12: SSE size


@SYNC
async def test_an_endless_sse_line_is_a_protocol_error(
    server: ScriptedSSEServer, sync: bool
) -> None:
    first = data(chat_chunk("Hi", role="assistant"))
    line = b'data: {"choices":[{"delta":{"content":"' + b"a" * (DEFAULT_MAX_EVENT_BYTES + 10)
    server.push(Script([first, raw(line)]))
    async with make_model(server) as model:
        chunks, error = await collect(model, sync)
        assert text_of(chunks) == "Hi"
        assert isinstance(error, ProtocolError) and "max_event_bytes" in str(error)


# ---------------------------------------------------------------------------- 9: secrets


def _echoing_error(status: int) -> Script:
    """An upstream (or its proxy) that echoes the request's credentials in its error text."""
    body = {
        "error": {
            "message": f"invalid header 'Authorization: Bearer {SECRET}' (api_key={SECRET})",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "request_headers": {"authorization": f"Bearer {SECRET}"},
        }
    }
    return Script(
        status=status, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode()
    )


@SYNC
async def test_upstream_errors_never_carry_the_key(server: ScriptedSSEServer, sync: bool) -> None:
    server.push(_echoing_error(401))
    async with make_model(server, api_key=SECRET, max_retries=0) as model:
        _, error = await collect(model, sync)
        assert isinstance(error, APIError)
        assert SECRET not in str(error) and SECRET not in json.dumps(error.body)
        assert "[redacted]" in str(error) and "401" in str(error)
        server.push(
            Script([data(chat_chunk("Hi", role="assistant")), data({"error": _echo_payload()})])
        )
        _, error = await collect(model, sync)
        assert error is not None and SECRET not in str(error)
        assert SECRET not in json.dumps(getattr(error, "body", None))


def _echo_payload() -> dict[str, str]:
    return {"message": f"upstream failed for key {SECRET}", "type": "server_error"}


def test_proxy_answers_and_run_records_never_carry_the_key(server: ScriptedSSEServer) -> None:
    upstream = ChatOpenAI(model="m", base_url=server.base_url, api_key=SECRET, max_retries=0)
    app = create_app(models={"proxy": upstream, "fake": FakeChatModel(["ok"])})
    with live_server(app) as live:
        server.push(_echoing_error(400))
        res = httpx.post(
            f"{live.base_url}/chat/completions",
            json={"model": "proxy", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert res.status_code == 400 and SECRET not in res.text and "[redacted]" in res.text
        server.push(_echoing_error(500))
        res = httpx.post(
            f"{live.base_url}/runs",
            json={"assistant": "proxy", "input": "hi", "stream": False},
        )
        run_id = res.json()["run_id"]
        record = httpx.get(f"{live.base_url}/runs/{run_id}")
        for _ in range(100):
            if record.json()["status"] not in ("pending", "running"):
                break
            record = httpx.get(f"{live.base_url}/runs/{run_id}")
        assert record.json()["status"] == "error"
        assert SECRET not in record.text
        events = httpx.get(f"{live.base_url}/runs/{run_id}/stream")
        assert "event: error" in events.text and SECRET not in events.text
        live.call(upstream.aclose())  # its async client lives on the server's loop


# ---------------------------------------------------------------------------- 7: split emoji


@SYNC
async def test_an_emoji_split_across_chunks_is_joined(
    server: ScriptedSSEServer, sync: bool
) -> None:
    server.push(Script.tokens(["Hi ", "\ud83d", "\ude00", "!"]))
    async with make_model(server) as model:
        chunks, error = await collect(model, sync)
        assert error is None
        assert text_of(chunks) == "Hi \U0001f600!"
        for chunk in chunks:
            chunk.content.encode("utf-8")  # valid Unicode: no lone surrogate in any chunk


def test_a_split_emoji_passes_a_proxy_whole(server: ScriptedSSEServer) -> None:
    upstream = ChatOpenAI(model="m", base_url=server.base_url, api_key="sk-x", max_retries=0)
    app = create_app(models={"proxy": upstream})
    with live_server(app) as live:
        server.push(Script.tokens(["Hi ", "\ud83d", "\ude00", "!"]))
        body = {"model": "proxy", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        res = httpx.post(f"{live.base_url}/chat/completions", json=body)
        lines = [line[6:] for line in res.text.splitlines() if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        text = "".join(
            json.loads(line)["choices"][0]["delta"].get("content") or ""
            for line in lines[:-1]
            if json.loads(line)["choices"]
        )
        assert text == "Hi \U0001f600!"
        live.call(upstream.aclose())
