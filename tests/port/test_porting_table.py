"""docs/porting.md is the mapping table, and every tokentide path it lists as supported exists.

The table in the docs, the codemod and the import twins share one data structure
(``tokentide._port_map.MODULES``): the docs must equal its rendering, and each supported row's
module must import and hold every name the row lists.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tokentide._port_map import MODULES, ModuleRow, render_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "porting.md"
_ROW = re.compile(r"^\| `(?P<incumbent>[\w.]+)` \| (?P<target>`[\w.]+`|—) \| (?P<status>\w+) \|")


def doc_rows() -> list[tuple[str, str | None, str]]:
    rows = []
    for line in DOC.read_text("utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            target = m["target"].strip("`") if m["target"] != "—" else None
            rows.append((m["incumbent"], target, m["status"]))
    return rows


def test_docs_table_is_the_mapping() -> None:
    assert render_table() in DOC.read_text("utf-8"), "regenerate the table: render_table()"
    assert len(doc_rows()) == len(MODULES)


@pytest.mark.parametrize("row", [r for r in MODULES if r.status == "supported"], ids=str)
def test_every_supported_path_imports(row: ModuleRow) -> None:
    assert (row.incumbent, row.target, "supported") in doc_rows()
    assert row.target is not None
    module = importlib.import_module(row.target)
    for name in row.names:
        assert getattr(module, name, None) is not None, f"{row.target}.{name}"
        assert name in getattr(module, "__all__", ()), f"{name} not in {row.target}.__all__"
    for name, moved in row.moved.items():
        target, _, new = moved.partition(":")
        assert getattr(importlib.import_module(target), new, None) is not None, (name, moved)


def test_planned_rows_are_really_missing() -> None:
    """A row stays "planned" only while its module does not exist (then it must list names)."""
    for row in MODULES:
        if row.status == "planned":
            assert row.target is not None
            with pytest.raises(ImportError):
                importlib.import_module(row.target)


def test_ported_names_are_the_incumbents_names() -> None:
    """Each name a row ports exists in the incumbent module (when that is installed)."""
    for row in MODULES:
        try:
            incumbent = importlib.import_module(row.incumbent)
        except ImportError:
            continue
        for name in (*row.names, *row.moved):
            assert hasattr(incumbent, name), f"{row.incumbent} has no {name}"
