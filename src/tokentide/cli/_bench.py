"""``tokentide bench``: measure tokentide's own streaming overhead on this machine.

A quick, self-contained check with the scripted fake model (no network, no extra packages):
the cost per token of ``model.stream()``, ``model.astream()``, ``astream_events``, a
``prompt | model | StrOutputParser()`` chain and a graph's ``"messages"`` mode, next to a bare
generator over the same tokens. The side-by-side comparison with LangChain, LangGraph and the
openai SDK lives in the repository's ``bench/`` folder (see BENCHMARKS.md).

Example::

    tokentide bench                  # 20,000 tokens, median of 5 runs
    tokentide bench --tokens 5000 --runs 3 --json
    tokentide bench --check          # exit 1 when a budget misses on this machine

The CPU model and the Python build are printed first (with ``--json``: a first object with
``machine``), since a cost per token is only comparable on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypedDict

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
        help="check the per-token budgets on this machine; exit 1 when one misses",
    )
    parser.set_defaults(run=run)


def _drain(make: Callable[[], Iterator[Any]]) -> float:
    start = time.perf_counter()
    for _ in make():
        pass
    return time.perf_counter() - start


def _adrain(make: Callable[[], AsyncIterator[Any]]) -> float:
    async def go() -> float:
        start = time.perf_counter()
        async for _ in make():
            pass
        return time.perf_counter() - start

    return asyncio.run(go())


def _cases(tokens: list[str]) -> dict[str, Callable[[], float]]:
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

    return {
        "bare sync generator (floor)": lambda: _drain(bare),
        "bare async generator (floor)": lambda: _adrain(abare),
        "model.stream()": lambda: _drain(lambda: model.stream("hi")),
        "model.astream()": lambda: _adrain(lambda: model.astream("hi")),
        "model.astream_events(v2)": lambda: _adrain(lambda: model.astream_events("hi")),
        "chain.astream_events(v2)": lambda: _adrain(lambda: chain.astream_events({"q": "hi"})),
        "graph.astream(messages)": lambda: _adrain(
            lambda: graph.astream({"messages": [("user", "hi")]}, stream_mode="messages")
        ),
    }


class Row(TypedDict):
    case: str
    us_per_token: float
    runs: int
    tokens: int


def run(args: argparse.Namespace) -> int:
    """Run every case ``--runs`` times and print the median cost per token."""
    if args.tokens < 1 or args.runs < 1:
        print("tokentide bench: error: --tokens and --runs must be positive", file=sys.stderr)
        return 2
    from ._bench_check import cpu_model, python_build

    machine = {"cpu": cpu_model(), "python": python_build()}
    if args.json:
        print(json.dumps({"machine": machine}), flush=True)
    else:
        print(f"CPU: {machine['cpu']}; Python: {machine['python']}", flush=True)
    tokens = [f" tok{i}" for i in range(args.tokens)]
    rows: list[Row] = []
    for name, case in _cases(tokens).items():
        case()  # warm-up
        seconds = statistics.median(case() for _ in range(args.runs))
        row: Row = {
            "case": name,
            "us_per_token": round(seconds / args.tokens * 1e6, 3),
            "runs": args.runs,
            "tokens": args.tokens,
        }
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{name:<32} {row['us_per_token']:>9.3f} µs/token", flush=True)
    return _check(rows, args.json) if getattr(args, "check", False) else 0


def _check(rows: list[Row], as_json: bool) -> int:
    """Print the verdict of every budget; 1 when one misses on this machine."""
    from ._bench_check import check

    verdicts = check({row["case"]: row["us_per_token"] for row in rows})
    for v in verdicts:
        if as_json:
            item = {"budget": v.budget.name, "measured": round(v.measured, 3)}
            print(json.dumps({**item, "limit": v.budget.limit, "passed": v.passed}), flush=True)
        else:
            print(v.line(), flush=True)
    missed = [v for v in verdicts if not v.passed]
    if missed:
        names = ", ".join(v.budget.name for v in missed)
        print(f"tokentide bench: {len(missed)} budget(s) missed: {names}", file=sys.stderr)
        return 1
    return 0
