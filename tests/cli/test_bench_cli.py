"""`tokentide bench`: runs every case and reports a cost per token (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from tokentide.cli import _bench_check, main
from tokentide.cli._bench_check import BUDGETS, Budget, check


def test_bench_reports_every_case_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--tokens", "200", "--runs", "1", "--json"]) == 0
    first, *rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["machine"]["cpu"] and first["machine"]["python"]
    cases = [row["case"] for row in rows]
    assert cases == [
        "bare sync generator (floor)",
        "bare async generator (floor)",
        "model.stream()",
        "model.astream()",
        "model.astream_events(v2)",
        "chain.astream_events(v2)",
        "graph.astream(messages)",
    ]
    assert all(row["us_per_token"] > 0 and row["tokens"] == 200 for row in rows)


def test_bench_refuses_non_positive_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--tokens", "0"]) == 2
    assert "--tokens and --runs must be positive" in capsys.readouterr().err


def test_bench_check_exit_status_follows_the_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "--tokens", "200", "--runs", "1", "--check"])
    out = capsys.readouterr().out
    assert out.startswith("CPU: ") and "; Python: " in out.splitlines()[0]
    verdicts = [line for line in out.splitlines() if line.startswith(("PASS", "MISS"))]
    assert len(verdicts) == len(BUDGETS)
    assert status == (1 if any(v.startswith("MISS") for v in verdicts) else 0)


def test_bench_check_exits_1_when_a_budget_misses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    impossible = Budget("impossible", case="model.astream()", floor="model.stream()", limit=-1e9)
    monkeypatch.setattr(_bench_check, "BUDGETS", [impossible])
    assert main(["bench", "--tokens", "200", "--runs", "1", "--check", "--json"]) == 1
    captured = capsys.readouterr()
    last = json.loads(captured.out.splitlines()[-1])
    assert last["budget"] == "impossible" and last["passed"] is False
    assert "1 budget(s) missed: impossible" in captured.err


def test_check_compares_a_case_with_its_floor() -> None:
    rows = {"model.astream()": 1.5, "bare async generator (floor)": 0.2}
    (verdict,) = check(rows)
    assert verdict.measured == pytest.approx(1.3) and not verdict.passed
    (verdict,) = check({**rows, "model.astream()": 0.9})
    assert verdict.passed and verdict.line().startswith("PASS")
    assert check({}) == []
