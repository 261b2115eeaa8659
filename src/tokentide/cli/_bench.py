"""``tokentide bench``: measure tokentide's own streaming overhead on this machine.

A quick, self-contained check with the scripted fake model (no network, no extra packages):
the cost per token of ``model.stream()``, ``model.astream()``, ``astream_events``, a
``prompt | model | StrOutputParser()`` chain and a graph's ``"messages"`` mode, next to a bare
generator over the same tokens.

``--check`` also measures the cases the budgets compare (`_bench_check.BUDGETS`): the same
minimal provider in langchain-core, the same chat graph in langgraph (when they are installed),
and ``ChatOpenAI`` next to the httpx + ``json.loads`` floor against a loopback server (the case
definitions are shared with the repository's ``bench/`` scripts: `_bench_cases`). Every budget
gets a verdict, ``PASS``, ``MISS`` or ``SKIP`` (not measured here, with the reason); the exit
status is 1 when one misses, or, with ``--strict``, when one was skipped.

Example::

    tokentide bench                  # 20,000 tokens, median of 5 runs
    tokentide bench --tokens 5000 --runs 3 --json
    tokentide bench --check          # exit 1 when a budget misses on this machine
    tokentide bench --check --strict # ... or could not be measured (incumbent not installed)

The CPU model and the Python build are printed first (with ``--json``: a first object with
``machine``), since a cost per token is only comparable on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

if TYPE_CHECKING:
    from ._bench_check import Verdict

__all__ = ["COMMAND", "HELP", "ORDER", "register", "run"]

COMMAND = "bench"
HELP = "Measure tokentide's streaming overhead per token on this machine (fake model)."
ORDER = 40


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` arguments to ``parser``."""
    parser.add_argument("--tokens", type=int, default=20_000, help="tokens per stream (20000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per case; the median is shown")
    parser.add_argument("--json", action="store_true", help="print one JSON object per case")
    parser.add_argument(
        "--check",
        action="store_true",
        help="also measure the budgets' cases (incumbents, OpenAI over loopback) and print a "
        "verdict per budget; exit 1 when one misses",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="with --check: a budget skipped (its incumbent not installed) fails too",
    )
    parser.set_defaults(run=run)


class _Case(NamedTuple):
    """One measured case: ``run`` streams once (a plain or an ``async def`` function) and
    handles ``per`` tokens (or chunks)."""

    name: str
    run: Callable[[], Any]
    per: int


def _consume(make: Callable[[], Iterator[Any]]) -> Callable[[], None]:
    def run() -> None:
        for _ in make():
            pass

    return run


