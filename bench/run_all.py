"""Run every ``bench/bench_*.py`` one after the other and merge their figures.

Each script runs in its own process (so that one library's imports, caches and garbage do not
weigh on another's figures) with ``--jsonl``; the rows are merged into
``bench/results/latest.json``::

    {"environment": {...}, "command": "...", "benches": {"core": {"rc": 0, "rows": [...]}, ...}}

Run::

    python bench/run_all.py                 # every bench, full size
    python bench/run_all.py --smoke         # every bench, tiny sizes
    python bench/run_all.py core graph      # only bench_core.py and bench_graph.py
    python bench/run_all.py --out PATH      # write somewhere else than bench/results/latest.json

Options after ``--`` are passed to every script that uses the common options of
``bench/_common.py`` (e.g. ``-- --runs 5``). A script without them (no ``--jsonl``/``--smoke``
in its ``--help``) is run with no arguments and its printed output is stored instead of rows;
with ``--smoke`` it is skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import environment  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "results" / "latest.json"


def discover(names: list[str]) -> list[Path]:
    """The bench scripts to run: all of them, or those named (``core`` or ``bench_core``)."""
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if not names:
        return scripts
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
    chosen = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    missing = wanted - {s.stem.removeprefix("bench_") for s in chosen}
    if missing:
        raise SystemExit(f"no such bench: {', '.join(sorted(missing))}")
    return chosen


def uses_harness(script: Path) -> bool:
    """Whether ``script`` takes the common options of ``bench/_common.py`` (``--jsonl``,
    ``--smoke``)."""
    proc = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    return proc.returncode == 0 and "--jsonl" in proc.stdout and "--smoke" in proc.stdout


def run_one(script: Path, extra: list[str], smoke: bool) -> dict[str, Any]:
    """Run one script; return its rc, rows (or, for a script that does not write rows, its
    printed output) and time."""
    entry: dict[str, Any] = {"script": f"bench/{script.name}"}
    if not uses_harness(script):
        if smoke:
            print(f"skipped: {script.name} has no --smoke option")
            return {**entry, "rc": 0, "skipped": "no --smoke option"}
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        print(proc.stdout, end="")
        print(proc.stderr, end="", file=sys.stderr)
        seconds = round(time.perf_counter() - start, 1)
        return {**entry, "rc": proc.returncode, "seconds": seconds, "output": proc.stdout}
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "rows.jsonl"
        start = time.perf_counter()
        cmd = [sys.executable, str(script), "--jsonl", str(jsonl)]
        proc = subprocess.run([*cmd, *(["--smoke"] if smoke else []), *extra], check=False)
        elapsed = time.perf_counter() - start
        rows: list[dict[str, Any]] = []
        if jsonl.exists():
            rows = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines() if line]
    env = next((r for r in rows if r.get("kind") == "env"), None)
    return {
        **entry,
        "rc": proc.returncode,
        "seconds": round(elapsed, 1),
        "environment": env,
        "rows": [r for r in rows if r.get("kind") != "env"],
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python", "bench/run_all.py", *argv])
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description="Run every bench/bench_*.py script.")
    parser.add_argument("names", nargs="*", help="benches to run (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (pass --smoke on)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="merged JSON output")
    ns = parser.parse_args(argv)
    benches: dict[str, Any] = {}
    failed = []
    for script in discover(ns.names):
        name = script.stem.removeprefix("bench_")
        print(f"=== {script.name} ===", flush=True)
        benches[name] = result = run_one(script, extra, ns.smoke)
        if result["rc"] != 0:
            failed.append(script.name)
        print(flush=True)
    merged = {
        "environment": environment(),
        "command": command,
        "smoke": ns.smoke,
        "benches": benches,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {ns.out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
