"""Server load test: N concurrent SSE clients of ``/v1/chat/completions`` on loopback.

The server (``tokentide serve`` internals: ``create_app`` on uvicorn) runs in its own process,
serving a fake model that streams 20 tokens/s per request. The clients are raw asyncio sockets
in this process (as light as a client can be). For each N it reports:

- the p50/p99 *added* inter-token latency (gap between two tokens at the client, minus the
  model's 50 ms), and time to first token;
- the server's CPU (percent of one core) and resident memory, sampled during the run.

It also measures the fixed cost of one streamed request (sequential requests on one
keep-alive connection, a one-token zero-delay reply), against a floor: a bare ASGI app that
answers the same bytes on the same uvicorn.

Run::

    python bench/bench_server.py                       # N = 100, 500, 1000, 2000
    python bench/bench_server.py --clients 100,300     # other sizes
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

from bench._common import Budget, Result, check_budget, parse_args, print_table, write_jsonl

BENCH = "server"
RATE = 0.05  # seconds between tokens: 20 tokens/s
MARK = b'{"content":'
DONE = b"[DONE]"


# ---------------------------------------------------------------------------- server process


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(port: int, tokens: int, floor: bool) -> None:
    """Run the server in this process (``--serve``)."""
    import uvicorn

    from tokentide.models import FakeChatModel
    from tokentide.server import create_app

    _raise_fd_limit()
    app: Any
    if floor:
        app = _floor_app
    else:
        words = [f"tok{i} " for i in range(tokens)]
        app = create_app(
            models={
                "paced": FakeChatModel([words], delay=RATE),
                "instant": FakeChatModel([["ok"]]),
            }
        )
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="error", backlog=4096, ws="none", lifespan="off"
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
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": _FLOOR_BODY})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """The server in a subprocess, with its CPU and memory sampled on demand."""

    def __init__(self, tokens: int, *, floor: bool = False) -> None:
        import psutil

        self.port = _free_port()
        cmd = [sys.executable, __file__, "--serve", str(self.port), "--serve-tokens", str(tokens)]
        if floor:
            cmd.append("--floor")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
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
    """One SSE stream: records the arrival time of every content token."""

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
        buf = self.tail + data
        new = buf.count(MARK) - self.tail.count(MARK)
        if new:
            self.times.extend([now] * new)
        finished = DONE in buf
        self.tail = buf[-16:]
        if finished:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


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


def run_level(n: int, tokens: int) -> dict[str, float]:
    server = ServerProcess(tokens)
    try:
        server.ps.cpu_percent(None)
        cpu0 = sum(server.ps.cpu_times()[:2])
        me = __import__("psutil").Process()
        me.cpu_percent(None)
        rss: list[int] = []
        loop = asyncio.new_event_loop()
        task = loop.create_task(_load(server.port, n))
        start = time.perf_counter()
        while not task.done():
            loop.run_until_complete(asyncio.wait({task}, timeout=0.5))
            rss.append(server.ps.memory_info().rss)
        elapsed = time.perf_counter() - start
        clients = task.result()
        loop.close()
        stats = _stats(clients, tokens)
        stats["server_cpu"] = server.ps.cpu_percent(None)
        stats["cpu_us_per_token"] = (sum(server.ps.cpu_times()[:2]) - cpu0) / (n * tokens) * 1e6
        stats["load"] = os.getloadavg()[0]
        stats["client_cpu"] = me.cpu_percent(None)
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
    for name, floor in (("tokentide", False), ("floor", True)):
        server = ServerProcess(1, floor=floor)
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
    pre.add_argument("--serve-tokens", type=int, default=200)
    pre.add_argument("--floor", action="store_true")
    pre.add_argument("--clients", default="100,500,1000,2000")
    pre.add_argument("--stream-tokens", type=int, default=200)
    own, rest = pre.parse_known_args(argv)
    if own.serve is not None:
        serve(own.serve, own.serve_tokens, own.floor)
        return 0
    args = parse_args(
        __doc__.splitlines()[0] + " (also: --clients 100,500 --stream-tokens N)", rest
    )
    _raise_fd_limit()
    levels = [20] if args.smoke else [int(x) for x in own.clients.split(",")]
    tokens = 10 if args.smoke else own.stream_tokens
    rows: list[Result | Budget] = []
    for n in levels:
        s = run_level(n, tokens)
        note = (
            f"server CPU {s['server_cpu']:.0f}%, RSS {s['rss_mb']:.0f} MB, client CPU "
            f"{s['client_cpu']:.0f}%, TTFT p50/p99 {s['ttft50'] * 1e3:.1f}/"
            f"{s['ttft99'] * 1e3:.1f} ms, incomplete {s['incomplete']:.0f}"
        )
        print(
            f"N={n}: added inter-token p50 {s['p50'] * 1e3:.2f} ms, p99 {s['p99'] * 1e3:.2f} ms;"
            f" {note}",
            flush=True,
        )
        case = f"{n} streams x 20 tok/s"
        rows.append(Result(BENCH, case, "p99 added inter-token", s["p99"] * 1e3, "ms", note=note))
        rows.append(Result(BENCH, case, "p50 added inter-token", s["p50"] * 1e3, "ms"))
        rows.append(Result(BENCH, case, "server CPU", s["server_cpu"], "% of a core"))
        rows.append(Result(BENCH, case, "server RSS", s["rss_mb"], "MB"))
        rows.append(Result(BENCH, case, "server CPU per token", s["cpu_us_per_token"], "us"))
        if n == 2000:
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
    cost = fixed_cost(50 if args.smoke else 1000)
    for name, value in cost.items():
        rows.append(
            Result(
                BENCH, "one streamed request, 1 token, keep-alive", name, value * 1e6, "us/request"
            )
        )
    print_table(rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
