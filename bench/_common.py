"""Shared benchmark harness: timing, memory, budgets, a table printer and a JSON-lines writer.

Every ``bench/bench_*.py`` script uses this module so that all figures are taken, printed and
stored the same way. Nothing here imports ``tokentide`` or any incumbent library.

API
---

Command line (every bench script accepts the same options)::

    args = parse_args("what this bench measures", argv)
    # --smoke        tiny sizes, one run, no warm-up: checks that the script still works
    # --runs N       timed runs per case (default 7); --warmup N (default 1)
    # --tokens N     stream length (default 20,000; 200 with --smoke)
    # --jsonl PATH   append every result row to PATH as JSON lines (used by run_all.py)

Timing (``time.perf_counter``; ``gc.collect()`` before each run; GC stays enabled while timing,
since collecting the garbage a framework makes is part of its cost)::

    timings = measure({"ours": fn_a, "langchain-core": fn_b}, runs=7, warmup=1, per=20_000)
    timings["ours"].us_per_item   # median seconds of one run / per, in µs
    timings["ours"].cpu_us_per_item  # the same on process CPU time

- ``measure`` takes named callables; each is a plain function or an ``async def`` function
  (run to completion on one event loop shared by the whole process, see :func:`event_loop`;
  call ``close_event_loop()`` at the end of a script).
  Runs are *interleaved* (a, b, a, b, ...) so that drift on a noisy machine hits every case alike.
- ``per``: how many items one run handles (tokens, calls); figures are per item.
- A :class:`Timing` keeps every sample, wall clock (``perf_counter``) and process CPU time
  (``process_time``): ``median``, ``minimum``, ``spread`` (max/min - 1), ``us_per_item``,
  ``cpu_us_per_item``. Wall time is the headline; CPU time says how much of a noisy figure was
  other processes holding the CPU.

Memory (``tracemalloc``)::

    peak = peak_memory(fn)   # bytes: peak traced allocation while fn() (sync or async) runs,
                             # above what was allocated when it started

Results::

    row = Result("core", "model.astream()", "ours", 0.41, "us/token", runs=7, spread=0.03,
                 cpu_value=0.40)
    budget_row = check_budget("core", "astream vs floor", measured=0.3, limit=1.0,
                              unit="us/token", higher_is_better=False)
    print_table(rows)         # aligned text table (also prints budget rows with PASS/MISS)
    write_jsonl(path, rows)   # one JSON object per row, plus an "env" row from environment()
    environment()             # python, platform, cpu count, versions of the libraries measured

A bench script's ``main(argv) -> int`` parses the options, runs, prints the table and, with
``--jsonl``, writes its rows; ``run_all.py`` runs every script and merges the rows into
``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "BenchArgs",
    "Budget",
    "Result",
    "Timing",
    "check_budget",
    "close_event_loop",
    "environment",
    "event_loop",
    "measure",
    "optional_import",
    "parse_args",
    "peak_memory",
    "print_table",
    "run_callable",
    "write_jsonl",
]

DEFAULT_RUNS = 7
DEFAULT_WARMUP = 1
DEFAULT_TOKENS = 20_000
SMOKE_TOKENS = 200

#: Libraries whose versions are recorded with every result (those absent are left out).
TRACKED_LIBRARIES = (
    "tokentide",
    "langchain-core",
    "langsmith",
    "pydantic",
    "langgraph",
    "langchain-openai",
    "openai",
    "httpx",
    "uvicorn",
    "starlette",
)

Bench = Callable[[], Any]

# Never trace to LangSmith from a benchmark (the incumbent would pay for network I/O). Every
# bench imports this module before any incumbent library.
for _var in ("LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING", "LANGCHAIN_TRACING"):
    os.environ.pop(_var, None)


# ---------------------------------------------------------------------------- options


@dataclass(frozen=True)
class BenchArgs:
    """Options shared by every bench script."""

    smoke: bool
    runs: int
    warmup: int
    tokens: int
    jsonl: Path | None


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    *,
    default_tokens: int = DEFAULT_TOKENS,
    default_runs: int = DEFAULT_RUNS,
) -> BenchArgs:
    """Parse the common options (see the module docstring); a script may change the defaults
    of ``--tokens`` and ``--runs``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run, no warm-up")
    parser.add_argument(
        "--runs", type=int, default=None, help=f"timed runs (default {default_runs})"
    )
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 1)")
    parser.add_argument(
        "--tokens", type=int, default=None, help=f"stream length (default {default_tokens})"
    )
    parser.add_argument("--jsonl", type=Path, default=None, help="append result rows here")
    ns = parser.parse_args(argv)
    smoke = bool(ns.smoke)
    runs = ns.runs if ns.runs is not None else (1 if smoke else default_runs)
    warmup = ns.warmup if ns.warmup is not None else (0 if smoke else DEFAULT_WARMUP)
    tokens = ns.tokens if ns.tokens is not None else (SMOKE_TOKENS if smoke else default_tokens)
    if runs < 1 or warmup < 0 or tokens < 1:
        parser.error("--runs and --tokens must be >= 1, --warmup >= 0")
    return BenchArgs(smoke=smoke, runs=runs, warmup=warmup, tokens=tokens, jsonl=ns.jsonl)


