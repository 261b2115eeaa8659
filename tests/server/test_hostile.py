"""The server against hostile and unlucky clients: one test (or more) per finding.

Connection limits run against a real ``tokentide serve`` process (an API key set: every
refusal here happens before authentication); the rest against the app in-process or on
uvicorn in a thread. Client-side findings (gzip, non-SSE answers, Retry-After, SSE event size,
secrets in upstream errors) are in ``tests/models/test_hostile_client.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from fakes.live_server import live_server
from fakes.serve_process import free_port, popen_serve, wait_serving
from tokentide.cli import build_parser
from tokentide.cli._serve import ServeError, build_app, check_args
from tokentide.models import FakeChatModel
from tokentide.server import ServerLimits, create_app, uvicorn_options

from .cors import preflight

pytestmark = pytest.mark.timeout(60)

KEY = "hostile-test-key-0123"
USER = [{"role": "user", "content": "hi"}]
JSON = {"Content-Type": "application/json"}
MiB = 1024 * 1024


# ---------------------------------------------------------------------------- a real server


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.ps = psutil.Process(proc.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return sock


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """``tokentide serve`` with an API key and short header, body and keep-alive timeouts."""
    port = free_port()
    options = ["--model", "fake", "--header-timeout", "2", "--body-timeout", "2"]
    options += ["--keep-alive-timeout", "2", "--log-level", "warning"]
    env = {**os.environ, "TOKENTIDE_API_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    proc = popen_serve(options, port, env)
    wait_serving(proc, port)
    try:
        yield Served(proc, port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _read_answer(sock: socket.socket, timeout: float = 10) -> bytes:
    """What the server sends until it closes (or ``timeout``); b"" after a reset."""
    sock.settimeout(timeout)
    parts = []
    try:
        while chunk := sock.recv(65536):
            parts.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(parts)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _error(answer: bytes) -> dict[str, Any]:
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


# ---------------------------------------------------------------------------- 3: connection limits


def test_unterminated_50_mb_header_is_refused_without_memory_growth(served: Served) -> None:
    for _ in range(3):  # warm up, so that the first requests' allocations are not counted
        httpx.get(f"http://127.0.0.1:{served.port}/v1/models", timeout=5)
    before = served.rss()
    sock = served.connect()
    head = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "

    def flood() -> None:
        try:
            sock.sendall(head + b"a" * (50 * MiB))
        except OSError:
            pass  # refused and closed: expected

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    answer = _read_answer(sock)
    sender.join(20)
    sock.close()
    assert not sender.is_alive(), "the server kept reading a 50 MB header"
    if answer:  # the 431 arrived before the client's own send broke the connection
        assert _status(answer) == 431 and _error(answer)["code"] == "headers_too_large"
    growth = served.rss() - before
    assert growth < 8 * MiB, f"the server grew by {growth / MiB:.1f} MiB"
    assert httpx.get(f"http://127.0.0.1:{served.port}/v1/models").status_code == 401


def test_large_header_count_and_request_line_are_refused(served: Served) -> None:
    cases = [
        (b"GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 40_000 + b"\r\n\r\n", 431),
        (b"GET /v1/models HTTP/1.1\r\n" + b"X-H: v\r\n" * 150 + b"\r\n", 431),
        (b"GET /v1/models?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ]
    for request, status in cases:
        sock = served.connect()
        sock.sendall(request)
        answer = _read_answer(sock)
        sock.close()
        assert _status(answer) == status, answer[:200]
        assert b"connection: close" in answer.lower()
        _error(answer)


def test_slowloris_connections_are_closed_after_the_header_timeout(served: Served) -> None:
    started = time.monotonic()  # before the connections: each timeout runs from its accept
    socks = [served.connect() for _ in range(40)]
    for sock in socks:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.setblocking(False)
    closed: dict[int, float] = {}
    answers: dict[int, bytes] = {i: b"" for i in range(len(socks))}
    while len(closed) < len(socks) and time.monotonic() - started < 12:
        for i, sock in enumerate(socks):  # one byte a second on each connection
            if i in closed:
                continue
            try:
                sock.send(b"X")
                while chunk := sock.recv(4096):
                    answers[i] += chunk
                closed[i] = time.monotonic() - started  # recv gave b"": closed
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = time.monotonic() - started
        if len(closed) < len(socks):
            # meanwhile the server still answers others at once
            assert httpx.get(f"http://127.0.0.1:{served.port}/v1/models").status_code == 401
            time.sleep(1.0)
    for sock in socks:
        sock.close()
    assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow connections stayed open"
    assert max(closed.values()) < 2 + 5, closed  # header timeout 2 s, generous margin
    assert min(closed.values()) >= 1.5, closed
    timed_out = [a for a in answers.values() if a]
    assert all(_status(a) == 408 for a in timed_out), timed_out[:1]


def test_silent_and_idle_kept_alive_connections_are_closed(served: Served) -> None:
    silent = served.connect()  # never sends a byte
    idle = served.connect()  # one request, then nothing
    idle.sendall(
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\n\r\n"
    )
    started = time.monotonic()
    assert _status(_read_answer(idle, timeout=10)) == 200  # then closed at keep-alive end
    assert _read_answer(silent, timeout=10) == b""
    assert time.monotonic() - started < 8
    silent.close()
    idle.close()


def test_slow_body_gets_408(served: Served) -> None:
    sock = served.connect()
    started = time.monotonic()  # before the send: the body's deadline runs from its head
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + KEY.encode()
        + b'\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":'
    )
    answer = _read_answer(sock, timeout=10)
    sock.close()
    assert _status(answer) == 408 and _error(answer)["code"] == "body_timeout"
    assert 1.5 < time.monotonic() - started < 8


def test_connections_past_the_limit_get_503() -> None:
    app = create_app(models={"m": FakeChatModel(["ok"])})
    limits = ServerLimits(max_connections=5)
    with live_server(app, **uvicorn_options(limits)) as live:
        held = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(5)]
        try:
            extra = socket.create_connection(("127.0.0.1", live.port))
            answer = _read_answer(extra, timeout=10)
            extra.close()
            assert _status(answer) == 503 and b"retry-after: 1" in answer
            assert _error(answer)["code"] == "too_many_connections"
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 10
        while True:  # the held ones closed: there is room again
            res = httpx.get(f"{live.base_url}/models")
            if res.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert res.status_code == 200


def test_the_limited_protocol_pickles_for_worker_processes() -> None:
    limits = ServerLimits(max_connections=7)
    options = pickle.loads(pickle.dumps(uvicorn_options(limits)))
    assert options["http"].keywords["limits"] == limits
    assert options["timeout_keep_alive"] == limits.keep_alive


def test_limits_apply_on_h11_too() -> None:
    app = create_app(models={"m": FakeChatModel(["ok"])})
    limits = ServerLimits(header_timeout=1)
    with live_server(app, **uvicorn_options(limits, http="h11")) as live:
        sock = socket.create_connection(("127.0.0.1", live.port))
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 40_000)
        assert _status(_read_answer(sock)) in (431, 400)  # 400: h11's own bound came first
        sock.close()
        sock = socket.create_connection(("127.0.0.1", live.port))
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: a\r\n")
        started = time.monotonic()
        assert _status(_read_answer(sock)) == 408
        assert time.monotonic() - started < 5
        sock.close()
        assert httpx.get(f"{live.base_url}/models").status_code == 200


# ---------------------------------------------------------------------------- 6: browsers


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        models={"m": FakeChatModel(["Hello there"])},
        web=True,
        allowed_hosts=["api.example.com", ".corp.example"],
        cors_origins=["http://localhost:3000"],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as client:
        yield client


def _check(res: httpx.Response, status: int, needle: str) -> dict[str, Any]:
    assert res.status_code == status, res.text
    error = res.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert needle in error["message"], error["message"]
    return dict(error)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost:8000", True),
        ("app.localhost", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("10.1.2.3", True),
        ("api.example.com", True),
        ("x.corp.example:443", True),
        ("corp.example", True),
        ("attacker.example", False),  # DNS rebinding: a name that resolves to 127.0.0.1
        ("localhost.attacker.example", False),
        ("evilcorp.example", False),
    ],
)
async def test_only_allowed_hosts(http: httpx.AsyncClient, host: str, allowed: bool) -> None:
    res = await http.get("/v1/models", headers={"Host": host})
    if allowed:
        assert res.status_code == 200, res.text
    else:
        assert _check(res, 403, "is not allowed")["code"] == "host_not_allowed"


async def test_cross_site_requests_are_refused(http: httpx.AsyncClient) -> None:
    evil = {"Origin": "https://evil.example"}
    body = json.dumps({"model": "m", "messages": USER}).encode()
    # the no-preflight form post of the finding
    res = await http.post(
        "/v1/chat/completions", content=body, headers={**evil, "Content-Type": "text/plain"}
    )
    assert _check(res, 403, "not allowed")["code"] == "origin_not_allowed"
    res = await http.post("/v1/runs/run_abc/cancel", headers=evil)
    _check(res, 403, "cross-origin requests from 'https://evil.example'")
    _check(await http.get("/v1/models", headers={"Origin": "null"}), 403, "not allowed")
    res = await http.options("/v1/chat/completions", headers=evil)
    assert res.status_code == 403 and "access-control-allow-origin" not in res.headers


async def test_same_origin_and_cors_origins(http: httpx.AsyncClient) -> None:
    same = {"Origin": "http://localhost:8000", **JSON}
    res = await http.post(
        "/v1/chat/completions", json={"model": "m", "messages": USER}, headers=same
    )
    assert res.status_code == 200 and "access-control-allow-origin" not in res.headers
    app_origin = {"Origin": "http://localhost:3000"}
    pre = await preflight(
        http, "/v1/chat/completions", "http://localhost:3000", "authorization, content-type"
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "content-type" in pre.headers["access-control-allow-headers"]
    res = await http.post(
        "/v1/runs", json={"assistant": "m", "input": "hi"}, headers={**app_origin, **JSON}
    )
    assert res.status_code == 200
    assert res.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "x-run-id" in res.headers["access-control-expose-headers"]


@pytest.mark.parametrize("kind", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_json_endpoints_need_application_json(
    http: httpx.AsyncClient, kind: str | None
) -> None:
    body = json.dumps({"model": "m", "messages": USER}).encode()
    headers = {"Content-Type": kind} if kind else {}
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/runs"):
        res = await http.post(path, content=body, headers=headers)
        assert _check(res, 415, "application/json")["code"] == "unsupported_media_type"
    res = await http.post(
        "/v1/chat/completions",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert res.status_code == 200


async def test_web_page_has_csp_and_no_framing(http: httpx.AsyncClient) -> None:
    res = await http.get("/")
    assert res.status_code == 200
    assert res.headers["x-frame-options"] == "DENY"
    assert res.headers["x-content-type-options"] == "nosniff"
    csp = res.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "connect-src 'self'" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script>(.*?)</script>", res.text, re.S)
    assert scripts
    for script in scripts:  # the page's own script, and only it, may run
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


# ---------------------------------------------------------------------------- 7, 11: bad input


async def test_hostile_json_gets_400_not_500(http: httpx.AsyncClient) -> None:
    deep = b'{"model": "m", "messages": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    res = await http.post("/v1/chat/completions", content=deep, headers=JSON)
    assert _check(res, 400, "nested deeper than")["code"] == "too_deep"
    deep_run = b'{"assistant": "m", "input": "hi", "config": {"metadata": ' + b"[" * 150
    deep_run += b"]" * 150 + b"}}"
    _check(await http.post("/v1/runs", content=deep_run, headers=JSON), 400, "nested deeper")
    big = b'{"model": "m", "messages": [], "seed": ' + b"9" * 5000 + b"}"
    _check(await http.post("/v1/chat/completions", content=big, headers=JSON), 400, "not valid")
    for field in (
        b'"model": "\\ud800"',
        b'"model": "m", "messages": [{"role": "user", "content": "a\\udfff"}]',
    ):
        res = await http.post("/v1/chat/completions", content=b"{" + field + b"}", headers=JSON)
        assert _check(res, 400, "lone UTF-16 surrogate")["code"] == "invalid_unicode"
        assert res.content.decode("utf-8")  # the error body itself is valid UTF-8
    # a proper pair is fine
    ok = b'{"model": "m", "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'
    assert (await http.post("/v1/chat/completions", content=ok, headers=JSON)).status_code == 200


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'"temperature": NaN', "NaN is not valid JSON"),
        (b'"temperature": Infinity', "Infinity is not valid JSON"),
        (b'"temperature": 1e999', "'temperature' must be between 0 and 2"),
        (b'"temperature": -0.5', "'temperature' must be between 0 and 2"),
        (b'"top_p": 99', "'top_p' must be between 0 and 1"),
        (b'"max_tokens": 1000000000000000000000000000000', "'max_tokens' must be at most"),
        (b'"max_completion_tokens": 1000000000', "must be at most 1000000"),
        (b'"seed": 100000000000000000000000', "64-bit"),
    ],
)
async def test_absurd_sampling_options_are_400(
    http: httpx.AsyncClient, raw: bytes, needle: str
) -> None:
    for path, head in (
        (
            "/v1/chat/completions",
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}], ',
        ),
        ("/v1/completions", b'{"model": "m", "prompt": "x", '),
    ):
        if b"completion_tokens" in raw and path == "/v1/completions":
            continue
        res = await http.post(path, content=head + raw + b"}", headers=JSON)
        _check(res, 400, needle)


async def test_error_messages_do_not_echo_huge_values(http: httpx.AsyncClient) -> None:
    huge = "x" * (3 * MiB)
    for body in (
        {"model": huge, "messages": USER},
        {"model": "m", "messages": USER, "temperature": huge},
        {"model": "m", "messages": [{"role": huge, "content": "x"}]},
        {"assistant": huge, "input": "hi"},
    ):
        path = "/v1/runs" if "assistant" in body else "/v1/chat/completions"
        res = await http.post(path, json=body, headers=JSON)
        assert 400 <= res.status_code < 500
        assert len(res.content) < 2_000, res.content[:300]


async def test_lone_surrogate_in_streamed_output_does_not_abort() -> None:
    app = create_app(models={"m": FakeChatModel([["Hi ", "\ud83d", "\ude00", "!"]])})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        body = {"model": "m", "messages": USER, "stream": True}
        res = await client.post("/v1/chat/completions", json=body)
        lines = [line for line in res.text.splitlines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        parts = [json.loads(line[6:])["choices"][0]["delta"].get("content") for line in lines[:-1]]
        text = "".join(p for p in parts if p)
        assert text.encode("utf-16", "surrogatepass").decode("utf-16") == "Hi \U0001f600!"
        res = await client.post("/v1/runs", json={"assistant": "m", "input": "hi"})
        assert "event: end" in res.text and "event: error" not in res.text
        res = await client.post(
            "/v1/completions", json={"model": "m", "prompt": "x", "stream": True}
        )
        assert res.text.rstrip().endswith("data: [DONE]")


# ---------------------------------------------------------------------------- 11: API keys


def _args(*argv: str) -> Any:
    return build_parser().parse_args(["serve", "--model", "fake", *argv])


def test_api_key_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    assert build_app(_args("--api-key-file", str(path))).api_key == KEY
    monkeypatch.setenv("TOKENTIDE_API_KEY", KEY)
    assert build_app(_args()).api_key == KEY
    with pytest.raises(ServeError, match="cannot read"):
        check_args(_args("--api-key-file", str(tmp_path / "missing")))


@pytest.mark.parametrize(
    ("key", "needle"),
    [("   ", "only whitespace"), ("k", "too short"), ("short", "too short"), ("a key", "ASCII")],
)
def test_weak_api_keys_are_refused_at_start_up(key: str, needle: str) -> None:
    with pytest.raises(ServeError, match=needle):
        check_args(_args("--api-key", key))
    with pytest.raises(ValueError):
        create_app(models={"m": FakeChatModel()}, api_key=" ")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {KEY}", True),
        (f"bearer {KEY}", True),
        (f"BEARER  {KEY} ", True),
        (f"Basic {KEY}", False),
        (KEY, False),
        (f"Bearer {KEY}x", False),
    ],
)
async def test_bearer_scheme_is_case_insensitive(header: str, ok: bool) -> None:
    app = create_app(models={"m": FakeChatModel()}, api_key=KEY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        res = await client.get("/v1/models", headers={"Authorization": header})
        assert res.status_code == (200 if ok else 401)


def test_serve_allows_its_own_host_name_and_allowed_hosts() -> None:
    app = build_app(_args("--host", "box.internal", "--insecure", "--allowed-host", "api.example"))
    for host, ok in (("box.internal:8000", True), ("api.example", True), ("evil.example", False)):
        assert app.guard.host_allowed(host) is ok
