"""Every benchmark script still runs (tiny sizes, one run). No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "bench").glob("bench_*.py"))


def _run_smoke(script: Path, tmp_path: Path, *flags: str) -> tuple[str, list[dict[str, Any]]]:
    """Run ``script FLAGS --smoke --jsonl FILE`` (it must succeed); its output and rows."""
    jsonl = tmp_path / "rows.jsonl"
    proc = subprocess.run(
        [sys.executable, str(script), *flags, "--smoke", "--jsonl", str(jsonl)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, [json.loads(line) for line in jsonl.read_text("utf-8").splitlines()]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_bench_script_runs_in_smoke_size(script: Path, tmp_path: Path) -> None:
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "--smoke" in help_text and "--jsonl" in help_text, (
        f"{script.name} must take the --smoke/--jsonl options of bench/_common.py"
    )
    stdout, rows = _run_smoke(script, tmp_path)
    kinds = {row["kind"] for row in rows}
    assert "env" in kinds
    env = next(row for row in rows if row["kind"] == "env")
    assert env["cpu_model"] and env["python_build"]
    assert "machine: CPU " in stdout, "every bench prints its CPU model and Python build"
    assert "result" in kinds
    for row in rows:
        if row["kind"] != "result":
            continue
        if "added inter-token" in row["impl"]:
            # A gap minus the model's 50 ms pacing: signed, since a timer that fires a
            # fraction of a millisecond early (libuv rounds to whole ms) makes it negative.
            # A gap itself is never negative, nor is the added latency ever below -50 ms.
            assert row["value"] > -50, row
        else:
            assert row["value"] >= 0, row


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_bench_server_proxy_completes_every_stream_in_smoke_size(
    tmp_path: Path, workers: str
) -> None:
    """``bench_server.py --proxy [--workers 2]``: the load through an ``openai:<name>`` proxy
    (one or two processes) completes, and the paced upstream's CPU is reported."""
    _, rows = _run_smoke(
        ROOT / "bench" / "bench_server.py", tmp_path, "--proxy", "--workers", workers
    )
    completed = [r for r in rows if r["kind"] == "result" and r["impl"] == "completed streams"]
    assert [r["value"] for r in completed] == [20], rows
    assert "proxy" in completed[0]["case"]
    assert ("2 workers" in completed[0]["case"]) == (workers == "2")
    upstream = [r for r in rows if r["kind"] == "result" and r["impl"] == "upstream CPU per token"]
    assert len(upstream) == 1, rows  # (its value may round to 0 at this size)
    # The first tokens' wait is reported beside the inter-token budget.
    first = [r for r in rows if r["kind"] == "result" and r["impl"] == "p99 time to first token"]
    assert len(first) == 1 and first[0]["value"] > 0, rows


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("flag", "name"), [("--relay-floor", "relay floor"), ("--proxy-floor", "proxy floor")]
)
def test_bench_server_floors_complete_every_stream_in_smoke_size(
    tmp_path: Path, flag: str, name: str
) -> None:
    """``bench_server.py --relay-floor`` (a bare TCP relay) and ``--proxy-floor`` (a bare ASGI
    app relaying the upstream's body through tokentide's pool) pass every stream through."""
    _, rows = _run_smoke(ROOT / "bench" / "bench_server.py", tmp_path, flag)
    completed = [r for r in rows if r["kind"] == "result" and r["impl"] == "completed streams"]
    assert [r["value"] for r in completed] == [20], rows
    assert name in completed[0]["case"]


def test_run_all_merges_rows_in_smoke_size(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "core", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merged = json.loads(out.read_text("utf-8"))
    assert merged["benches"]["core"]["rc"] == 0
    assert merged["benches"]["core"]["rows"]
    assert merged["environment"]["python"]


def test_common_harness_measures_and_checks_budgets() -> None:
    from bench._common import check_budget, close_event_loop, measure, peak_memory

    async def agen_sum() -> int:
        return sum(range(100))

    try:
        timings = measure(
            {"sync": lambda: sum(range(100)), "async": agen_sum}, runs=2, warmup=1, per=100
        )
        peak = peak_memory(lambda: [0] * 10_000)
    finally:
        close_event_loop()  # after every harness call: peak_memory uses the loop too
    assert len(timings["sync"].samples) == 2
    assert timings["async"].us_per_item > 0
    assert peak >= 8 * 10_000
    assert check_budget("t", "b", measured=2.0, limit=1.0, unit="x", higher_is_better=True).passed
    assert not check_budget(
        "t", "b", measured=2.0, limit=1.0, unit="us", higher_is_better=False
    ).passed