def optional_import(name: str) -> ModuleType | None:
    """Import an incumbent library, or ``None`` if it is not installed (its cases are skipped)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# ---------------------------------------------------------------------------- running

_LOOP: asyncio.AbstractEventLoop | None = None


def event_loop() -> asyncio.AbstractEventLoop:
    """The one event loop on which every async case of this process runs."""
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP


def close_event_loop() -> None:
    """Close :func:`event_loop` (bench scripts call this when they are done)."""
    global _LOOP
    if _LOOP is not None and not _LOOP.is_closed():
        _LOOP.run_until_complete(_LOOP.shutdown_asyncgens())
        _LOOP.close()
    asyncio.set_event_loop(None)
    _LOOP = None


def run_callable(fn: Bench) -> Any:
    """Call ``fn``; if it is an ``async def`` function (or returns an awaitable), run it to
    completion on :func:`event_loop`."""
    if inspect.iscoroutinefunction(fn):
        return event_loop().run_until_complete(fn())
    result = fn()
    if inspect.isawaitable(result):
        return event_loop().run_until_complete(result)
    return result


# ---------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Samples (seconds per run) of one case: wall clock (``perf_counter``) and the process's
    CPU time (``process_time``, which does not advance while other processes hold the CPU)."""

    name: str
    per: int
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_us_per_item(self) -> float:
        """Median CPU µs per item: the figure to trust when the machine is busy."""
        return statistics.median(self.cpu_samples) / self.per * 1e6

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def spread(self) -> float:
        """``max / min - 1`` over the runs: how noisy the figure is."""
        return max(self.samples) / min(self.samples) - 1 if min(self.samples) > 0 else 0.0

    @property
    def us_per_item(self) -> float:
        """Median µs per item (token, call)."""
        return self.median / self.per * 1e6


def _time_once(fn: Bench) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    gc.collect()
    if inspect.iscoroutinefunction(fn):
        loop = event_loop()
        coro = fn()
        cpu, start = time.process_time(), time.perf_counter()
        loop.run_until_complete(coro)
        return time.perf_counter() - start, time.process_time() - cpu
    cpu, start = time.process_time(), time.perf_counter()
    result = fn()
    if inspect.isawaitable(result):
        event_loop().run_until_complete(result)
    return time.perf_counter() - start, time.process_time() - cpu


def measure(
    cases: Mapping[str, Bench],
    *,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    per: int = 1,
) -> dict[str, Timing]:
    """Time each case ``runs`` times after ``warmup`` untimed runs, interleaving the cases."""
    timings = {name: Timing(name, per) for name in cases}
    for _ in range(warmup):
        for fn in cases.values():
            run_callable(fn)
    for _ in range(runs):
        for name, fn in cases.items():
            wall, cpu = _time_once(fn)
            timings[name].samples.append(wall)
            timings[name].cpu_samples.append(cpu)
    return timings


# ---------------------------------------------------------------------------- memory


def peak_memory(fn: Bench) -> int:
    """Peak bytes allocated (traced by ``tracemalloc``) while ``fn`` runs, above the start.

    Objects built before the call (e.g. the token list) are not counted. The event loop is
    created before tracing starts.
    """
    event_loop()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run_callable(fn)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return max(0, peak - base)


# ---------------------------------------------------------------------------- results


@dataclass
class Result:
    """One figure: ``value`` in ``unit`` for ``case`` run by ``impl`` (ours, an incumbent,
    a floor)."""

    bench: str
    case: str
    impl: str
    value: float
    unit: str
    runs: int = 1
    spread: float | None = None
    note: str = ""
    #: The same figure on CPU time (see :class:`Timing`), where it was measured.
    cpu_value: float | None = None

    kind: str = "result"


