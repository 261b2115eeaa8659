"""The machine a measurement was taken on, and the budgets ``tokentide bench --check`` holds.

A figure means little without its machine: `cpu_model` and `python_build` name it beside every
benchmark's figures. `BUDGETS` are the budgets ``tokentide bench --check`` holds: each
compares two cases measured on the same machine (ours and a bare floor, or ours and an
incumbent running the same minimal provider), as a difference or as a ratio, so that it states
something about the code, not about the CPU. `check` gives each a verdict: ``PASS``, ``MISS``,
or ``SKIP`` when a side was not measured (the incumbent is not installed).

Example::

    verdicts = check(
        {"model.astream()": 0.9, "bare async generator (floor)": 0.1},
        skipped={"langchain-core model.astream()": "langchain-core not installed"},
    )
    missed = [v for v in verdicts if v.status == "MISS"]
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["BUDGETS", "Budget", "Kind", "Verdict", "check", "cpu_model", "python_build"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def python_build() -> str:
    """The interpreter: implementation, version, build and compiler, e.g. ``CPython 3.11.9
    (main, Apr 2 2024, GCC 12.2.0)``."""
    build, date = platform.python_build()
    free = "" if getattr(sys, "_is_gil_enabled", lambda: True)() else ", free-threaded"
    return (
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({build}, {date}, {platform.python_compiler()}{free})"
    )


Kind = Literal["over", "speedup", "ratio"]
"""How a budget compares its two cases: ``"over"``: ``case - floor`` (µs per token) at most
``limit``; ``"speedup"``: ``floor / case`` (the incumbent's cost over ours) at least ``limit``;
``"ratio"``: ``case / floor`` at most ``limit``."""


@dataclass(frozen=True)
class Budget:
    """A budget on two cases measured on the same machine: ``case`` (ours) and ``floor`` (a
    bare floor or the incumbent's case), compared as ``kind`` says (default: ``case`` minus
    ``floor``, in µs per token, at most ``limit``)."""

    name: str
    case: str
    floor: str
    limit: float
    kind: Kind = "over"

    def measure(self, ours: float, theirs: float) -> float:
        """The figure this budget judges, from the two cases' µs per token."""
        if self.kind == "over":
            return ours - theirs
        if self.kind == "speedup":
            return theirs / ours if ours > 0 else float("inf")
        return ours / theirs if theirs > 0 else float("inf")

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` is within the budget."""
        return measured >= self.limit if self.kind == "speedup" else measured <= self.limit

    def describe(self) -> str:
        """The budget as a bound: ``≤ 1 µs``, ``≥ 15x``, ``≤ 1.5x``."""
        if self.kind == "over":
            return f"≤ +{self.limit:g} µs"
        return f"{'≥' if self.kind == 'speedup' else '≤'} {self.limit:g}x"


@dataclass(frozen=True)
class Verdict:
    """A budget and what this machine measured for it: ``status`` is ``"PASS"``, ``"MISS"`` or
    ``"SKIP"`` (a side was not measured: ``reason`` says why; a skip is not a pass)."""

    budget: Budget
    measured: float | None
    ours: float | None = None
    theirs: float | None = None
    reason: str = ""

    @property
    def status(self) -> str:
        if self.measured is None:
            return "SKIP"
        return "PASS" if self.budget.holds(self.measured) else "MISS"

    @property
    def passed(self) -> bool:
        """Measured and within the budget (a skipped budget has not passed)."""
        return self.status == "PASS"

    def shown(self) -> str:
        """The measured figure as the budget reads it: ``+0.62 µs``, ``26.1x``, ``-``."""
        if self.measured is None:
            return "-"
        if self.budget.kind == "over":
            return f"{self.measured:+.3f} µs"
        return f"{self.measured:.2f}x"

    def line(self) -> str:
        """One line: verdict, budget, figure and bound (or why it was skipped)."""
        if self.measured is None:
            return f"SKIP  {self.budget.name}: skipped: {self.reason or 'not measured'}"
        figure = f"{self.measured:.3f} µs/token" if self.budget.kind == "over" else self.shown()
        return f"{self.status}  {self.budget.name}: {figure} (budget {self.budget.describe()})"


BUDGETS: list[Budget] = [
    Budget(
        "model.astream() over the async-generator floor",
        case="model.astream()",
        floor="bare async generator (floor)",
        limit=1.0,
    ),
    Budget(
        "model.astream() vs langchain-core",
        case="model.astream()",
        floor="langchain-core model.astream()",
        limit=15.0,
        kind="speedup",
    ),
    Budget(
        "graph messages mode (sync node) vs langgraph",
        case="graph.stream(messages), sync node",
        floor="langgraph graph.stream(messages), sync node",
        limit=15.0,
        kind="speedup",
    ),
    Budget(
        "graph messages mode (async node) vs langgraph",
        case="graph.astream(messages), async node",
        floor="langgraph graph.astream(messages), async node",
        limit=15.0,
        kind="speedup",
    ),
    Budget(
        "ChatOpenAI.stream() over the httpx + json.loads floor",
        case="ChatOpenAI.stream()",
        floor="floor: httpx + json.loads (sync)",
        limit=1.5,
        kind="ratio",
    ),
    Budget(
        "ChatOpenAI.astream() over the httpx + json.loads floor",
        case="ChatOpenAI.astream()",
        floor="floor: httpx + json.loads (async)",
        limit=1.5,
        kind="ratio",
    ),
]
"""The budgets ``--check`` holds, each on two cases measured on this machine."""


def check(
    us_per_token: Mapping[str, float], skipped: Mapping[str, str] | None = None
) -> list[Verdict]:
    """The verdict of every budget in `BUDGETS`, in order.

    ``us_per_token`` maps a case to its measured µs per token; ``skipped`` maps a case that
    could not be measured to the reason (``"langgraph not installed"``). A budget with a side
    not measured is a ``SKIP`` with that reason.
    """
    why = skipped or {}
    verdicts = []
    for b in BUDGETS:
        ours, theirs = us_per_token.get(b.case), us_per_token.get(b.floor)
        if ours is None or theirs is None:
            missing = [side for side in (b.floor, b.case) if side not in us_per_token]
            reasons = [why[side] for side in missing if side in why]
            reason = reasons[0] if reasons else "not measured"
            verdicts.append(Verdict(b, None, ours, theirs, reason))
        else:
            verdicts.append(Verdict(b, b.measure(ours, theirs), ours, theirs))
    return verdicts
