"""Server load test: N concurrent SSE clients of ``/v1/chat/completions`` on loopback.

The server (``tokentide serve`` internals: ``create_app`` on uvicorn) runs in its own process
(``--workers N``: N uvicorn worker processes), serving a fake model that streams 20 tokens/s per
request. The clients are raw asyncio sockets on uvloop in this process, counting content
deltas without parsing JSON (as light as a client can be). For each N it reports:

- the p50/p99 *added* inter-token latency (gap between two tokens at the client, minus the
  model's 50 ms; signed: a timer that fires a fraction of a millisecond early makes a gap
  slightly shorter than 50 ms), and time to first token;
The server runs with the connection limits of ``tokentide serve`` at their defaults (header
size and count, header timeout, keep-alive, at most 4,096 connections).

- the server's CPU (percent of one core, and µs per token, user + system) and resident
  memory, sampled during the run; the clients' CPU per token, counted separately (they share
  the machine with the server).

``--floor`` runs the same load against a bare ASGI app on the same uvicorn that sends the same
frames with the same pacing (one ``asyncio.sleep`` and one ``send`` per token): the cost of the
ASGI server, the timers and the socket writes alone.

``--proxy`` runs the same load through ``tokentide serve --model openai:<name>`` (a
``ChatOpenAI`` with ``max_connections=2048``, as ``--max-concurrency`` sets it; ``--workers N``:
N proxy processes) in front of a paced upstream in a third process: the paced floor's frames at
the same pacing, served by a bare uvloop protocol (one timer and one chunked write per token,
keep-alive) so that this stand-in for a model server on another machine takes as little of the
shared cores as it can; its CPU per token is reported beside the proxy's. Every stream must
complete (the upstream pool holds them all at once).

``--relay-floor`` runs the same load through a bare TCP relay (uvloop protocols, no HTTP
parsing) in front of the same paced upstream: the least any proxy in Python on this event loop
spends per relayed token (no budget: it is a floor).

``--proxy-floor`` runs the same load through a bare ASGI app on the same uvicorn that opens
each stream upstream through tokentide's own pool and connections (as ``ChatOpenAI`` does) and
sends the upstream's body on unchanged: no SSE decode, no JSON, no chunk, no frame of its own
(the least a proxy on this ASGI server and client stack spends; no budget).

It also measures the fixed cost of one streamed request (sequential requests on one
keep-alive connection, a one-token zero-delay reply), against a floor: a bare ASGI app that
answers the same bytes on the same uvicorn.

Run::

    python bench/bench_server.py                       # N = 100, 500, 1000, 2000
    python bench/bench_server.py --clients 100,300     # other sizes
    python bench/bench_server.py --workers 2           # two server processes
    python bench/bench_server.py --floor --clients 1000  # the floor, same load
    python bench/bench_server.py --proxy --clients 300   # through an openai:<name> proxy
    python bench/bench_server.py --proxy --workers 2 --clients 2000  # the proxy's budget
    python bench/bench_server.py --proxy --workers 2 --redis-url redis://127.0.0.1:6379 \
        --clients 2000                                 # the same, as `tokentide serve` needs
    python bench/bench_server.py --relay-floor --clients 2000  # through a bare TCP relay
    python bench/bench_server.py --proxy-floor --clients 2000  # bare ASGI, bytes relayed
    python bench/bench_server.py --smoke               # 20 clients, a few tokens
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    Budget,
    Result,
    check_budget,
    cpu_steal,
    host_speed,
    parse_args,
    print_table,
    write_jsonl,
)

BENCH = "server"
RATE = 0.05  # seconds between tokens: 20 tokens/s
MARK = b'{"content":'
DONE = b"[DONE]"
_EDGE = len(MARK) - 1


# ---------------------------------------------------------------------------- server process


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def bench_app() -> Any:
    """The app a bench server serves (a uvicorn factory: every worker process builds its own).

    ``BENCH_SERVER_APP``: ``tokentide`` (``create_app`` with the paced and instant fake models),
    ``floor`` (fixed bytes, one response) or ``floor-paced`` (same frames, same pacing);
    ``BENCH_SERVER_TOKENS``: tokens per paced reply.
    """
    kind = os.environ.get("BENCH_SERVER_APP", "tokentide")
    tokens = int(os.environ.get("BENCH_SERVER_TOKENS", "200"))
    if kind == "floor":
        return _floor_app
    if kind == "floor-paced":
        return _paced_floor_app(tokens)
    from tokentide.models import FakeChatModel
    from tokentide.server import create_app

    if kind == "proxy":
        return _proxy_app(os.environ["BENCH_SERVER_UPSTREAM"])
    if kind == "proxy-floor":
        return _proxy_floor_app(os.environ["BENCH_SERVER_UPSTREAM"])

    words = [f"tok{i} " for i in range(tokens)]
    app = create_app(
        models={
            "paced": FakeChatModel([words], delay=RATE),
            "instant": FakeChatModel([["ok"]]),
        }
    )
    if os.environ.get("BENCH_SERVER_GC") != "default":  # "default": CPython's collector
        from tokentide.cli._serve import tune_gc

        tune_gc()  # as ``tokentide serve`` does
    return app


def proxy_serve_args(upstream: str, redis_url: str = "") -> list[str]:
    """The ``tokentide serve`` arguments the proxy bench serves (one worker's view)."""
    args = ["serve", "--model", "paced=openai:paced", "--base-url", upstream]
    return [*args, "--redis-url", redis_url] if redis_url else args


def _proxy_app(upstream: str) -> Any:
    """What ``tokentide serve --model paced=openai:paced --base-url UPSTREAM`` serves (its
    ``build_app``: the access log's request observer, the upstream pool of
    ``--max-concurrency``; with ``BENCH_SERVER_REDIS``, ``--redis-url`` as ``--workers N``
    needs), built in each worker process as ``tokentide serve --workers N`` does."""
    import argparse as _argparse

    from tokentide.cli import build_parser
    from tokentide.cli._serve import build_app, tune_gc

    os.environ.setdefault("OPENAI_API_KEY", "bench")
    args = build_parser().parse_args(
        proxy_serve_args(upstream, os.environ.get("BENCH_SERVER_REDIS", ""))
    )
    app = build_app(_argparse.Namespace(**{**vars(args), "workers": 1}))
    tune_gc()
    return app


async def _read_request(scope: Any, receive: Any) -> bool:
    """Read an HTTP request's body to its end (``False`` for another ASGI scope)."""
    if scope["type"] != "http":
        return False
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    return True


def _proxy_floor_app(upstream: str) -> Any:
    """The proxy floor: a bare ASGI app that opens each request's upstream stream through
    tokentide's own pool and connections (``HTTPTransport``, as ``ChatOpenAI`` does) and sends
    every piece of the upstream's body on as it is: no SSE decode, no JSON, no chunk, no
    frame of its own (the least a proxy on this ASGI server and client stack can spend)."""
    from tokentide.models._http import HTTPTransport

    transport = HTTPTransport(base_url=upstream, api_key="bench", max_connections=2048)
    body = {"model": "paced", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
    }

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not await _read_request(scope, receive):
            return
        response = await transport._aopen("/chat/completions", body)
        read, pieces = transport._areader(response)
        try:
            await send(start)
            while piece := await read(None):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            if pieces is not None:
                await pieces.aclose()  # type: ignore[attr-defined]
            await response.aclose()

    return app


def serve(port: int, workers: int) -> None:
    """Run the server in this process (``--serve``)."""
    if os.environ.get("BENCH_SERVER_APP") == "relay":
        _raise_fd_limit()
        loop = _new_loop()
        loop.run_until_complete(_relay(port, os.environ["BENCH_SERVER_UPSTREAM"]))
        return
    if os.environ.get("BENCH_SERVER_APP") == "paced-upstream":
        _raise_fd_limit()
        loop = _new_loop()
        loop.run_until_complete(_paced_upstream(port, int(os.environ["BENCH_SERVER_TOKENS"])))
        return
    import uvicorn

    from tokentide.server import ServerLimits, uvicorn_options

    _raise_fd_limit()
    uvicorn.run(
        "bench.bench_server:bench_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers if workers > 1 else None,
        log_level="error",
        backlog=4096,
        ws="none",
        lifespan="off",
        **uvicorn_options(ServerLimits()),  # the limits of ``tokentide serve``, at defaults
    )


_FLOOR_BODY = (
    b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
    b'{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
    b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
    b'{"content":"ok"},"finish_reason":null}]}\n\n'
    b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


async def _floor_app(scope: Any, receive: Any, send: Any) -> None:
    """The floor: read the request, answer fixed SSE bytes (no parsing, no model)."""
    if not await _read_request(scope, receive):
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": _FLOOR_BODY})


def _paced_floor_app(tokens: int) -> Any:
    head = b'data: {"id":"chatcmpl-0","object":"chat.completion.chunk","created":0,"model":"paced",'
    frames = [
        head + b'"choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}\n\n' % i
        for i in range(tokens)
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        """The paced floor: one sleep and one send per token, prebuilt frames."""
        if not await _read_request(scope, receive):
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
            }
        )
        for frame in frames:
            await asyncio.sleep(RATE)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    return app


_UPSTREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class _PacedUpstream(asyncio.Protocol):
    """The paced upstream of ``--proxy`` and ``--relay-floor``: the paced floor's frames at
    the same pacing (one timer and one write per token), on a bare uvloop protocol instead of
    ASGI, so that the stand-in for a model server on another machine takes as little of the
    proxy's cores as it can. Keep-alive: requests on one connection are answered in turn."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.sent = -1  # frames sent of the current reply; -1: no reply under way

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.sent < 0:
            self._next_request()

    def _next_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buffer[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        assert self.transport is not None
        self.transport.write(_UPSTREAM_HEAD)
        self.sent = 0
        self.timer = asyncio.get_running_loop().call_later(RATE, self._tick)

    def _tick(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.sent < len(self.frames):
            transport.write(self.frames[self.sent])
            self.sent += 1
            self.timer = asyncio.get_running_loop().call_later(RATE, self._tick)
            return
        transport.write(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
        self.sent = -1
        self._next_request()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None


async def _paced_upstream(port: int, tokens: int) -> None:
    loop = asyncio.get_running_loop()
    head = b'data: {"id":"chatcmpl-0","object":"chat.completion.chunk","created":0,"model":"paced",'
    frames = []
    for i in range(tokens):
        frame = head + (
            b'"choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}\n\n' % i
        )
        frames.append(b"%x\r\n%s\r\n" % (len(frame), frame))
    server = await loop.create_server(
        lambda: _PacedUpstream(frames), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


class _Pipe(asyncio.Protocol):
    """One side of a relayed connection: what it reads, the other side writes."""

    def __init__(self) -> None:
        self.peer: _Pipe | None = None
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.close()


async def _relay(port: int, upstream: str) -> None:
    """The relay floor: a TCP relay on uvloop protocols, no HTTP parsing at all (the least a
    Python proxy on this event loop can do per relayed token)."""
    loop = asyncio.get_running_loop()
    host, _, up_port = upstream.rpartition(":")

    def accept() -> _Pipe:
        down = _Pipe()

        async def connect() -> None:
            _, up = await loop.create_connection(_Pipe, host, int(up_port))
            up.peer, down.peer = down, up
            for data in down.pending:
                up.transport.write(data)  # type: ignore[union-attr]
            down.pending.clear()

        loop.create_task(connect())
        return down

    server = await loop.create_server(accept, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """The server in a subprocess (and its workers), with CPU and memory sampled on demand."""

    def __init__(
        self, tokens: int, *, app: str = "tokentide", workers: int = 1, upstream: str = ""
    ) -> None:
        import psutil

        self.port = _free_port()
        cmd = [sys.executable, __file__, "--serve", str(self.port), "--workers", str(workers)]
        env = {
            **os.environ,
            "BENCH_SERVER_APP": app,
            "BENCH_SERVER_TOKENS": str(tokens),
            "BENCH_SERVER_UPSTREAM": upstream,
            "PYTHONPATH": os.pathsep.join(
                filter(
                    None, (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH"))
                )
            ),
        }
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the bench server did not start") from None
                time.sleep(0.05)
        if workers > 1:  # every worker has started when each answers; give them a moment
            time.sleep(1.0)

    def processes(self) -> list[Any]:
        """The server process and its workers."""
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except Exception:
            return [self.ps]

    def cpu(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the server and its workers so far."""
        user = system = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
            except Exception:
                continue
            user += times.user
            system += times.system
        return user, system

    def rss(self) -> int:
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except Exception:
                continue
        return total

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# ---------------------------------------------------------------------------- clients


def _request(port: int, model: str, host: str = "127.0.0.1") -> bytes:
    body = json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class StreamClient(asyncio.Protocol):
    """One SSE stream: records the arrival time of every content token (counting the
    ``{"content":`` marks in the bytes, without parsing)."""

    def __init__(self, request: bytes, done: asyncio.Future[None]) -> None:
        self.request = request
        self.done = done
        self.sent = 0.0
        self.times: list[float] = []
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.sent = time.perf_counter()
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        edge = self.tail + data[:_EDGE]  # marks split across two reads
        new = data.count(MARK) + edge.count(MARK)
        if new:
            self.times.extend([now] * new)
        self.tail = data[-_EDGE:] if len(data) >= _EDGE else (self.tail + data)[-_EDGE:]
        if DONE in data or DONE in edge:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def _load(port: int, n: int) -> list[StreamClient]:
    loop = asyncio.get_running_loop()
    request = _request(port, "paced")
    clients: list[StreamClient] = []
    waits = []
    for i in range(n):
        done: asyncio.Future[None] = loop.create_future()
        client = StreamClient(request, done)
        clients.append(client)
        waits.append(done)
        await loop.create_connection(lambda c=client: c, "127.0.0.1", port)  # type: ignore[misc]
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # ramp up: 2,000 connections per second
    await asyncio.wait_for(asyncio.gather(*waits), timeout=600)
    return clients


def _stats(clients: list[StreamClient], tokens: int) -> dict[str, float]:
    added: list[float] = []
    ttft: list[float] = []
    incomplete = 0
    for c in clients:
        if len(c.times) < tokens:
            incomplete += 1
        if c.times:
            ttft.append(c.times[0] - c.sent)
        added.extend(b - a - RATE for a, b in zip(c.times[1:], c.times[2:], strict=False))
    added.sort()
    ttft.sort()

    def q(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")

    return {
        "p50": q(added, 0.5),
        "p99": q(added, 0.99),
        "ttft50": q(ttft, 0.5),
        "ttft99": q(ttft, 0.99),
        "incomplete": incomplete,
    }


def run_level(n: int, tokens: int, *, app: str = "tokentide", workers: int = 1) -> dict[str, float]:
    """One load of ``n`` streams; with ``app="proxy"`` through a proxy to a paced upstream
    (``app="relay"``: through the relay floor instead)."""
    if app not in ("proxy", "proxy-floor", "relay"):
        return _run_level(ServerProcess(tokens, app=app, workers=workers), n, tokens)
    upstream = ServerProcess(tokens, app="paced-upstream")
    try:
        url = f"http://127.0.0.1:{upstream.port}"
        if app in ("proxy", "proxy-floor"):
            url += "/v1"
        else:
            url = f"127.0.0.1:{upstream.port}"
        proxy = ServerProcess(tokens, app=app, upstream=url, workers=workers)
        return _run_level(proxy, n, tokens, upstream=upstream)
    finally:
        upstream.close()


def _run_level(
    server: ServerProcess, n: int, tokens: int, *, upstream: ServerProcess | None = None
) -> dict[str, float]:
    import psutil

    try:
        user0, sys0 = server.cpu()
        up0 = sum(upstream.cpu()) if upstream is not None else 0.0
        me = psutil.Process()
        mine0 = me.cpu_times()
        steal0 = cpu_steal()
        rss: list[int] = []
        loop = _new_loop()
        task = loop.create_task(_load(server.port, n))
        start = time.perf_counter()
        while not task.done():
            loop.run_until_complete(asyncio.wait({task}, timeout=0.5))
            rss.append(server.rss())
        elapsed = time.perf_counter() - start
        clients = task.result()
        loop.close()
        user1, sys1 = server.cpu()
        up1 = sum(upstream.cpu()) if upstream is not None else 0.0
        mine1 = me.cpu_times()
        steal = cpu_steal() - steal0
        streamed = n * tokens
        client = (mine1.user - mine0.user) + (mine1.system - mine0.system)
        stats = _stats(clients, tokens)
        stats["server_cpu"] = ((user1 - user0) + (sys1 - sys0)) / elapsed * 100
        stats["cpu_us_per_token"] = ((user1 - user0) + (sys1 - sys0)) / streamed * 1e6
        stats["sys_us_per_token"] = (sys1 - sys0) / streamed * 1e6
        stats["client_us_per_token"] = client / streamed * 1e6
        stats["client_cpu"] = client / elapsed * 100
        stats["upstream_us_per_token"] = (up1 - up0) / streamed * 1e6
        stats["load"] = os.getloadavg()[0]
        stats["steal"] = steal / (elapsed * (os.cpu_count() or 1)) * 100
        stats["rss_mb"] = max(rss) / 2**20
        stats["elapsed"] = elapsed
        return stats
    finally:
        server.close()


async def _sequential(port: int, count: int, model: str) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _request(port, model)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        writer.write(request)
        buf = b""
        while not (buf.endswith(b"\r\n0\r\n\r\n") and DONE in buf):
            buf += await reader.read(65536)
        times.append(time.perf_counter() - start)
    writer.close()
    return times


def fixed_cost(count: int) -> dict[str, float]:
    out = {}
    for name, app in (("tokentide", "tokentide"), ("floor", "floor")):
        server = ServerProcess(1, app=app)
        try:
            asyncio.run(_sequential(server.port, 50, "instant"))  # warm up
            times = asyncio.run(_sequential(server.port, count, "instant"))
        finally:
            server.close()
        out[name] = statistics.median(times)
    return out


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--serve", type=int)
    pre.add_argument("--workers", type=int, default=1)
    pre.add_argument("--floor", action="store_true")
    pre.add_argument("--proxy", action="store_true")
    pre.add_argument("--relay-floor", action="store_true")
    pre.add_argument("--proxy-floor", action="store_true")
    pre.add_argument("--redis-url", default="")
    pre.add_argument("--clients", default="100,500,1000,2000")
    pre.add_argument("--stream-tokens", type=int, default=200)
    own, rest = pre.parse_known_args(argv)
    if own.serve is not None:
        serve(own.serve, own.workers)
        return 0
    args = parse_args(
        __doc__.splitlines()[0]
        + " (also: --clients 100,500 --stream-tokens N --workers N --floor --proxy"
        + " --relay-floor --proxy-floor --redis-url URL)",
        rest,
    )
    _raise_fd_limit()
    if own.redis_url:  # the proxy's run store, as ``tokentide serve --workers N`` needs
        os.environ["BENCH_SERVER_REDIS"] = own.redis_url
    levels = [20] if args.smoke else [int(x) for x in own.clients.split(",")]
    tokens = 10 if args.smoke else own.stream_tokens
    app = "floor-paced" if own.floor else "proxy" if own.proxy else "tokentide"
    impl = "floor (bare ASGI)" if own.floor else "tokentide"
    if own.proxy:
        impl = "tokentide proxy (openai:<name>) to a paced upstream"
    if own.relay_floor:
        app, own.floor = "relay", True  # a floor: no budget
        impl = "relay floor (TCP relay, no HTTP) to a paced upstream"
    if own.proxy_floor:
        app, own.floor = "proxy-floor", True  # a floor: no budget
        impl = "proxy floor (bare ASGI, tokentide pool, bytes relayed) to a paced upstream"
    if own.workers > 1:
        impl += f", {own.workers} workers"
    if own.proxy and own.redis_url:
        impl += ", Redis run store"
    rows: list[Result | Budget] = []
    # How fast the interpreter runs on this host today. The socket side of a day is not in it:
    # for that, run a floor of the same load (--floor, --proxy-floor) in the same hour.
    speed = host_speed()
    print(f"host: async-generator floor {speed:.3f} us/item (tokentide bench's first floor)")
    rows.append(Result(BENCH, "host speed", "async-generator floor", speed, "us/item"))
    for n in levels:
        s = run_level(n, tokens, app=app, workers=own.workers)
        note = (
            f"{impl}: server CPU {s['server_cpu']:.0f}% ({s['cpu_us_per_token']:.1f} us/token, "
            f"{s['sys_us_per_token']:.1f} system), RSS {s['rss_mb']:.0f} MB, client CPU "
            f"{s['client_cpu']:.0f}% ({s['client_us_per_token']:.1f} us/token), upstream CPU "
            f"{s['upstream_us_per_token']:.1f} us/token, TTFT p50/p99 "
            f"{s['ttft50'] * 1e3:.1f}/{s['ttft99'] * 1e3:.1f} ms, incomplete "
            f"{s['incomplete']:.0f}, load {s['load']:.1f}, CPU steal {s['steal']:.1f}%"
        )
        print(
            f"N={n}: added inter-token p50 {s['p50'] * 1e3:.2f} ms, p99 {s['p99'] * 1e3:.2f} ms;"
            f" {note}",
            flush=True,
        )
        case = f"{n} streams x 20 tok/s ({impl})"
        rows.append(Result(BENCH, case, "p99 added inter-token", s["p99"] * 1e3, "ms", note=note))
        rows.append(Result(BENCH, case, "p50 added inter-token", s["p50"] * 1e3, "ms"))
        # Beside the budget, which counts the gaps between tokens only: a server that cannot
        # keep up may hold those gaps by starting streams late, which shows here.
        rows.append(Result(BENCH, case, "p99 time to first token", s["ttft99"] * 1e3, "ms"))
        rows.append(Result(BENCH, case, "p50 time to first token", s["ttft50"] * 1e3, "ms"))
        rows.append(Result(BENCH, case, "server CPU", s["server_cpu"], "% of a core"))
        rows.append(Result(BENCH, case, "server RSS", s["rss_mb"], "MB"))
        rows.append(Result(BENCH, case, "server CPU per token", s["cpu_us_per_token"], "us"))
        rows.append(Result(BENCH, case, "client CPU per token", s["client_us_per_token"], "us"))
        if app in ("proxy", "proxy-floor", "relay"):
            rows.append(Result(BENCH, case, "completed streams", n - s["incomplete"], "streams"))
            rows.append(
                Result(BENCH, case, "upstream CPU per token", s["upstream_us_per_token"], "us")
            )
        if n == 2000 and not own.floor:
            rows.append(
                check_budget(
                    BENCH,
                    "2,000 streams: p99 added inter-token latency",
                    measured=s["p99"] * 1e3,
                    limit=50,
                    unit="ms",
                    higher_is_better=False,
                )
            )
        if s["incomplete"]:
            print(f"stopping: the server degraded badly at N={n}", flush=True)
            break
    if not own.floor and not own.proxy:
        cost = fixed_cost(50 if args.smoke else 1000)
        for name, value in cost.items():
            rows.append(
                Result(
                    BENCH,
                    "one streamed request, 1 token, keep-alive",
                    name,
                    value * 1e6,
                    "us/request",
                )
            )
    print_table(rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
