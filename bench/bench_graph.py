"""Graph streaming, side by side with langgraph, in one process.

Cases (the same token source for both sides: the minimal providers of ``bench_core.py``, one
``AIMessageChunk(content=t)`` per token of a 20,000-token list):

- ``graph.stream(stream_mode="messages")``, one sync node calling ``model.invoke`` (the node
  runs in a worker thread; tokens cross to the consumer's thread);
- ``graph.astream(stream_mode="messages")``, one async node awaiting ``model.ainvoke``;
- ``graph.astream(stream_mode="custom")`` / ``graph.stream(...)``, one node calling its
  ``writer`` once per token;
- fixed cost: ``graph.invoke`` of a one-node graph (µs per call).
- memory: peak bytes per token above the text while consuming the async messages stream.

Run::

    python bench/bench_graph.py            # full size
    python bench/bench_graph.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    Budget,
    Result,
    Timing,
    check_budget,
    close_event_loop,
    measure,
    optional_import,
    parse_args,
    peak_memory,
    print_table,
    write_jsonl,
)
from bench.bench_core import TokenListModel, make_lc_model, make_tokens  # noqa: E402

import tokentide.graph as tt_graph  # noqa: E402
from tokentide.cli._bench_cases import messages_graphs  # noqa: E402  (shared with --check)

BENCH = "graph"
OURS = "tokentide"
LG = "langgraph"
MESSAGES_SPEEDUP = 15.0
MESSAGES_US = 2.4
FIXED_COST_SPEEDUP = 10.0
MEMORY_BYTES_PER_TOKEN = 100.0


class WriteState(TypedDict, total=False):
    n: int


def build(lib: Any, model: Any, n: int, *, pass_config: bool = False) -> dict[str, Any]:
    """The four graphs of the bench, built with ``lib`` (``tokentide.graph`` or
    ``langgraph.graph``) around ``model``. ``pass_config``: the async chat node hands its
    ``config`` to the model (LangGraph needs that on Python < 3.11 to stream the tokens)."""

    def sync_writes(state, writer):  # type: ignore[no-untyped-def]
        for i in range(n):
            writer(i)
        return {"n": n}

    async def async_writes(state, writer):  # type: ignore[no-untyped-def]
        for i in range(n):
            writer(i)
        return {"n": n}

    def one(state: Any) -> dict[str, Any]:
        return {"n": 1}

    def single(state: Any, node: Any, name: str) -> Any:
        return lib.StateGraph(state).add_node(name, node).add_edge(lib.START, name).compile()

    return {
        **messages_graphs(lib, model, pass_config=pass_config),
        "sync_writes": single(WriteState, sync_writes, "write"),
        "async_writes": single(WriteState, async_writes, "write"),
        "one": single(WriteState, one, "one"),
    }


INPUT = {"messages": [("user", "hi")]}


def drain(graph: Any, mode: str, input: Any = INPUT) -> Callable[[], None]:
    def run() -> None:
        for _ in graph.stream(input, stream_mode=mode):
            pass

    return run


def adrain(graph: Any, mode: str, input: Any = INPUT) -> Callable[[], Any]:
    async def run() -> None:
        async for _ in graph.astream(input, stream_mode=mode):
            pass

    return run


def invokes(graph: Any, calls: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(calls):
            graph.invoke({"n": 0})

    return run


class Report:
    def __init__(self, runs: int) -> None:
        self.rows: list[Result | Budget] = []
        self.runs = runs
        self.ratios: dict[str, float] = {}
        self.values: dict[str, float] = {}

    def compare(self, case: str, timings: dict[str, Timing], unit: str) -> None:
        for impl, t in timings.items():
            self.rows.append(
                Result(
                    BENCH,
                    case,
                    impl,
                    t.us_per_item,
                    unit,
                    self.runs,
                    t.spread,
                    cpu_value=t.cpu_us_per_item,
                )
            )
        self.values[case] = timings[OURS].us_per_item
        if LG in timings:
            ratio = timings[LG].us_per_item / timings[OURS].us_per_item
            self.ratios[case] = ratio
            self.rows.append(
                Result(
                    BENCH,
                    case,
                    f"{LG} / {OURS}",
                    ratio,
                    "x",
                    self.runs,
                    None,
                    f"{OURS} is {ratio:.1f}x faster",
                )
            )

    def budgets(self, memory: float | None) -> None:
        for case in ("stream messages, sync node", "astream messages, async node"):
            self.rows.append(
                check_budget(
                    BENCH,
                    f"{case}: µs/token",
                    measured=self.values[case],
                    limit=MESSAGES_US,
                    unit="us/token",
                    higher_is_better=False,
                )
            )
            if case in self.ratios:
                self.rows.append(
                    check_budget(
                        BENCH,
                        f"{case}: speedup",
                        measured=self.ratios[case],
                        limit=MESSAGES_SPEEDUP,
                        unit="x",
                        higher_is_better=True,
                    )
                )
        fixed = "invoke, 1 node (fixed cost)"
        if fixed in self.ratios:
            self.rows.append(
                check_budget(
                    BENCH,
                    f"{fixed}: speedup",
                    measured=self.ratios[fixed],
                    limit=FIXED_COST_SPEEDUP,
                    unit="x",
                    higher_is_better=True,
                )
            )
        if memory is not None:
            self.rows.append(
                check_budget(
                    BENCH,
                    "memory beyond the text",
                    measured=memory,
                    limit=MEMORY_BYTES_PER_TOKEN,
                    unit="bytes/token",
                    higher_is_better=False,
                )
            )


Case = tuple[str, Callable[[dict[str, Any]], Callable[[], Any]], int, str]


def bench_cases(n: int, calls: int) -> list[Case]:
    """(case, how to run it on a dict of graphs, items per run, unit)."""
    return [
        ("stream messages, sync node", lambda g: drain(g["sync_chat"], "messages"), n, "us/token"),
        (
            "astream messages, async node",
            lambda g: adrain(g["async_chat"], "messages"),
            n,
            "us/token",
        ),
        (
            "stream custom, sync node",
            lambda g: drain(g["sync_writes"], "custom", {"n": 0}),
            n,
            "us/write",
        ),
        (
            "astream custom, async node",
            lambda g: adrain(g["async_writes"], "custom", {"n": 0}),
            n,
            "us/write",
        ),
        ("invoke, 1 node (fixed cost)", lambda g: invokes(g["one"], calls), calls, "us/call"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "graph bench", argv)
    n = args.tokens
    calls = 20 if args.smoke else 2_000
    tokens = make_tokens(n)
    text_bytes = sum(len(t) for t in tokens)
    opts = {"runs": args.runs, "warmup": args.warmup}
    ours = build(tt_graph, TokenListModel(tokens), n)
    lg_graph = optional_import("langgraph.graph")
    lc_model = make_lc_model(tokens)
    old_python = sys.version_info < (3, 11)
    theirs = None
    if lg_graph is not None and lc_model:
        theirs = build(lg_graph, lc_model, n, pass_config=old_python)
    else:
        print(f"{LG} is not installed: its cases are skipped", file=sys.stderr)

    def pair(case: str, make: Callable[[dict[str, Any]], Callable[[], Any]]) -> dict[str, Any]:
        out = {OURS: make(ours)}
        if theirs is not None and not (old_python and case == "astream custom, async node"):
            out[LG] = make(theirs)
        elif theirs is not None:
            print(f"{LG} cannot run '{case}' on Python < 3.11: skipped", file=sys.stderr)
        return out

    report = Report(args.runs)
    for case, make, per, unit in bench_cases(n, calls):
        report.compare(case, measure(pair(case, make), per=per, **opts), unit)

    peak = peak_memory(adrain(ours["async_chat"], "messages"))
    memory = max(0.0, (peak - 2 * text_bytes) / n)  # the reply's text, as pieces and joined
    report.rows.append(
        Result(BENCH, "astream messages: peak memory beyond the text", OURS, memory, "bytes/token")
    )
    report.budgets(memory)
    print_table(report.rows)
    summary = {
        row.case if isinstance(row, Result) else row.name: round(
            row.value if isinstance(row, Result) else row.measured, 3
        )
        for row in report.rows
        if not isinstance(row, Result) or row.impl == OURS
    }
    print(
        json.dumps(
            {
                "bench": BENCH,
                "tokens": n,
                "ours": summary,
                "speedups": {k: round(v, 1) for k, v in report.ratios.items()},
            }
        )
    )
    if args.jsonl is not None:
        write_jsonl(args.jsonl, report.rows)
    close_event_loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
