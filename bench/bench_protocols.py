"""Anthropic Messages and OpenAI Responses SSE over loopback: tokentide's clients vs the
official SDKs.

A local server process (``tests/fakes/sse_server.py --blast N --protocol P``) answers every
request with the same pre-serialized stream of N text-delta events (20,000 by default) as fast
as it can. In one run, interleaved, each client consumes whole streams:

- ours: ``ChatAnthropic.stream()`` / ``.astream()`` and
  ``ChatOpenAI(use_responses_api=True).stream()`` / ``.astream()``;
- the SDKs: ``anthropic`` ``messages.create(stream=True)`` and ``openai``
  ``responses.create(stream=True)``, sync and async;
- floors: ``httpx`` reading the body and calling ``json.loads`` once per SSE event, sync and
  async (raw pieces split on blank lines: the least work any client must do).

Figures are median µs per event. Budgets: ours at most 1.5x the floor per event, and at least
10x faster than the official SDK.

Run::

    python bench/bench_protocols.py            # full size
    python bench/bench_protocols.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _common import (
    Budget,
    Result,
    Timing,
    check_budget,
    close_event_loop,
    measure,
    optional_import,
    parse_args,
    print_table,
    run_callable,
    write_jsonl,
)
from tokentide.models import ChatAnthropic, ChatOpenAI

BENCH = "protocols"
ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "fakes" / "sse_server.py"
MESSAGES = [{"role": "user", "content": "hi"}]
PATHS = {"anthropic": "/v1/messages", "responses": "/v1/responses"}
BODIES = {
    "anthropic": {"model": "m", "max_tokens": 10, "messages": MESSAGES, "stream": True},
    "responses": {"model": "m", "input": "hi", "stream": True},
}
OURS = {"anthropic": "ChatAnthropic", "responses": "ChatOpenAI(use_responses_api=True)"}
SDK = {"anthropic": "anthropic SDK", "responses": "openai SDK"}


@contextmanager
def blast_server(n: int, protocol: str) -> Iterator[str]:
    """A server process streaming ``n`` deltas per request; yields its root URL."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--blast", str(n), "--protocol", protocol],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _count(rest: bytes, piece: bytes) -> tuple[int, bytes]:
    blocks = (rest + piece).split(b"\n\n")
    rest = blocks.pop()
    for block in blocks:
        json.loads(block[block.index(b"data: ") + 6 :])
    return len(blocks), rest


def floor_sync(client: httpx.Client, url: str, protocol: str) -> int:
    n, rest = 0, b""
    with client.stream("POST", url + PATHS[protocol], json=BODIES[protocol]) as response:
        for piece in response.iter_raw():
            k, rest = _count(rest, piece)
            n += k
    return n


async def floor_async(client: httpx.AsyncClient, url: str, protocol: str) -> int:
    n, rest = 0, b""
    async with client.stream("POST", url + PATHS[protocol], json=BODIES[protocol]) as response:
        async for piece in response.aiter_raw():
            k, rest = _count(rest, piece)
            n += k
    return n


def _ours(url: str, protocol: str) -> Any:
    if protocol == "anthropic":
        return ChatAnthropic(model="m", base_url=url, api_key="k", max_tokens=10)
    return ChatOpenAI(model="m", base_url=url + "/v1", api_key="k", use_responses_api=True)


def make_cases(
    url: str, protocol: str
) -> tuple[dict[str, Callable[[], Any]], list[Callable[[], Any]]]:
    """The cases of one protocol, and the closers to call at the end."""
    sync_client, async_client = httpx.Client(), httpx.AsyncClient()
    ours = _ours(url, protocol)
    closers: list[Callable[[], Any]] = [sync_client.close, async_client.aclose, ours.aclose]

    def ours_sync() -> None:
        for _chunk in ours.stream("hi"):
            pass

    async def ours_async() -> None:
        async for _chunk in ours.astream("hi"):
            pass

    async def floor_a() -> None:
        await floor_async(async_client, url, protocol)

    cases: dict[str, Callable[[], Any]] = {
        "floor: httpx + json.loads (sync)": lambda: floor_sync(sync_client, url, protocol),
        "floor: httpx + json.loads (async)": floor_a,
        f"tokentide {OURS[protocol]}.stream()": ours_sync,
        f"tokentide {OURS[protocol]}.astream()": ours_async,
    }
    cases.update(_sdk_cases(url, protocol, closers))
    return cases, closers


def _sdk_cases(
    url: str, protocol: str, closers: list[Callable[[], Any]]
) -> dict[str, Callable[[], Any]]:
    cases: dict[str, Callable[[], Any]] = {}
    if protocol == "anthropic":
        anthropic = optional_import("anthropic")
        if anthropic is None:
            return cases
        sdk = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        asdk = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)

        def create() -> Any:
            return sdk.messages.create(model="m", max_tokens=10, messages=MESSAGES, stream=True)

        async def acreate() -> Any:
            return await asdk.messages.create(
                model="m", max_tokens=10, messages=MESSAGES, stream=True
            )
    else:
        openai = optional_import("openai")
        if openai is None:
            return cases
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        asdk = openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0)

        def create() -> Any:
            return sdk.responses.create(model="m", input="hi", stream=True)

        async def acreate() -> Any:
            return await asdk.responses.create(model="m", input="hi", stream=True)

    closers += [sdk.close, asdk.close]

    def sdk_sync() -> None:
        for _event in create():
            pass

    async def sdk_async() -> None:
        async for _event in await acreate():
            pass

    cases[f"{SDK[protocol]} (sync)"] = sdk_sync
    cases[f"{SDK[protocol]} (async)"] = sdk_async
    return cases


def budgets(protocol: str, timings: dict[str, Timing]) -> list[Budget]:
    us = {name: t.us_per_item for name, t in timings.items()}
    out = []
    for mode in ("sync", "async"):
        method = "stream()" if mode == "sync" else "astream()"
        ours = us[f"tokentide {OURS[protocol]}.{method}"]
        floor = us[f"floor: httpx + json.loads ({mode})"]
        out.append(
            check_budget(
                BENCH,
                f"{OURS[protocol]}.{method} / floor ({mode})",
                measured=ours / floor,
                limit=1.5,
                unit="x",
                higher_is_better=False,
            )
        )
        sdk = us.get(f"{SDK[protocol]} ({mode})")
        if sdk is not None:
            out.append(
                check_budget(
                    BENCH,
                    f"{SDK[protocol]} ({mode}) / {OURS[protocol]}.{method}",
                    measured=sdk / ours,
                    limit=10.0,
                    unit="x",
                    higher_is_better=True,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "protocols bench", argv)
    opts = {"runs": args.runs, "warmup": args.warmup}
    rows: list[Result | Budget] = []
    for protocol in ("anthropic", "responses"):
        with blast_server(args.tokens, protocol) as url:
            cases, closers = make_cases(url, protocol)
            try:
                timings = measure(cases, per=args.tokens, **opts)
            finally:
                for close in closers:
                    run_callable(close)
        case = f"{protocol}: {args.tokens}-event stream"
        rows += [
            Result(
                BENCH,
                case,
                name,
                t.us_per_item,
                "us/event",
                runs=len(t.samples),
                spread=t.spread,
                cpu_value=t.cpu_us_per_item,
            )
            for name, t in timings.items()
        ]
        rows += budgets(protocol, timings)
    print_table(rows)
    summary = {r.impl + " | " + r.case: round(r.value, 3) for r in rows if isinstance(r, Result)}
    print(json.dumps({"bench": BENCH, "median": summary}))
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    close_event_loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
