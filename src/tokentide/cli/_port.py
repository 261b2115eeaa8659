"""``tokentide port PATH...``: rewrite LangChain / LangGraph imports to tokentide's.

Rewrites the imports of ``langchain_core``, ``langchain``, ``langgraph``, ``langchain_openai``
and ``langchain_community`` in ``.py`` files and in the code cells of ``.ipynb`` notebooks
(directories are searched), keeping formatting and comments. Prints, per file, what changed and
what could not be ported (line and reason); names with no tokentide equivalent are left as they
were. ``--diff`` shows the changes without writing them. Exit status: 0 when everything was
ported, 1 when something could not be, 2 on a usage error. Needs ``pip install
'tokentide[port]'`` (libcst). The mapping is documented in docs/porting.md.

Example::

    tokentide port app/ notebooks/demo.ipynb --diff
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["COMMAND", "HELP", "ORDER", "port_file", "register", "run"]

COMMAND = "port"
HELP = "Rewrite LangChain / LangGraph imports in .py files and notebooks to tokentide's."
ORDER = 50

_SKIP_DIRS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules", ".tox"})


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``port`` arguments to ``parser``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help=".py / .ipynb files or folders")
    parser.add_argument("--diff", action="store_true", help="show a diff, write nothing")
    parser.set_defaults(run=run)


def _files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                parts = set(found.relative_to(path).parts[:-1])
                if found.suffix in (".py", ".ipynb") and found.is_file() and not parts & _SKIP_DIRS:
                    yield found
        else:
            yield path


class FileReport:
    """What porting one file did: new text, changes and problems as ``(where, message)``."""

    def __init__(self, path: Path, old: str, new: str) -> None:
        self.path = path
        self.old = old
        self.new = new
        self.changes: list[tuple[str, str]] = []
        self.problems: list[tuple[str, str]] = []


def _port_py(path: Path, text: str) -> FileReport:
    from ._port_codemod import port_source

    result = port_source(text)
    report = FileReport(path, text, result.code)
    report.changes = [(f"line {f.line}", f.message) for f in result.changes]
    report.problems = [(f"line {f.line}", f.message) for f in result.problems]
    return report


def _port_notebook(path: Path, text: str) -> FileReport:
    from ._port_codemod import mask_magics, port_source, unmask_magics

    nb: dict[str, Any] = json.loads(text)
    changes: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    for n, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        lines = source if isinstance(source, list) else source.splitlines(keepends=True)
        code, masked = mask_magics(lines)
        result = port_source(code)
        changes += [(f"cell {n} line {f.line}", f.message) for f in result.changes]
        problems += [(f"cell {n} line {f.line}", f.message) for f in result.problems]
        if result.changed:
            new = unmask_magics(result.code, masked)
            cell["source"] = new.splitlines(keepends=True) if isinstance(source, list) else new
    new_text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n" if changes else text
    report = FileReport(path, text, new_text)
    report.changes, report.problems = changes, problems
    return report


def port_file(path: Path) -> FileReport:
    """Port one file in memory (nothing is written); raises ``OSError``, ``ValueError`` (a
    notebook that is not JSON) or ``libcst.ParserSyntaxError``."""
    text = path.read_text("utf-8")
    if path.suffix == ".ipynb":
        return _port_notebook(path, text)
    return _port_py(path, text)


def _print_report(report: FileReport, out: TextIO) -> None:
    if not report.changes and not report.problems:
        return
    out.write(f"{report.path}\n")
    for where, message in report.changes:
        out.write(f"  ported   {where}: {message}\n")
    for where, message in report.problems:
        out.write(f"  NOT PORTED {where}: {message}\n")


def run(args: argparse.Namespace) -> int:
    """Port every file; return 1 if something could not be ported, 2 on a usage error."""
    try:
        import libcst  # noqa: F401
    except ImportError:
        sys.stderr.write(
            "tokentide port: needs the 'libcst' package: pip install 'tokentide[port]'\n"
        )
        return 2
    from libcst import ParserSyntaxError

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        sys.stderr.write(f"tokentide port: no such file or folder: {', '.join(missing)}\n")
        return 2
    failed = files = 0
    for path in _files(args.paths):
        try:
            report = port_file(path)
        except (OSError, ValueError, ParserSyntaxError) as exc:
            sys.stdout.write(f"{path}\n  NOT PORTED: cannot read or parse: {exc}\n")
            failed += 1
            continue
        files += 1
        _print_report(report, sys.stdout)
        failed += bool(report.problems)
        if report.new == report.old:
            continue
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    report.old.splitlines(keepends=True),
                    report.new.splitlines(keepends=True),
                    f"a/{str(path).lstrip('/')}",
                    f"b/{str(path).lstrip('/')}",
                )
            )
        else:
            path.write_text(report.new, "utf-8")
    sys.stdout.write(f"{files} file(s) checked, {failed} with something not ported\n")
    return 1 if failed else 0
