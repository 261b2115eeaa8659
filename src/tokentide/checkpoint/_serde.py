"""Checkpoint serialization: JSON with type tags.

Messages, tuples, sets and dicts with non-string keys are written as tagged JSON objects
(``{"__tt__": "msg", "v": {...}}``) so they come back as the same types. Any other object that
JSON cannot hold (a dataclass, a datetime) is pickled and stored base64-encoded under the tag
``"pickle"``: only load checkpoint files you trust.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

from tokentide.messages import BaseMessage, message_from_dict

__all__ = ["dumps", "loads"]

_TAG = "__tt__"


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: _encode(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, BaseMessage):
        return {_TAG: "msg", "v": value.model_dump()}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "v": [_encode(v) for v in value]}
    data = base64.b64encode(pickle.dumps(value)).decode("ascii")
    return {_TAG: "pickle", "v": data}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: _decode(v) for k, v in value.items()}
    raw = value["v"]
    if tag == "msg":
        return message_from_dict(raw)
    if tag == "tuple":
        return tuple(_decode(v) for v in raw)
    if tag == "set":
        return {_decode(v) for v in raw}
    if tag == "dict":
        return {_decode(k): _decode(v) for k, v in raw}
    if tag == "pickle":
        return pickle.loads(base64.b64decode(raw))  # noqa: S301 - documented above
    raise ValueError(f"unknown checkpoint type tag {tag!r}")


def dumps(value: Any) -> str:
    """Serialize a checkpoint value to JSON text."""
    return json.dumps(_encode(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """Read back what :func:`dumps` wrote."""
    return _decode(json.loads(text))
