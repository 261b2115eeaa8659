"""Token usage: the ``UsageMetadata`` shape and its addition."""

from __future__ import annotations

from typing import Any, cast

from typing_extensions import NotRequired, TypedDict

__all__ = ["InputTokenDetails", "OutputTokenDetails", "UsageMetadata", "add_usage"]


class InputTokenDetails(TypedDict, total=False):
    """Breakdown of input tokens (every key optional).

    Example::

        details: InputTokenDetails = {"cache_read": 100}
    """

    audio: int
    cache_creation: int
    cache_read: int


class OutputTokenDetails(TypedDict, total=False):
    """Breakdown of output tokens (every key optional).

    Example::

        details: OutputTokenDetails = {"reasoning": 40}
    """

    audio: int
    reasoning: int


class UsageMetadata(TypedDict):
    """Token counts of one model call, in LangChain's shape.

    Example::

        usage: UsageMetadata = {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}
    """

    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: NotRequired[InputTokenDetails]
    output_token_details: NotRequired[OutputTokenDetails]


def _add_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    merged = dict(left)
    for key, value in right.items():
        if value is None:
            continue
        old = merged.get(key)
        if old is None:
            merged[key] = dict(value) if isinstance(value, dict) else value
        elif isinstance(old, dict) and isinstance(value, dict):
            merged[key] = _add_dicts(old, value)
        elif isinstance(old, int) and isinstance(value, int):
            merged[key] = old + value
        else:
            merged[key] = value
    return merged


def add_usage(left: UsageMetadata | None, right: UsageMetadata | None) -> UsageMetadata | None:
    """Add two usage records field by field; ``None`` is the neutral element.

    Nested token details are added key by key. Neither argument is modified.

    Example::

        add_usage({"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
                  {"input_tokens": 0, "output_tokens": 1, "total_tokens": 1})
        # {"input_tokens": 1, "output_tokens": 3, "total_tokens": 4}
    """
    if left is None:
        return right
    if right is None:
        return left
    merged = _add_dicts(cast("dict[str, Any]", left), cast("dict[str, Any]", right))
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        merged.setdefault(key, 0)
    return cast(UsageMetadata, merged)
