"""OpenAI-compatible SSE over loopback: ChatOpenAI vs the openai SDK and langchain-openai.

A local server process on 127.0.0.1 (``tokentide.cli._bench_loopback``, the server of
``tokentide bench --check``; its body is that of ``tests/fakes/sse_server.py --blast N``)
answers every request with the same pre-serialized stream of N ``chat.completion.chunk`` events
(20,000 by default) as fast as it can. In one run, interleaved, each client consumes whole streams:

- ours: ``tokentide.models.ChatOpenAI.stream()`` and ``.astream()``;
- the ``openai`` SDK: ``client.chat.completions.create(stream=True)``, sync and async;
- ``langchain_openai.ChatOpenAI.astream()``;
- floors: ``httpx`` reading the body and calling ``json.loads`` once per SSE event, sync and
  async (raw pieces split on blank lines: the least work any client must do), and the same
  with ``iter_lines()``.

Figures are median µs per chunk (and per request for the fixed cost of a 1-chunk stream).
Budgets: ours at most 1.5x the floor per chunk, and at least 10x faster than the openai SDK.

Run::

    python bench/bench_openai.py            # full size
    python bench/bench_openai.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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
    write_jsonl,
)
from tokentide.cli._bench_cases import (  # shared with `tokentide bench --check`
    BODY,
    MESSAGES,
    blast_server,
    floor_async,
    floor_sync,
)
from tokentide.models import ChatOpenAI

BENCH = "openai"


# ------------------------------------------------------------------------------ floors
# ``blast_server``, ``floor_sync`` and ``floor_async`` live in the package, shared with
# ``tokentide bench --check`` (imported above).


async def floor_lines_async(client: httpx.AsyncClient, url: str) -> int:
    n = 0
    async with client.stream("POST", url + "/chat/completions", json=BODY) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                json.loads(line[6:])
                n += 1
    return n


# ------------------------------------------------------------------------------ clients


def make_cases(url: str) -> tuple[dict[str, Callable[[], Any]], list[Callable[[], Any]]]:
    """The cases, and the closers to call at the end."""
    sync_client, async_client = httpx.Client(), httpx.AsyncClient()
    ours = ChatOpenAI(base_url=url, model="m")
    closers: list[Callable[[], Any]] = [sync_client.close, async_client.aclose, ours.aclose]

    def ours_sync() -> None:
        for _chunk in ours.stream("hi"):
            pass

    async def ours_async() -> None:
        async for _chunk in ours.astream("hi"):
            pass

    async def floor_a() -> None:
        await floor_async(async_client, url)

    async def floor_lines() -> None:
        await floor_lines_async(async_client, url)

    cases: dict[str, Callable[[], Any]] = {
        "floor: httpx + json.loads (sync)": lambda: floor_sync(sync_client, url),
        "floor: httpx + json.loads (async)": floor_a,
        "floor: httpx aiter_lines + json.loads": floor_lines,
        "tokentide ChatOpenAI.stream()": ours_sync,
        "tokentide ChatOpenAI.astream()": ours_async,
    }
    openai = optional_import("openai")
    if openai is not None:
        sdk = openai.OpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        asdk = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        closers += [sdk.close, asdk.close]

        def sdk_sync() -> None:
            for _chunk in sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                pass

        async def sdk_async() -> None:
            stream = await asdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for _chunk in stream:
                pass

        cases["openai SDK (sync)"] = sdk_sync
        cases["openai SDK (async)"] = sdk_async
    lco = optional_import("langchain_openai")
    if lco is not None:
        lc = lco.ChatOpenAI(base_url=url, api_key="sk-bench", model="m", max_retries=0)

        async def lc_async() -> None:
            async for _chunk in lc.astream("hi"):
                pass

        cases["langchain_openai ChatOpenAI.astream()"] = lc_async
    return cases, closers


def run_closers(closers: list[Callable[[], Any]]) -> None:
    from _common import run_callable

    for close in closers:
        run_callable(close)


def rows_for(case: str, timings: dict[str, Timing], unit: str) -> list[Result]:
    return [
        Result(
            BENCH,
            case,
            name,
            t.us_per_item,
            unit,
            runs=len(t.samples),
            spread=t.spread,
            cpu_value=t.cpu_us_per_item,
        )
        for name, t in timings.items()
    ]


def budgets(timings: dict[str, Timing]) -> list[Budget]:
    us = {name: t.us_per_item for name, t in timings.items()}
    out = []
    for mode in ("sync", "async"):
        method = "stream()" if mode == "sync" else "astream()"
        ours = us[f"tokentide ChatOpenAI.{method}"]
        floor = us[f"floor: httpx + json.loads ({mode})"]
        out.append(
            check_budget(
                BENCH,
                f"ChatOpenAI.{method} / floor ({mode})",
                measured=ours / floor,
                limit=1.5,
                unit="x",
                higher_is_better=False,
            )
        )
        sdk = us.get(f"openai SDK ({mode})")
        if sdk is not None:
            out.append(
                check_budget(
                    BENCH,
                    f"openai SDK ({mode}) / ChatOpenAI.{method}",
                    measured=sdk / ours,
                    limit=10.0,
                    unit="x",
                    higher_is_better=True,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "openai bench", argv)
    opts = {"runs": args.runs, "warmup": args.warmup}
    rows: list[Result | Budget] = []
    with blast_server(args.tokens) as url:
        cases, closers = make_cases(url)
        try:
            stream = measure(cases, per=args.tokens + 3, **opts)
        finally:
            run_closers(closers)
    rows += rows_for(f"{args.tokens}-chunk stream", stream, "us/chunk")
    rows += budgets(stream)
    calls = 20 if args.smoke else 200
    with blast_server(1) as url:
        cases, closers = make_cases(url)
        try:
            fixed = measure(
                {name: _repeat(fn, calls) for name, fn in cases.items()}, per=calls, **opts
            )
        finally:
            run_closers(closers)
    rows += rows_for("1-chunk stream (fixed cost)", fixed, "us/request")
    print_table(rows)
    summary = {r.impl + " | " + r.case: round(r.value, 3) for r in rows if isinstance(r, Result)}
    print(json.dumps({"bench": BENCH, "median": summary}))
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    close_event_loop()
    return 0


def _repeat(fn: Callable[[], Any], times: int) -> Callable[[], Any]:
    import inspect

    if inspect.iscoroutinefunction(fn):

        async def arun() -> None:
            for _ in range(times):
                await fn()

        return arun

    def run() -> None:
        for _ in range(times):
            result = fn()
            if inspect.isawaitable(result):
                raise TypeError("unexpected awaitable")

    return run


if __name__ == "__main__":
    sys.exit(main())