def _aconsume(make: Callable[[], AsyncIterator[Any]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async for _ in make():
            pass

    return run


def _cases(tokens: list[str]) -> list[_Case]:
    from tokentide.graph import START, MessagesState, StateGraph
    from tokentide.models import FakeChatModel
    from tokentide.output_parsers import StrOutputParser
    from tokentide.prompts import ChatPromptTemplate

    model = FakeChatModel(responses=[tokens])
    chain = ChatPromptTemplate.from_template("{q}") | model | StrOutputParser()

    async def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("chat", node).add_edge(START, "chat").compile()

    def bare() -> Iterator[str]:
        yield from tokens

    async def abare() -> AsyncIterator[str]:
        for token in tokens:
            yield token

    n = len(tokens)
    return [
        _Case("bare sync generator (floor)", _consume(bare), n),
        _Case("bare async generator (floor)", _aconsume(abare), n),
        _Case("model.stream()", _consume(lambda: model.stream("hi")), n),
        _Case("model.astream()", _aconsume(lambda: model.astream("hi")), n),
        _Case("model.astream_events(v2)", _aconsume(lambda: model.astream_events("hi")), n),
        _Case("chain.astream_events(v2)", _aconsume(lambda: chain.astream_events({"q": "hi"})), n),
        _Case(
            "graph.astream(messages)",
            _aconsume(
                lambda: graph.astream({"messages": [("user", "hi")]}, stream_mode="messages")
            ),
            n,
        ),
    ]


def _check_cases(
    tokens: list[str], stack: ExitStack, loop: asyncio.AbstractEventLoop
) -> tuple[list[_Case], dict[str, str]]:
    """The cases only the budgets need (the incumbents' and the OpenAI loopback's), and the
    reason each case that cannot run here is skipped. Whatever is opened is closed by
    ``stack``."""
    import tokentide.graph as tt_graph

    from ._bench_cases import (
        MESSAGES_INPUT,
        TokenListModel,
        make_lc_model,
        messages_graphs,
        optional_import,
    )

    n = len(tokens)
    cases: list[_Case] = []
    skipped: dict[str, str] = {}
    lc_model = make_lc_model(tokens)
    if lc_model is None:
        skipped["langchain-core model.astream()"] = "langchain-core not installed"
    else:
        cases.append(
            _Case("langchain-core model.astream()", _aconsume(lambda: lc_model.astream("hi")), n)
        )

    ours = messages_graphs(tt_graph, TokenListModel(tokens))
    cases.append(
        _Case(
            "graph.stream(messages), sync node",
            _consume(lambda: ours["sync_chat"].stream(MESSAGES_INPUT, stream_mode="messages")),
            n,
        )
    )
    cases.append(
        _Case(
            "graph.astream(messages), async node",
            _aconsume(lambda: ours["async_chat"].astream(MESSAGES_INPUT, stream_mode="messages")),
            n,
        )
    )
    lg_graph = optional_import("langgraph.graph")
    graph_cases = [
        "langgraph graph.stream(messages), sync node",
        "langgraph graph.astream(messages), async node",
    ]
    if lg_graph is None or lc_model is None:
        missing = "langgraph" if lg_graph is None else "langchain-core"
        skipped.update(dict.fromkeys(graph_cases, f"{missing} not installed"))
    else:
        theirs = messages_graphs(lg_graph, lc_model, pass_config=sys.version_info < (3, 11))
        cases.append(
            _Case(
                graph_cases[0],
                _consume(
                    lambda: theirs["sync_chat"].stream(MESSAGES_INPUT, stream_mode="messages")
                ),
                n,
            )
        )
        cases.append(
            _Case(
                graph_cases[1],
                _aconsume(
                    lambda: theirs["async_chat"].astream(MESSAGES_INPUT, stream_mode="messages")
                ),
                n,
            )
        )
    cases += _openai_cases(n, stack, loop, skipped)
    return cases, skipped


def _openai_cases(
    n: int, stack: ExitStack, loop: asyncio.AbstractEventLoop, skipped: dict[str, str]
) -> list[_Case]:
    """``ChatOpenAI`` and the httpx + ``json.loads`` floors against a loopback server."""
    import httpx

    from tokentide.models import ChatOpenAI

    from ._bench_cases import blast_server, floor_async, floor_sync

    names = [
        "floor: httpx + json.loads (sync)",
        "floor: httpx + json.loads (async)",
        "ChatOpenAI.stream()",
        "ChatOpenAI.astream()",
    ]
    try:
        url = stack.enter_context(blast_server(n))
    except (OSError, RuntimeError) as exc:
        skipped.update(dict.fromkeys(names, f"no loopback server ({exc})"))
        return []
    sync_client = stack.enter_context(httpx.Client())
    async_client = httpx.AsyncClient()
    model = ChatOpenAI(base_url=url, model="m")
    stack.callback(lambda: loop.run_until_complete(async_client.aclose()))
    stack.callback(lambda: loop.run_until_complete(model.aclose()))

    async def floor_a() -> None:
        await floor_async(async_client, url)

    per = n + 3  # a role chunk, the n tokens, a finish chunk and a usage chunk
    return [
        _Case(names[0], lambda: floor_sync(sync_client, url), per),
        _Case(names[1], floor_a, per),
        _Case(names[2], _consume(lambda: model.stream("hi")), per),
        _Case(names[3], _aconsume(lambda: model.astream("hi")), per),
    ]


def _time(case: _Case, loop: asyncio.AbstractEventLoop) -> float:
    """Seconds of one run of ``case`` (async cases run on ``loop``)."""
    if inspect.iscoroutinefunction(case.run):
        coro = case.run()
        start = time.perf_counter()
        loop.run_until_complete(coro)
        return time.perf_counter() - start
    start = time.perf_counter()
    case.run()
    return time.perf_counter() - start


def _measure(cases: list[_Case], runs: int, loop: asyncio.AbstractEventLoop) -> dict[str, float]:
    """Median µs per token of every case: one warm-up each, then ``runs`` rounds that run
    every case in turn (so that drift on a busy machine hits every case alike)."""
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for case in cases:
        _time(case, loop)
    for _ in range(runs):
        for case in cases:
            gc.collect()
            samples[case.name].append(_time(case, loop) / case.per * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


class Row(TypedDict):
    case: str
    us_per_token: float
    runs: int
    tokens: int


def run(args: argparse.Namespace) -> int:
    """Run every case ``--runs`` times and print the median cost per token; with ``--check``,
    also the cases of the budgets and their verdicts."""
    if args.tokens < 1 or args.runs < 1:
        print("tokentide bench: error: --tokens and --runs must be positive", file=sys.stderr)
        return 2
    from ._bench_cases import make_tokens
    from ._bench_check import cpu_model, python_build

    checking = bool(getattr(args, "check", False))
    machine = {"cpu": cpu_model(), "python": python_build()}
    if args.json:
        print(json.dumps({"machine": machine}), flush=True)
    else:
        print(f"CPU: {machine['cpu']}; Python: {machine['python']}", flush=True)
    tokens = make_tokens(args.tokens)
    loop = asyncio.new_event_loop()
    try:
        with ExitStack() as stack:
            cases = _cases(tokens)
            skipped: dict[str, str] = {}
            if checking:
                more, skipped = _check_cases(tokens, stack, loop)
                cases += more
            us = _measure(cases, args.runs, loop)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    rows: list[Row] = []
    for case in cases:
        row: Row = {
            "case": case.name,
            "us_per_token": round(us[case.name], 3),
            "runs": args.runs,
            "tokens": args.tokens,
        }
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{case.name:<46} {row['us_per_token']:>9.3f} µs/token", flush=True)
    if not checking:
        return 0
    return _check(us, skipped, as_json=args.json, strict=bool(getattr(args, "strict", False)))


def _table(verdicts: list[Verdict]) -> list[str]:
    """The verdicts as an aligned table: the budget's case, ours and theirs (µs per token),
    their ratio (or, for a budget over a floor, the difference), the bound and the verdict."""

    def us(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [["case", "ours µs", "theirs µs", "ratio", "budget", "verdict"]]
    for v in verdicts:
        word = v.status if v.measured is not None else f"SKIP (skipped: {v.reason})"
        rows.append([v.budget.name, us(v.ours), us(v.theirs), v.shown(), v.budget.describe(), word])
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row[:5], widths, strict=True))
        )
        + "  "
        + row[5]
        for row in rows
    ]


