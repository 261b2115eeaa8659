"""Parse the JSON prefix of a tool call's arguments while it is still streaming.

The wire layer owns the incremental parser; this module finds it there and keeps a small
fallback for when it is not available.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

__all__ = ["parse_partial_json"]

_CLOSERS = {"{": "}", "[": "]"}


def _scan(text: str) -> tuple[list[str], bool]:
    """Return the stack of unclosed brackets and whether the text ends inside a string."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "}]" and stack and stack[-1] == char:
            stack.pop()
    return stack, in_string


def _complete(text: str) -> str:
    stack, in_string = _scan(text)
    if in_string:
        if text.endswith("\\") and not text.endswith("\\\\"):
            text = text[:-1]
        text += '"'
    return text + "".join(reversed(stack))


def _parse_partial_json(text: str) -> Any:
    """Parse ``text``, closing unfinished strings, arrays and objects.

    A trailing incomplete token (``tru``, ``"key": ``, a dangling comma) is dropped. Raises
    ``ValueError`` when no prefix of the text parses.

    Example::

        _parse_partial_json('{"city": "Par')  # {"city": "Par"}
    """
    try:
        return json.loads(text)
    except ValueError:
        pass
    candidate = text.rstrip()
    while candidate:
        try:
            return json.loads(_complete(candidate))
        except ValueError:
            candidate = candidate[:-1].rstrip()
    raise ValueError(f"not even a prefix of a JSON document: {text[:40]!r}")


def _find_parser() -> Callable[[str], Any]:
    try:
        wire = importlib.import_module("tokentide.wire")
    except ImportError:  # pragma: no cover - the wire layer ships with the package
        return _parse_partial_json
    found = getattr(wire, "parse_partial_json", None)
    return found if callable(found) else _parse_partial_json


parse_partial_json: Callable[[str], Any] = _find_parser()
