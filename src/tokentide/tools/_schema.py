"""Argument schemas of tools: from a function's signature and docstring, or a pydantic model.

A tool's parameters fall in two groups: the ones the model fills in (they make the JSON schema
sent to the provider) and the *injected* ones, which the caller supplies at run time and the
model never sees: ``Annotated[..., InjectedToolArg]`` (and its kinds ``InjectedToolCallId``,
``InjectedState``), a ``runtime: ToolRuntime`` parameter and a ``config: RunnableConfig``
parameter.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

from tokentide.models._tools import type_to_json_schema
from tokentide.runtime import RunnableConfig

__all__ = [
    "ArgSpec",
    "InjectedToolArg",
    "InjectedToolCallId",
    "ToolSchema",
    "function_schema",
    "is_injected_marker",
    "parse_docstring",
    "pydantic_schema",
]


class InjectedToolArg:
    """Marks a tool parameter that the caller supplies at run time, never the model.

    Such a parameter is left out of the schema sent to the model; pass its value in the
    arguments when invoking the tool (``ToolNode`` fills in the kinds it knows).

    Example::

        @tool
        def lookup(query: str, user_id: Annotated[str, InjectedToolArg]) -> str:
            \"\"\"Look something up for a user.\"\"\"
            ...
    """


class InjectedToolCallId(InjectedToolArg):
    """Marks the parameter that receives the id of the tool call being run.

    Example::

        @tool
        def record(note: str, call_id: Annotated[str, InjectedToolCallId]) -> str:
            \"\"\"Record a note.\"\"\"
            return f"saved under {call_id}"
    """


def is_injected_marker(item: Any) -> bool:
    """Whether an ``Annotated`` metadata item marks an injected argument (class or instance)."""
    if isinstance(item, type):
        return issubclass(item, InjectedToolArg)
    return isinstance(item, InjectedToolArg)


def _marker(tp: Any) -> Any:
    """The injected-argument marker in an ``Annotated`` hint, else ``None``."""
    if get_origin(tp) is typing.Annotated:
        for item in get_args(tp)[1:]:
            if is_injected_marker(item):
                return item
    return None


@dataclass
class ArgSpec:
    """One parameter of a tool function."""

    name: str
    annotation: Any
    required: bool
    default: Any = None
    #: ``None`` for an argument the model fills in; else "marker", "runtime" or "config".
    injected: str | None = None
    marker: Any = None


@dataclass
class ToolSchema:
    """What a tool needs to know about its arguments."""

    properties: dict[str, Any]
    required: list[str]
    args: list[ArgSpec] = field(default_factory=list)
    #: A pydantic model validating the model-filled arguments, if the tool has one.
    model: Any = None
    #: Shared definitions (``$defs``) the properties refer to.
    defs: dict[str, Any] | None = None

    @property
    def injected(self) -> dict[str, ArgSpec]:
        """The injected arguments by name (made once per list of arguments; read-only)."""
        args = self.args
        cached = self.__dict__.get("_injected")
        if cached is None or cached[0] is not args or cached[1] != len(args):
            found = {a.name: a for a in args if a.injected is not None}
            cached = self.__dict__["_injected"] = (args, len(args), found)
        return cached[2]

    def json_schema(self, name: str, description: str) -> dict[str, Any]:
        """The arguments as a JSON schema object (LangChain's ``tool_call_schema`` shape)."""
        schema: dict[str, Any] = {
            "description": description,
            "properties": self.properties,
            "title": name,
            "type": "object",
        }
        if self.required:
            schema["required"] = list(self.required)
        if self.defs:
            schema["$defs"] = self.defs
        return schema


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?):\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and its ``Args:`` descriptions."""
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in doc.splitlines():
        match = _SECTION.match(line)
        if match:
            section = match.group(1)
            current = None
            continue
        if section is None:
            summary.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters"):
            continue
        arg = _ARG_LINE.match(line)
        if arg and len(line) - len(line.lstrip()) <= 8:
            current = arg.group(1).lstrip("*")
            args[current] = arg.group(3).strip()
        elif current and line.strip():
            args[current] = f"{args[current]} {line.strip()}"
    return "\n".join(summary).strip(), args


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(fn, "__annotations__", {}))


def _is_runtime(tp: Any) -> bool:
    from ._runtime import ToolRuntime

    base = get_args(tp)[0] if get_origin(tp) is typing.Annotated else tp
    return base is ToolRuntime or (isinstance(base, type) and issubclass(base, ToolRuntime))


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def function_schema(fn: Callable[..., Any], *, docstring_args: dict[str, str]) -> ToolSchema:
    """The schema of a plain (sync, async or generator) function's parameters."""
    hints = _hints(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    specs: list[ArgSpec] = []
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or pname in ("self", "cls"):
            continue
        tp = hints.get(pname, Any)
        has_default = param.default is not param.empty
        spec = ArgSpec(pname, tp, not has_default, param.default if has_default else None)
        marker = _marker(tp)
        if marker is not None:
            spec.injected, spec.marker = "marker", marker
        elif _is_runtime(tp) or (pname == "runtime" and tp is Any):
            spec.injected = "runtime"
        elif tp is RunnableConfig or (pname == "config" and tp is Any):
            spec.injected = "config"
        specs.append(spec)
        if spec.injected is not None:
            continue
        prop = {**type_to_json_schema(tp)}
        if pname in docstring_args:
            prop["description"] = docstring_args[pname]
        if has_default:
            prop["default"] = param.default
        prop["title"] = _title(pname)
        properties[pname] = prop
        if not has_default:
            required.append(pname)
    return ToolSchema(properties, required, specs)


def pydantic_schema(model: Any, fn: Callable[..., Any] | None) -> ToolSchema:
    """The schema of a pydantic ``args_schema`` (injected parameters of ``fn`` kept aside)."""
    full = model.model_json_schema()
    properties = dict(full.get("properties", {}))
    required = list(full.get("required", []))
    specs = function_schema(fn, docstring_args={}).args if fn is not None else []
    injected = {s.name for s in specs if s.injected is not None}
    for name in injected:
        properties.pop(name, None)
    required = [r for r in required if r not in injected]
    if not specs:
        specs = [ArgSpec(name, Any, name in required) for name in properties]
    return ToolSchema(properties, required, specs, model=model, defs=full.get("$defs"))
