"""Async streams of a model's own ``httpx.AsyncClient`` go straight to its transport
(`tokentide.models._direct.DirectSend`), past the client's request-building layers, with the
same result as the client's ``send``: the same request headers, the server's cookies kept and
sent back, a proxy named in the environment still used, and ``httpx``'s log line.

Each comparison is with the sync stream of the same model, which goes through ``httpx``'s own
client."""

from __future__ import annotations

import gc
import logging
import weakref

import pytest

from fakes.serve_process import free_port
from fakes.sse_server import Script, ScriptedSSEServer
from tokentide.errors import APIConnectionError
from tokentide.models import ChatOpenAI
from tokentide.models._direct import DirectSend, environment_proxies

from .openai_support import make_model

WORDS = ["Hel", "lo"]


def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _uses_direct(model: ChatOpenAI) -> bool:
    transport = model._transport
    return isinstance(transport._direct.get(transport.aclient()), DirectSend)


async def _atext(model: ChatOpenAI) -> str:
    return "".join([str(c.content) async for c in model.astream("hi")])


async def _through_client_then_direct(model: ChatOpenAI) -> None:
    """One sync stream (through ``httpx``'s client), then one async stream (the direct path);
    the model closed after."""
    try:
        assert "".join(str(c.content) for c in model.stream("hi")) == "Hello"
        assert await _atext(model) == "Hello"
        assert _uses_direct(model)
    finally:
        model.close()
        await model.aclose()


async def test_the_async_stream_sends_the_headers_the_client_would(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_proxy_env(monkeypatch)
    server.push(Script.tokens(WORDS), Script.tokens(WORDS))
    await _through_client_then_direct(make_model(server, default_headers={"X-Team": "tide"}))
    through_client, direct = (r.headers for r in server.requests)
    assert direct == through_client
    assert direct["user-agent"].startswith("python-httpx/")
    assert direct["accept"] == "text/event-stream" and direct["x-team"] == "tide"
    assert direct["authorization"] == "Bearer sk-test"
    assert server.requests[0].body == server.requests[1].body


async def test_a_cookie_the_server_sets_goes_back_with_the_next_request(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load balancer's sticky session: ``Set-Cookie`` on one stream, sent back on the next
    (as ``httpx``'s client does), and not sent before it was set."""
    _no_proxy_env(monkeypatch)
    sticky = Script.tokens(WORDS)
    sticky.headers = {"Set-Cookie": "lb=node-7; Path=/"}
    server.push(sticky, Script.tokens(WORDS), sticky, Script.tokens(WORDS))
    model = make_model(server)
    try:
        assert await _atext(model) == "Hello"
        assert await _atext(model) == "Hello"
        assert _uses_direct(model)
        for _ in range(2):
            assert "".join(str(c.content) for c in model.stream("hi")) == "Hello"
    finally:
        model.close()
        await model.aclose()
    cookies = [r.headers.get("cookie") for r in server.requests]
    assert cookies[:2] == [None, "lb=node-7"]  # direct
    assert cookies[2:] == [None, "lb=node-7"]  # through httpx's sync client


async def test_a_proxy_named_in_the_environment_is_still_used(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``HTTP_PROXY`` set, requests go through the client (``httpx`` sends them to the
    proxy, in absolute form); the scripted server plays the proxy here."""
    _no_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    assert environment_proxies()
    server.push(Script.tokens(WORDS))
    model = ChatOpenAI(
        model="m", base_url="http://upstream.invalid:9/v1", api_key="k", max_retries=0
    )
    try:
        assert await _atext(model) == "Hello"
        assert not _uses_direct(model)
    finally:
        await model.aclose()
    assert server.requests[0].path == "http://upstream.invalid:9/v1/chat/completions"


async def test_each_request_is_logged_as_httpx_logs_it(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _no_proxy_env(monkeypatch)
    server.push(Script.tokens(WORDS), Script.tokens(WORDS))
    with caplog.at_level(logging.INFO, logger="httpx"):
        await _through_client_then_direct(make_model(server))
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    expected = f'HTTP Request: POST {server.base_url}/chat/completions "HTTP/1.1 200 OK"'
    assert lines == [expected, expected]


async def test_a_refused_connection_is_still_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_proxy_env(monkeypatch)
    model = ChatOpenAI(
        model="m", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0
    )
    try:
        with pytest.raises(APIConnectionError, match="connection failed"):
            await _atext(model)
        assert _uses_direct(model)
    finally:
        await model.aclose()


async def test_a_closed_client_is_not_kept_alive(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's direct path is kept in a mapping weakly keyed by its client: once the
    client is closed (or its event loop gone), nothing holds it."""
    _no_proxy_env(monkeypatch)
    server.push(Script.tokens(WORDS))
    model = make_model(server)
    assert await _atext(model) == "Hello"
    client = weakref.ref(model._transport.aclient())
    await model.aclose()
    gc.collect()
    assert client() is None
    assert len(model._transport._direct) == 0


async def test_a_failure_reading_the_cookies_gives_the_connection_back(
    server: ScriptedSSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails between the response's headers and the caller (here the cookie jar),
    the response is closed and its pool slot given back."""
    import httpx

    from tokentide.models._pool import AsyncPool

    _no_proxy_env(monkeypatch)
    sticky = Script.tokens(WORDS)
    sticky.headers = {"Set-Cookie": "lb=node-7; Path=/"}
    server.push(sticky)

    def broken(self: httpx.Cookies, response: httpx.Response) -> None:
        raise RuntimeError("the cookie jar failed")

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", broken)
    model = make_model(server, max_retries=0)
    try:
        with pytest.raises(RuntimeError, match="the cookie jar failed"):
            await _atext(model)
        pool = model._transport.aclient()._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool, AsyncPool)
        assert pool.active == 0
    finally:
        await model.aclose()
