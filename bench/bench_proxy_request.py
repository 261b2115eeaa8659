"""CPU per proxied request: what a burst of new streams costs a proxy before their first tokens.

``tokentide serve --model openai:<name>`` (its app, as ``bench_server.py --proxy`` builds it)
is called in this process through ASGI, with no client sockets, for N one-token streams, 500
at a time, against the paced upstream of ``bench_server.py`` in another process. The figure is
this process's CPU time per request (the upstream's is not counted): at a burst of 2,000
streams, the proxy's time to first token is mostly this cost, 2,000 times over.

Beside it, the same requests through the proxy floor (a bare ASGI app that opens each stream
through tokentide's pool and relays the upstream's body unparsed, ``bench_server.py
--proxy-floor``): the least a proxy on this client stack spends per request.

Run::

    python bench/bench_proxy_request.py [--runs 5] [--requests 2000]
    python bench/bench_proxy_request.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_server  # noqa: E402
from bench._common import Result, parse_args, print_table, write_jsonl  # noqa: E402

BENCH = "proxy_request"
BATCH = 500

_BODY = json.dumps(
    {"model": "paced", "messages": [{"role": "user", "content": "hi"}], "stream": True}
).encode()
_SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/v1/chat/completions",
    "raw_path": b"/v1/chat/completions",
    "query_string": b"",
    "root_path": "",
    "headers": [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY)).encode()),
    ],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


async def _one(app: Any) -> None:
    """One request, its whole streamed answer taken; the client stays until the end."""
    sent = False
    done = asyncio.Event()
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": _BODY, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    try:
        await app(dict(_SCOPE), receive, send)
    finally:
        done.set()
    if status != [200]:
        raise RuntimeError(f"the proxy answered {status}, not 200")


async def _cpu_per_request(app: Any, count: int, batch: int) -> float:
    start = time.process_time()
    for first in range(0, count, batch):
        await asyncio.gather(*(_one(app) for _ in range(min(batch, count - first))))
    return (time.process_time() - start) / count


def interleaved(
    tokens: int,
    build: Callable[[str], dict[str, Any]],
    measure: Callable[[Any, bool], Awaitable[float]],
    runs: int,
) -> dict[str, list[float]]:
    """Against the paced upstream of ``bench_server.py`` (``tokens`` per reply, in another
    process), the apps that ``build(upstream_url)`` names, each measured (``measure(app,
    warm_up)``, in seconds) ``runs`` times, the apps in turn so that a noisy minute hits them
    all, after one warm-up each (connections, imports, caches): the figures in µs, by name."""
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    upstream = bench_server.ServerProcess(tokens, app="paced-upstream")
    try:
        apps = build(f"http://127.0.0.1:{upstream.port}/v1")
        loop = bench_server._new_loop()
        try:
            figures: dict[str, list[float]] = {name: [] for name in apps}
            for app in apps.values():
                loop.run_until_complete(measure(app, True))
            for _ in range(runs):
                for name, app in apps.items():
                    figures[name].append(loop.run_until_complete(measure(app, False)) * 1e6)
        finally:
            loop.close()
    finally:
        upstream.close()
    return figures


def median_rows(
    bench: str, case: str, figures: dict[str, list[float]], unit: str, runs: int
) -> tuple[list[Result], list[float]]:
    """One row per app (the median of its figures, and their spread), and the medians."""
    rows: list[Result] = []
    medians: list[float] = []
    for name, values in figures.items():
        median = statistics.median(values)
        spread = (max(values) - min(values)) / median if median else None
        rows.append(Result(bench, case, name, median, unit, runs=runs, spread=spread))
        medians.append(median)
    return rows, medians


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--requests", type=int, default=2000)
    own, rest = pre.parse_known_args(argv)
    args = parse_args(__doc__.splitlines()[0] + " (also: --requests N)", rest, default_runs=5)
    count, batch = (20, 10) if args.smoke else (own.requests, BATCH)
    figures = interleaved(
        1,
        lambda url: {
            "tokentide proxy (openai:<name>)": bench_server._proxy_app(url),
            "proxy floor (bare ASGI, tokentide pool, bytes relayed)": (
                bench_server._proxy_floor_app(url)
            ),
        },
        lambda app, warm: _cpu_per_request(app, min(count, 200) if warm else count, batch),
        args.runs,
    )
    case = f"{count} one-token streams, {batch} at a time"
    rows, (ours, floor) = median_rows(BENCH, case, figures, "us CPU/request", args.runs)
    rows.append(Result(BENCH, case, "tokentide proxy / proxy floor", ours / floor, "x"))
    print_table(rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
