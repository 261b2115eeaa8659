"""Bad requests get OpenAI error objects with the right status and a message saying what was
wrong; event streams carry the SSE hygiene headers and are never compressed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tokentide.models import FakeChatModel
from tokentide.server import create_app

pytestmark = pytest.mark.timeout(30)

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(models={"m": FakeChatModel(["Hello there"])}, max_body_bytes=2000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


def _check(res: httpx.Response, status: int, needle: str, param: str | None = None) -> None:
    assert res.status_code == status, res.text
    assert res.headers["content-type"] == "application/json"
    error = res.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert needle in error["message"], error["message"]
    if param is not None:
        assert error["param"] == param


@pytest.mark.parametrize(
    ("body", "needle", "param"),
    [
        ({"messages": USER}, "'model' is required", "model"),
        ({"model": 3, "messages": USER}, "'model' is required", "model"),
        ({"model": "m"}, "'messages' is required", "messages"),
        ({"model": "m", "messages": []}, "non-empty array", "messages"),
        (
            {"model": "m", "messages": [{"role": "wizard", "content": "x"}]},
            "invalid 'messages'",
            "messages",
        ),
        (
            {"model": "m", "messages": USER, "temperature": "hot"},
            "'temperature' must be a number",
            "temperature",
        ),
        (
            {"model": "m", "messages": USER, "temperature": True},
            "'temperature' must be a number",
            "temperature",
        ),
        (
            {"model": "m", "messages": USER, "max_tokens": 1.5},
            "'max_tokens' must be an integer",
            "max_tokens",
        ),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "at least 1", "max_tokens"),
        ({"model": "m", "messages": USER, "stream": "yes"}, "'stream' must be a boolean", "stream"),
        ({"model": "m", "messages": USER, "stop": [1]}, "'stop' must be", "stop"),
        ({"model": "m", "messages": USER, "n": 2}, "only n=1", "n"),
        (
            {"model": "m", "messages": USER, "stream_options": {"include_usage": 1}},
            "'include_usage' must be a boolean",
            "include_usage",
        ),
        ({"model": "m", "messages": USER, "tools": [{"type": "function"}]}, "'tools[0]'", "tools"),
        ([1], "must be a JSON object", None),
    ],
)
async def test_bad_fields_are_400(
    http: httpx.AsyncClient, body: Any, needle: str, param: str | None
) -> None:
    _check(await http.post("/v1/chat/completions", json=body), 400, needle, param)


async def test_malformed_and_empty_json(http: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/json"}
    res = await http.post("/v1/chat/completions", content=b'{"model": ', headers=json_type)
    _check(res, 400, "not valid JSON")
    res = await http.post("/v1/chat/completions", content=b"", headers=json_type)
    _check(res, 400, "empty")
    res = await http.post("/v1/chat/completions", content=b"\xff\xfe", headers=json_type)
    _check(res, 400, "not valid JSON")


async def test_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}
    _check(await http.post("/v1/chat/completions", json=big), 413, "larger than the limit of 2000")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 500

    res = await http.post(
        "/v1/chat/completions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _check(res, 413, "larger than the limit")


async def test_unknown_routes_and_methods(http: httpx.AsyncClient) -> None:
    _check(await http.get("/v2/nothing"), 404, "no route")
    _check(await http.get("/v1/nothing"), 404, "no route")
    res = await http.get("/v1/chat/completions")
    _check(res, 405, "GET is not allowed")
    assert res.headers["allow"] == "POST"
    _check(await http.get("/"), 404, "no route")  # the web page is off by default


async def test_stream_headers_and_no_compression(http: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    res = await http.post("/v1/chat/completions", json=body, headers={"Accept-Encoding": "gzip"})
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert res.headers["cache-control"] == "no-cache"
    assert res.headers["x-accel-buffering"] == "no"
    assert res.headers["connection"] == "keep-alive"
    assert "content-encoding" not in res.headers
    assert res.content.endswith(b"data: [DONE]\n\n")


async def test_gzip_middleware_leaves_event_streams_alone() -> None:
    """Documented behaviour: Starlette's GZipMiddleware (installed version) excludes
    ``text/event-stream`` by default, so wrapping the app keeps events flowing one by one."""
    gzip = pytest.importorskip("starlette.middleware.gzip")
    app = create_app(models={"m": FakeChatModel(["word " * 400])})
    wrapped = gzip.GZipMiddleware(app, minimum_size=10)
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        headers = {"Accept-Encoding": "gzip"}
        body = {"model": "m", "messages": USER, "stream": True}
        res = await client.post("/v1/chat/completions", json=body, headers=headers)
        assert "content-encoding" not in res.headers
        plain = await client.post("/v1/models", headers=headers)
        assert plain.status_code == 405  # a JSON route still goes through the middleware
        body["stream"] = False
        res = await client.post("/v1/chat/completions", json=body, headers=headers)
        assert res.headers["content-encoding"] == "gzip"


async def test_web_page_hook(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tokentide.server import _app

    monkeypatch.setattr(_app, "STATIC_DIR", tmp_path)
    app = create_app(models={"m": FakeChatModel()}, web=True, api_key="k")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        assert (await client.get("/")).status_code == 404
        (tmp_path / "index.html").write_text("<h1>chat</h1>")
        res = await client.get("/")
        assert res.status_code == 200 and res.text == "<h1>chat</h1>"
        assert res.headers["content-type"] == "text/html; charset=utf-8"
