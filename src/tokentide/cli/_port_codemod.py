"""The codemod behind ``tokentide port``: rewrite incumbent imports in one module's source.

Sans-I/O: :func:`port_source` takes source text and returns the new text with what changed and
what could not be ported. It edits a concrete syntax tree (libcst), so formatting and comments
stay as they were. The mapping is :data:`tokentide._port_map.MODULES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from tokentide._port_map import INCUMBENT_ROOTS, ModuleRow, row_for

__all__ = ["Finding", "PortResult", "mask_magics", "port_source", "unmask_magics"]


@dataclass(frozen=True)
class Finding:
    """One line of the report: a change made, or something left alone and why."""

    line: int
    message: str


@dataclass
class PortResult:
    """What :func:`port_source` did to one source text."""

    code: str
    changes: list[Finding] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _dotted(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def _as_expr(dotted: str) -> cst.Attribute | cst.Name:
    parts = dotted.split(".")
    node: cst.Attribute | cst.Name = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(node, cst.Name(part))
    return node


def _is_incumbent(module: str) -> bool:
    return module.split(".", 1)[0] in INCUMBENT_ROOTS


def _ancestor_row(module: str) -> ModuleRow | None:
    parts = module.split(".")
    for n in range(len(parts) - 1, 0, -1):
        row = row_for(".".join(parts[:n]))
        if row is not None and row.status == "supported":
            return row
    return None


def _why(row: ModuleRow | None, module: str, name: str | None = None) -> str:
    if row is None:
        return f"module `{module}` has no tokentide twin (see docs/porting.md)"
    if row.status == "planned":
        return f"`{module}` -> `{row.target}` is planned, not available yet"
    if row.status == "unsupported" or row.target is None:
        return f"`{module}` is not supported: {row.unsupported}"
    return f"`{name}` of `{module}` has no tokentide equivalent ({row.unsupported or 'not ported'})"


class _Porter(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[Finding] = []
        self.problems: list[Finding] = []
        #: ``import a.b`` rewritten: dotted prefix used in the code -> new prefix.
        self.prefixes: dict[str, tuple[str, ModuleRow]] = {}

    def _line(self, node: cst.CSTNode) -> int:
        return int(self.get_metadata(PositionProvider, node).start.line)

    # ------------------------------------------------------------------ from X import a, b

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> Any:
        if len(updated.body) != 1 or not isinstance(updated.body[0], cst.ImportFrom):
            return updated
        node = updated.body[0]
        if node.relative or node.module is None:
            return updated
        module = _dotted(node.module)
        if module is None or not _is_incumbent(module):
            return updated
        line = self._line(original)
        row = row_for(module)
        if row is None and not isinstance(node.names, cst.ImportStar):
            # A submodule (``langchain_core.messages.ai``): its names port as the package's.
            row = _ancestor_row(module)
        if row is None or row.status != "supported" or row.target is None:
            self.problems.append(Finding(line, _why(row_for(module), module)))
            return updated
        if isinstance(node.names, cst.ImportStar):
            self.changes.append(Finding(line, f"from {module} import * -> {row.target}"))
            return updated.with_changes(body=[node.with_changes(module=_as_expr(row.target))])
        return self._split(updated, node, module, row, line)

    def _split(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.ImportFrom,
        module: str,
        row: ModuleRow,
        line: int,
    ) -> Any:
        assert not isinstance(node.names, cst.ImportStar)
        groups: dict[str, list[cst.ImportAlias]] = {}
        for alias in node.names:
            name = _dotted(alias.name) or ""
            dest = row.destination(name)
            if dest is None:
                self.problems.append(Finding(line, _why(row, module, name)))
                groups.setdefault(module, []).append(alias)
                continue
            target, new = dest
            if new != name:
                asname = alias.asname or cst.AsName(name=cst.Name(name))
                alias = alias.with_changes(name=cst.Name(new), asname=asname)
            groups.setdefault(target, []).append(alias)
        ported = [m for m in groups if m != module]
        if not ported:
            return stmt
        self.changes.append(Finding(line, f"from {module} import ... -> {', '.join(ported)}"))
        if len(groups) == 1:
            return stmt.with_changes(body=[node.with_changes(module=_as_expr(ported[0]))])
        lines = []
        for i, (target, aliases) in enumerate(groups.items()):
            keep_parens = len(aliases) > 1 and bool(node.lpar)
            last = aliases[-1]
            if not keep_parens:  # a trailing comma is valid only inside parentheses
                last = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
            new_node = node.with_changes(
                module=_as_expr(target),
                names=[*aliases[:-1], last],
                lpar=node.lpar if keep_parens else None,
                rpar=node.rpar if keep_parens else None,
            )
            extra = {} if i == 0 else {"leading_lines": ()}
            lines.append(stmt.with_changes(body=[new_node], **extra))
        return cst.FlattenSentinel(lines)

    # ------------------------------------------------------------------ import a.b [as c]

    def leave_Import(self, original: cst.Import, updated: cst.Import) -> cst.Import:
        names = []
        for alias in updated.names:
            module = _dotted(alias.name) or ""
            if not _is_incumbent(module):
                names.append(alias)
                continue
            line = self._line(original)
            row = row_for(module)
            if row is None or row.status != "supported" or row.target is None:
                self.problems.append(Finding(line, _why(row, module)))
                names.append(alias)
                continue
            self.changes.append(Finding(line, f"import {module} -> {row.target}"))
            if alias.asname is None:
                self.prefixes[module] = (row.target, row)
            names.append(alias.with_changes(name=_as_expr(row.target)))
        return updated.with_changes(names=names)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> Any:
        if not self.prefixes:
            return updated
        dotted = _dotted(original)
        if dotted is None:
            return updated
        for prefix, (target, row) in self.prefixes.items():
            if dotted.startswith(prefix + ".") and dotted.count(".") == prefix.count(".") + 1:
                name = dotted.rsplit(".", 1)[1]
                dest = row.destination(name)
                if dest is None:
                    self.problems.append(Finding(self._line(original), _why(row, prefix, name)))
                    return _as_expr(f"{target}.{name}")
                return _as_expr(f"{dest[0]}.{dest[1]}")
        return updated


def port_source(code: str) -> PortResult:
    """Rewrite the incumbent imports of ``code`` (a Python module); raises
    ``libcst.ParserSyntaxError`` if it does not parse."""
    tree = MetadataWrapper(cst.parse_module(code))
    porter = _Porter()
    new = tree.visit(porter)
    problems = sorted(set(porter.problems), key=lambda f: (f.line, f.message))
    return PortResult(new.code, porter.changes, problems)


def mask_magics(lines: Sequence[str]) -> tuple[str, list[tuple[int, str]]]:
    """Notebook cell source with IPython magics and shell lines (``%``, ``!``) turned into
    comments, so that it parses; :func:`unmask_magics` restores them."""
    masked: list[tuple[int, str]] = []
    out = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            masked.append((i, line))
            out.append(f"#__tokentide_magic_{i}__" + ("\n" if line.endswith("\n") else ""))
        else:
            out.append(line)
    return "".join(out), masked


def unmask_magics(code: str, masked: list[tuple[int, str]]) -> str:
    for i, line in masked:
        code = code.replace(f"#__tokentide_magic_{i}__", line.rstrip("\n"), 1)
    return code
