"""The porting corpus: each example, run with LangChain / LangGraph and then ported by
``tokentide port`` and run on tokentide, prints the same items; every line the codemod could
not port is reported (and is exactly the lines marked ``# not-ported``).

See tests/port_corpus/README.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("libcst")
pytest.importorskip("langgraph")

from tokentide.cli import main  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "port_corpus"
EXAMPLES = sorted([*CORPUS.glob("*.py"), *CORPUS.glob("*.ipynb")])
_INCUMBENT_IMPORT = re.compile(r"^\s*(from|import)\s+(langchain\w*|langgraph)\b", re.M)


def notebook_code(path: Path) -> str:
    """The code cells of a notebook, in order, without IPython magics and shell lines."""
    cells = json.loads(path.read_text("utf-8"))["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines += [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines) + "\n"


def run_example(path: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if path.suffix == ".ipynb":
            code = compile(notebook_code(path), str(path), "exec")
            exec(code, {"__name__": "__main__"})
        else:
            runpy.run_path(str(path), run_name="__main__")
    return out.getvalue()


def needs_newer_python(path: Path) -> bool:
    return "needs: 3.11" in path.read_text("utf-8") and sys.version_info < (3, 11)


def test_corpus_is_there() -> None:
    assert len(EXAMPLES) >= 10
    assert any(p.suffix == ".ipynb" for p in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_ported_example_prints_the_same(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ported = tmp_path / example.name
    shutil.copy(example, ported)
    text = example.read_text("utf-8")
    source = (notebook_code(example) if example.suffix == ".ipynb" else text).splitlines()
    expected_unported = {i for i, line in enumerate(source, 1) if "# not-ported" in line}

    status = main(["port", str(ported)])
    report = capsys.readouterr().out
    unported = {int(n) for n in re.findall(r"NOT PORTED line (\d+):", report)}
    assert unported == expected_unported, report
    assert status == (1 if expected_unported else 0)
    new = ported.read_text("utf-8")
    left = _INCUMBENT_IMPORT.findall(notebook_code(ported) if example.suffix == ".ipynb" else new)
    # every other import now names tokentide (an unported name keeps an import of its own)
    assert len(left) == len(expected_unported)

    ours = run_example(ported)
    record = example.with_suffix(".out")
    if needs_newer_python(example):
        # LangGraph cannot run this original before Python 3.11: compare with its output as
        # recorded, which the run on 3.11+ checks against the live original below.
        assert ours.splitlines() == record.read_text("utf-8").splitlines()
        return
    theirs = run_example(example)
    assert ours.splitlines() == theirs.splitlines()
    if record.exists():
        assert record.read_text("utf-8").splitlines() == theirs.splitlines(), "stale record"