def _check(
    us_per_token: dict[str, float], skipped: dict[str, str], *, as_json: bool, strict: bool
) -> int:
    """Print the verdict of every budget; 1 when one misses (or, with ``strict``, when one
    was skipped)."""
    from ._bench_check import check

    verdicts = check(us_per_token, skipped)
    if as_json:
        for v in verdicts:
            item = {
                "budget": v.budget.name,
                "status": v.status,
                "passed": v.passed,
                "measured": None if v.measured is None else round(v.measured, 3),
                "limit": v.budget.limit,
                "kind": v.budget.kind,
                "ours": None if v.ours is None else round(v.ours, 3),
                "theirs": None if v.theirs is None else round(v.theirs, 3),
            }
            if v.reason:
                item["reason"] = v.reason
            print(json.dumps(item), flush=True)
    else:
        print(flush=True)
        for line in _table(verdicts):
            print(line, flush=True)
    return _exit_status(verdicts, strict=strict)


def _exit_status(verdicts: list[Verdict], *, strict: bool) -> int:
    """0 when every budget passed (a skipped one counts only with ``strict``), else 1; says
    on stderr which missed or were skipped."""
    missed = [v.budget.name for v in verdicts if v.status == "MISS"]
    skips = [v.budget.name for v in verdicts if v.status == "SKIP"]
    if missed:
        print(
            f"tokentide bench: {len(missed)} budget(s) missed: {'; '.join(missed)}", file=sys.stderr
        )
    if skips:
        tail = " (--strict: a skip fails)" if strict else ""
        print(
            f"tokentide bench: {len(skips)} budget(s) skipped: {'; '.join(skips)}{tail}",
            file=sys.stderr,
        )
    return 1 if missed or (strict and skips) else 0
