"""`tokentide bench`: runs every case and reports a cost per token (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from tokentide.cli import main


def test_bench_reports_every_case_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--tokens", "200", "--runs", "1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
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
