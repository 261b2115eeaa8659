"""`tokentide bench`: runs every case and reports a cost per token; ``--check`` gives every
budget a verdict. No timing is asserted: no test depends on a budget passing on this machine."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from fakes.sse_server import blast_body as fake_blast_body
from tokentide.cli import _bench_cases, _bench_check, main
from tokentide.cli._bench import _exit_status, _table
from tokentide.cli._bench_cases import blast_server, floor_sync
from tokentide.cli._bench_check import BUDGETS, Budget, Verdict, check
from tokentide.cli._bench_loopback import blast_body

TINY = ["bench", "--tokens", "30", "--runs", "1"]
STATUSES = ("PASS", "MISS", "SKIP")
GRAPH_BUDGETS = [b for b in BUDGETS if "langgraph" in b.name]


def _verdicts(out: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in out.splitlines()]
    return [row for row in rows if "budget" in row]


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


@pytest.mark.timeout(300)
def test_bench_check_prints_a_verdict_per_budget(capsys: pytest.CaptureFixture[str]) -> None:
    status = main([*TINY, "--check"])
    out = capsys.readouterr().out
    assert out.startswith("CPU: ") and "; Python: " in out.splitlines()[0]
    header = next(line for line in out.splitlines() if line.startswith("case "))
    for column in ("ours µs", "theirs µs", "ratio", "budget", "verdict"):
        assert column in header
    table = out[out.index(header) :].splitlines()[1:]
    assert len(table) == len(BUDGETS)
    for line, budget in zip(table, BUDGETS, strict=True):
        assert line.startswith(budget.name)
        assert line.split("  ")[-1].split()[0] in STATUSES
    assert status == (1 if any(line.split("  ")[-1].startswith("MISS") for line in table) else 0)


@pytest.mark.timeout(300)
def test_bench_check_json_has_the_cases_and_the_verdicts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main([*TINY, "--check", "--json"])
    out = capsys.readouterr().out
    cases = [row["case"] for row in map(json.loads, out.splitlines()) if "case" in row]
    verdicts = _verdicts(out)
    assert [v["budget"] for v in verdicts] == [b.name for b in BUDGETS]
    for v in verdicts:
        assert v["status"] in STATUSES and v["passed"] == (v["status"] == "PASS")
        if v["status"] == "SKIP":
            assert v["measured"] is None and v["reason"]
        else:  # both sides of a measured budget are among the cases shown
            budget = next(b for b in BUDGETS if b.name == v["budget"])
            assert budget.case in cases and budget.floor in cases
    assert status == (1 if any(v["status"] == "MISS" for v in verdicts) else 0)


@pytest.mark.timeout(300)
def test_a_missing_incumbent_is_a_skip_and_fails_only_with_strict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("langgraph", "langgraph.graph"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    monkeypatch.setattr(_bench_check, "BUDGETS", GRAPH_BUDGETS)

    assert main([*TINY, "--check"]) == 0  # nothing missed: a skip alone does not fail
    captured = capsys.readouterr()
    table = captured.out.splitlines()[-len(GRAPH_BUDGETS) :]
    assert all("SKIP (skipped: langgraph not installed)" in line for line in table)
    assert "2 budget(s) skipped" in captured.err

    assert main([*TINY, "--check", "--json", "--strict"]) == 1
    captured = capsys.readouterr()
    verdicts = _verdicts(captured.out)
    assert [v["status"] for v in verdicts] == ["SKIP", "SKIP"]
    assert {v["reason"] for v in verdicts} == {"langgraph not installed"}
    assert "--strict: a skip fails" in captured.err


@pytest.mark.timeout(300)
def test_no_loopback_server_skips_the_openai_budgets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @contextmanager
    def no_server(n: int) -> Iterator[str]:
        raise RuntimeError("the loopback server did not start within 30 s")
        yield ""  # pragma: no cover

    monkeypatch.setattr(_bench_cases, "blast_server", no_server)
    openai_budgets = [b for b in BUDGETS if b.name.startswith("ChatOpenAI")]
    monkeypatch.setattr(_bench_check, "BUDGETS", openai_budgets)
    assert main([*TINY, "--check", "--json"]) == 0
    verdicts = _verdicts(capsys.readouterr().out)
    assert [v["status"] for v in verdicts] == ["SKIP", "SKIP"]
    assert all("no loopback server" in str(v["reason"]) for v in verdicts)


@pytest.mark.timeout(300)
def test_bench_check_exits_1_when_a_budget_misses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    impossible = Budget("impossible", case="model.astream()", floor="model.stream()", limit=-1e9)
    monkeypatch.setattr(_bench_check, "BUDGETS", [impossible])
    assert main(["bench", "--tokens", "200", "--runs", "1", "--check", "--json"]) == 1
    captured = capsys.readouterr()
    last = json.loads(captured.out.splitlines()[-1])
    assert last["budget"] == "impossible" and last["passed"] is False
    assert last["status"] == "MISS"
    assert "1 budget(s) missed: impossible" in captured.err


# ---------------------------------------------------------------------- check, on given figures


def test_check_compares_a_case_with_its_floor() -> None:
    rows = {"model.astream()": 1.5, "bare async generator (floor)": 0.2}
    verdict = check(rows)[0]
    assert verdict.measured == pytest.approx(1.3) and verdict.status == "MISS"
    verdict = check({**rows, "model.astream()": 0.9})[0]
    assert verdict.passed and verdict.line().startswith("PASS")


def test_check_judges_speedups_and_ratios() -> None:
    figures = {
        "model.astream()": 1.0,
        "langchain-core model.astream()": 20.0,
        "graph.stream(messages), sync node": 2.0,
        "langgraph graph.stream(messages), sync node": 20.0,
        "ChatOpenAI.stream()": 4.0,
        "floor: httpx + json.loads (sync)": 3.0,
        "ChatOpenAI.astream()": 7.0,
        "floor: httpx + json.loads (async)": 4.0,
    }
    by_name = {v.budget.name: v for v in check(figures)}
    assert by_name["model.astream() vs langchain-core"].measured == pytest.approx(20.0)
    assert by_name["model.astream() vs langchain-core"].status == "PASS"
    assert by_name["graph messages mode (sync node) vs langgraph"].status == "MISS"  # 10x
    assert by_name["ChatOpenAI.stream() over the httpx + json.loads floor"].status == "PASS"
    assert by_name["ChatOpenAI.astream() over the httpx + json.loads floor"].status == "MISS"
    assert by_name["model.astream() over the async-generator floor"].status == "SKIP"


def test_a_budget_without_its_measurements_is_a_skip_with_the_reason() -> None:
    verdicts = check({}, skipped={"langchain-core model.astream()": "langchain-core not installed"})
    assert [v.status for v in verdicts] == ["SKIP"] * len(BUDGETS)
    assert not any(v.passed for v in verdicts)
    lc = next(v for v in verdicts if "langchain-core" in v.budget.name)
    assert lc.reason == "langchain-core not installed"
    assert lc.line() == f"SKIP  {lc.budget.name}: skipped: langchain-core not installed"
    assert verdicts[0].reason == "not measured"


def _verdict(status: str) -> Verdict:
    budget = Budget(status.lower(), case="a", floor="b", limit=10.0, kind="speedup")
    measured = {"PASS": 20.0, "MISS": 5.0, "SKIP": None}[status]
    return Verdict(budget, measured, reason="" if measured else "b not installed")


@pytest.mark.parametrize(
    ("statuses", "strict", "expected"),
    [
        (["PASS", "PASS"], False, 0),
        (["PASS", "MISS"], False, 1),
        (["PASS", "SKIP"], False, 0),
        (["PASS", "SKIP"], True, 1),
        (["PASS"], True, 0),
        (["MISS", "SKIP"], False, 1),
    ],
)
def test_exit_status(
    statuses: list[str], strict: bool, expected: int, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = [_verdict(s) for s in statuses]
    assert [v.status for v in verdicts] == statuses
    assert _exit_status(verdicts, strict=strict) == expected


def test_table_has_a_row_per_verdict() -> None:
    lines = _table([_verdict("PASS"), _verdict("MISS"), _verdict("SKIP")])
    assert lines[0].split()[0] == "case" and lines[0].endswith("verdict")
    assert lines[1].endswith("PASS") and "20.00x" in lines[1] and "≥ 10x" in lines[1]
    assert lines[2].endswith("MISS")
    assert lines[3].endswith("SKIP (skipped: b not installed)")


# ---------------------------------------------------------------------- the OpenAI loopback


def test_loopback_body_is_the_scripted_servers_blast_body() -> None:
    assert blast_body(5) == fake_blast_body(5)


@pytest.mark.timeout(60)
def test_loopback_server_streams_n_chunks_and_stops() -> None:
    with blast_server(7) as url, httpx.Client() as client:
        assert url.startswith("http://127.0.0.1:")
        assert floor_sync(client, url) == 7 + 3  # role, 7 tokens, finish, usage
        assert floor_sync(client, url) == 10  # a kept-alive connection gets the next one
    with pytest.raises(httpx.ConnectError), httpx.Client() as client:
        floor_sync(client, url)
