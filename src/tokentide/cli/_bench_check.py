"""The machine a measurement was taken on, and the budgets ``tokentide bench --check`` holds.

A figure means little without its machine: `cpu_model` and `python_build` name it beside every
benchmark's figures. `BUDGETS` are the per-token budgets that ``tokentide bench`` can measure
by itself (no incumbent installed): each compares two of its cases on the same machine, so it
holds on any CPU or misses there. `check` says which hold.

Example::

    verdicts = check({"model.astream()": 0.9, "bare async generator (floor)": 0.1})
    failed = [v for v in verdicts if not v.passed]
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BUDGETS", "Budget", "Verdict", "check", "cpu_model", "python_build"]


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


@dataclass(frozen=True)
class Budget:
    """``case`` minus ``floor`` (µs per token) must be at most ``limit``."""

    name: str
    case: str
    floor: str
    limit: float


@dataclass(frozen=True)
class Verdict:
    """A budget and what this machine measured for it."""

    budget: Budget
    measured: float

    @property
    def passed(self) -> bool:
        return self.measured <= self.budget.limit

    def line(self) -> str:
        word = "PASS" if self.passed else "MISS"
        return (
            f"{word}  {self.budget.name}: {self.measured:.3f} µs/token "
            f"(budget ≤ {self.budget.limit:g})"
        )


BUDGETS: list[Budget] = [
    Budget(
        "model.astream() over the async-generator floor",
        case="model.astream()",
        floor="bare async generator (floor)",
        limit=1.0,
    ),
]
"""The budgets ``--check`` holds (see BENCHMARKS.md for those that need an incumbent)."""


def check(us_per_token: Mapping[str, float]) -> list[Verdict]:
    """The verdict of every budget whose two cases were measured."""
    return [
        Verdict(b, us_per_token[b.case] - us_per_token[b.floor])
        for b in BUDGETS
        if b.case in us_per_token and b.floor in us_per_token
    ]
