"""Merging rules for the metadata dicts and ids of streamed chunks."""

from __future__ import annotations

from typing import Any

__all__ = ["merge_dicts", "merge_ids"]

_RUN_ID_PREFIXES = ("run-", "lc_run")
#: Keys whose string values stream in pieces (reasoning text, refusals): concatenated.
_STREAMED_TEXT_KEYS = frozenset({"reasoning_content", "refusal"})


def merge_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Merge ``right`` into a copy of ``left``.

    - ``None`` never overwrites a value; an empty string never overwrites a string;
    - nested dicts are merged with the same rules;
    - lists are concatenated; so are the streamed text keys ``reasoning_content`` and
      ``refusal`` (they arrive in pieces like ``content``);
    - any other value from ``right`` wins (so ``finish_reason`` keeps the last one given).

    Example::

        merge_dicts({"model_name": "m", "x": {"a": 1}}, {"finish_reason": "stop", "x": {"b": 2}})
        # {"model_name": "m", "x": {"a": 1, "b": 2}, "finish_reason": "stop"}
    """
    if not left:
        return dict(right)
    merged = dict(left)
    for key, value in right.items():
        if value is None or key not in merged:
            if key not in merged:
                merged[key] = value
            continue
        old = merged[key]
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = merge_dicts(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            merged[key] = old + value
        elif value == "" and isinstance(old, str):
            continue
        elif key in _STREAMED_TEXT_KEYS and isinstance(old, str) and isinstance(value, str):
            merged[key] = old + value
        else:
            merged[key] = value
    return merged


def merge_ids(left: str | None, right: str | None) -> str | None:
    """The id of a merged chunk: the first one, preferring provider ids over run ids."""
    if left is None or left == right:
        return right if left is None else left
    if right is not None and left.startswith(_RUN_ID_PREFIXES):
        if not right.startswith(_RUN_ID_PREFIXES):
            return right
    return left
