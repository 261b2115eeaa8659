"""Tools and schemas as JSON schema: plain functions, pydantic models, TypedDicts, dicts.

Used by every model that sends tools or response schemas to a provider (OpenAI-style
``{"type": "function", "function": {...}}`` tool dicts, ``response_format`` JSON schemas).

Example::

    def add(a: int, b: int = 1) -> int:
        \"\"\"Add two numbers.

        Args:
            a: the first number
            b: the second number
        \"\"\"
        return a + b

    convert_to_openai_tool(add)["function"]["parameters"]["required"]  # ["a"]
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union, get_args, get_origin

from typing_extensions import NotRequired, Required, is_typeddict

__all__ = [
    "convert_to_openai_tool",
    "json_schema_for",
    "schema_kind",
    "type_to_json_schema",
]

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def schema_kind(schema: Any) -> Literal["pydantic", "typeddict", "json_schema", "tool_dict"]:
    """Say what kind of schema ``schema`` is (raise ``TypeError`` for anything else)."""
    if isinstance(schema, Mapping):
        if schema.get("type") == "function" and "function" in schema:
            return "tool_dict"
        return "json_schema"
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return "pydantic"
    if is_typeddict(schema):
        return "typeddict"
    raise TypeError(f"expected a pydantic model, a TypedDict or a JSON schema dict, got {schema!r}")


def json_schema_for(schema: Any) -> tuple[str, str, dict[str, Any]]:
    """``(name, description, parameters)`` of a pydantic model, TypedDict, JSON schema or tool
    dict (a JSON schema names itself with ``title``)."""
    kind = schema_kind(schema)
    if kind == "tool_dict":
        fn = schema["function"]
        return fn["name"], fn.get("description", ""), dict(fn.get("parameters") or {})
    if kind == "json_schema":
        params = dict(schema)
        name = params.pop("title", None) or "output"
        description = params.pop("description", "")
        return _safe_name(name), description, params
    if kind == "pydantic":
        params = dict(schema.model_json_schema())
        params.pop("title", None)
        description = params.pop("description", "") or _doc_summary(schema)
        return schema.__name__, description, params
    params = _typeddict_schema(schema)
    return schema.__name__, _doc_summary(schema), params


def convert_to_openai_tool(tool: Any, *, strict: bool | None = None) -> dict[str, Any]:
    """An OpenAI tool dict for a tool (``tokentide.tools``, or any object with ``name``,
    ``description`` and ``tool_call_schema`` such as a LangChain tool), a function (type hints
    + docstring), a pydantic model, a TypedDict, a JSON schema (``title`` names it) or an
    OpenAI tool dict (kept as it is)."""
    as_openai_tool = getattr(tool, "as_openai_tool", None)
    if as_openai_tool is not None and not isinstance(tool, type):
        # A tokentide tool (``tokentide.tools.BaseTool``) describes itself.
        return dict(as_openai_tool(strict=strict))
    if isinstance(tool, Mapping) and tool.get("type") == "function" and "function" in tool:
        result = dict(tool)
    elif _is_foreign_tool(tool):
        name, description, params = _foreign_tool_schema(tool)
        result = {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": params},
        }
    else:
        if callable(tool) and not isinstance(tool, type):
            name, description, params = _function_schema(tool)
        else:
            name, description, params = json_schema_for(tool)
        function: dict[str, Any] = {"name": name, "description": description}
        function["parameters"] = params
        result = {"type": "function", "function": function}
    if strict is not None:
        result["function"] = {**result["function"], "strict": strict}
    return result


def _is_foreign_tool(tool: Any) -> bool:
    return (
        not isinstance(tool, type)
        and isinstance(getattr(tool, "name", None), str)
        and hasattr(tool, "tool_call_schema")
    )


def _foreign_tool_schema(tool: Any) -> tuple[str, str, dict[str, Any]]:
    """Name, description and parameters of another library's tool object."""
    schema = tool.tool_call_schema
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        params = dict(schema.model_json_schema())
    else:
        params = dict(schema)
    params.pop("title", None)
    params.pop("description", None)
    for prop in params.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return tool.name, str(getattr(tool, "description", "") or ""), params


# ------------------------------------------------------------------------------ functions


def _function_schema(fn: Callable[..., Any]) -> tuple[str, str, dict[str, Any]]:
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=False)
    doc = inspect.getdoc(fn) or ""
    arg_docs = _arg_docs(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or pname in ("self", "cls"):
            continue
        prop = type_to_json_schema(hints.get(pname, Any))
        if pname in arg_docs:
            prop = {**prop, "description": arg_docs[pname]}
        if param.default is param.empty:
            required.append(pname)
        elif param.default is not None and _is_json(param.default):
            prop = {**prop, "default": param.default}
        properties[pname] = prop
    params: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        params["required"] = required
    name = getattr(fn, "__name__", type(fn).__name__)
    return name, _summary(doc), params


def _summary(doc: str) -> str:
    """The docstring up to its first section header (``Args:``, ``Returns:`` ...)."""
    lines: list[str] = []
    for line in doc.splitlines():
        if re.match(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Example)s?:\s*$", line):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def _doc_summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    for base in (dict, object):
        if doc == inspect.getdoc(base):
            return ""
    return _summary(doc)


def _arg_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section."""
    result: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if re.match(r"^(Args|Arguments|Parameters):$", stripped):
            in_args = True
            continue
        if not in_args:
            continue
        if stripped and not line.startswith((" ", "\t")):
            break  # the next section
        match = _ARG_LINE.match(line)
        if match and len(line) - len(line.lstrip()) <= 8:
            current = match.group(1).lstrip("*")
            result[current] = match.group(3).strip()
        elif current and stripped:
            result[current] = f"{result[current]} {stripped}".strip()
    return result


def _is_json(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, list, dict))


# ------------------------------------------------------------------------------ types


def type_to_json_schema(tp: Any) -> dict[str, Any]:
    """JSON schema of a type hint (scalars, containers, ``Optional``/unions, ``Literal``,
    enums, TypedDicts and pydantic models)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return {}
    if tp is None or tp is type(None):
        return {"type": "null"}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Required, NotRequired) or _is_annotated(origin):
        return type_to_json_schema(args[0])
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return {"anyOf": [type_to_json_schema(arg) for arg in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, set, frozenset, tuple) or tp in (list, set, tuple):
        schema: dict[str, Any] = {"type": "array"}
        item_args = [a for a in args if a is not Ellipsis]
        if item_args:
            schema["items"] = type_to_json_schema(item_args[0])
        return schema
    if origin is dict or tp is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = type_to_json_schema(args[1])
        return schema
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if is_typeddict(tp):
        return _typeddict_schema(tp)
    if isinstance(tp, type) and hasattr(tp, "model_json_schema"):
        schema = dict(tp.model_json_schema())
        schema.pop("title", None)
        return schema
    return {}


def _is_annotated(origin: Any) -> bool:
    return origin is typing.Annotated


def _typeddict_schema(td: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(td, include_extras=True)
    required_keys: frozenset[str] = getattr(td, "__required_keys__", frozenset(hints))
    properties = {key: type_to_json_schema(tp) for key, tp in hints.items()}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    # With postponed annotations the class cannot see NotRequired[...]; the hints can.
    required = [
        key
        for key, tp in hints.items()
        if get_origin(tp) is Required
        or (key in required_keys and get_origin(tp) is not NotRequired)
    ]
    if required:
        schema["required"] = required
    return schema


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output"