@dataclass
class Budget:
    """A performance budget checked against a measured figure."""

    bench: str
    name: str
    measured: float
    limit: float
    unit: str
    higher_is_better: bool
    passed: bool
    margin: float
    note: str = ""

    kind: str = "budget"

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"


def check_budget(
    bench: str,
    name: str,
    *,
    measured: float,
    limit: float,
    unit: str,
    higher_is_better: bool,
    note: str = "",
) -> Budget:
    """Compare ``measured`` with ``limit``; ``margin`` is how far inside (positive) or outside
    (negative) the budget the figure is, in ``unit``."""
    if higher_is_better:
        passed, margin = measured >= limit, measured - limit
    else:
        passed, margin = measured <= limit, limit - measured
    return Budget(bench, name, measured, limit, unit, higher_is_better, passed, margin, note)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _print_rows(header: Sequence[str], rows: list[list[str]], out: Any) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=out)


def print_table(rows: Iterable[Result | Budget], out: Any = None) -> None:
    """Print results as an aligned table, then budgets with PASS/MISS and margin."""
    out = out if out is not None else sys.stdout
    print(machine_line(), file=out)
    results = [r for r in rows if isinstance(r, Result)]
    budgets = [r for r in rows if isinstance(r, Budget)]
    if results:
        _print_rows(
            ["case", "impl", "median", "cpu median", "unit", "spread", "note"],
            [
                [
                    r.case,
                    r.impl,
                    _fmt(r.value),
                    _fmt(r.cpu_value),
                    r.unit,
                    "-" if r.spread is None else f"{r.spread:.0%}",
                    r.note,
                ]
                for r in results
            ],
            out,
        )
    if budgets:
        print(file=out)
        _print_rows(
            ["budget", "measured", "limit", "unit", "verdict", "margin", "note"],
            [
                [
                    b.name,
                    _fmt(b.measured),
                    ("≥ " if b.higher_is_better else "≤ ") + _fmt(b.limit),
                    b.unit,
                    b.verdict,
                    f"{b.margin:+.3g}",
                    b.note,
                ]
                for b in budgets
            ],
            out,
        )


def machine_line() -> str:
    """``machine: CPU <model> (<n> cores); Python <build>``, printed beside every figure."""
    from tokentide.cli._bench_check import cpu_model, python_build

    return f"machine: CPU {cpu_model()} ({os.cpu_count()} cores); Python {python_build()}"


def host_speed(tokens: int = 20_000, runs: int = 5) -> float:
    """The async-generator floor on this machine now, in µs per item (:func:`measure`'s median
    of ``runs``): the same figure as the first floor of ``tokentide bench``. It shows how fast
    the interpreter runs today; a load that is mostly system calls and sockets can be slower on
    a given day while this is not (a floor of the same load, run in the same hour, shows that)."""
    items = list(range(tokens))

    async def floor() -> AsyncIterator[int]:
        for item in items:
            yield item

    async def consume() -> None:
        async for _ in floor():
            pass

    try:
        return measure({"floor": consume}, runs=runs, per=tokens)["floor"].us_per_item
    finally:
        close_event_loop()


def cpu_steal() -> float:
    """CPU seconds taken from this machine by its hypervisor so far (all cores; 0 where the
    system does not count them)."""
    import psutil

    return float(getattr(psutil.cpu_times(), "steal", 0.0))


def environment() -> dict[str, Any]:
    """The machine and the versions of the libraries measured."""
    versions: dict[str, str] = {}
    for lib in TRACKED_LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python_build": _python_build(),
        "libraries": versions,
    }


def write_jsonl(path: Path, rows: Iterable[Result | Budget], *, with_env: bool = True) -> None:
    """Append ``rows`` to ``path`` as JSON lines (``kind`` is "result", "budget" or "env")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        if with_env:
            fh.write(json.dumps({"kind": "env", **environment()}) + "\n")
        for row in rows:
            data = asdict(row)
            if isinstance(row, Budget):
                data["verdict"] = row.verdict
            fh.write(json.dumps(data, ensure_ascii=False) + "\n")


def _cpu_model() -> str:
    from tokentide.cli._bench_check import cpu_model

    return cpu_model()


def _python_build() -> str:
    from tokentide.cli._bench_check import python_build

    return python_build()
