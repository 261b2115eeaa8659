"""The keyword arguments of a graph's ``invoke`` / ``stream``: LangGraph's options that
tokentide does not act on are accepted only at their no-op values; anything else raises.

LangGraph's ``Pregel.invoke`` / ``stream`` take more options than tokentide implements
(``context``, ``output_keys``, ``print_mode``, ``durability``, ``debug``, ``version``, ...).
Dropping them silently would return something other than what the caller asked for, so
`check_run_options` lets an option through only when its value changes nothing, and raises a
`TypeError` that says what to do otherwise; a name LangGraph does not know either raises
Python's usual "unexpected keyword argument" error, with a suggestion when it looks like a typo.

Example::

    check_run_options("stream", {"debug": False})   # fine: a no-op
    check_run_options("stream", {"strem_mode": "messages"})
    # TypeError: CompiledStateGraph.stream() got an unexpected keyword argument
    # 'strem_mode' (did you mean 'stream_mode'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["check_run_options"]


def _is_none(value: Any) -> bool:
    return value is None


def _empty(value: Any) -> bool:
    return value is None or value == () or value == [] or value == ""


def _falsy(value: Any) -> bool:
    return not value


_NO_OPS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "context": (
        _is_none,
        "a run context (LangGraph's context_schema / Runtime) is not supported; pass values "
        "for your nodes in config['configurable'] instead",
    ),
    "output_keys": (
        _is_none,
        "output_keys is not supported; the whole state is returned, pick the keys you need from it",
    ),
    "print_mode": (_empty, "print_mode is not supported; print the streamed items yourself"),
    "durability": (
        lambda v: v in (None, "sync", "async"),
        "durability='exit' is not supported: checkpoints are written after every step "
        "(leave it out, or pass 'sync' / 'async')",
    ),
    "control": (_is_none, "a RunControl is not supported; leave the loop to stop a run"),
    "version": (
        lambda v: v in (None, "v1"),
        "only version='v1' (the default) is supported for graph streams",
    ),
    "debug": (_falsy, "debug=True is not supported; use stream_mode='debug' instead"),
    "checkpoint_during": (
        lambda v: v is None or v is True,
        "checkpoint_during=False is not supported: checkpoints are written after every step",
    ),
}
_STREAM_ONLY = ("stream_mode", "subgraphs")
_INVOKE_MODES = (None, "values")


def check_run_options(method: str, options: Mapping[str, Any]) -> None:
    """Raise `TypeError` unless every key of ``options`` is a LangGraph option left at a value
    that changes nothing (``method`` names the call in the message: ``"invoke"``, ...)."""
    for key, value in options.items():
        rule = _NO_OPS.get(key)
        if rule is not None:
            ok, why = rule
            if not ok(value):
                raise TypeError(f"CompiledStateGraph.{method}(): {key}={value!r}: {why}")
            continue
        if key == "stream_mode" and method in ("invoke", "ainvoke"):
            if value not in _INVOKE_MODES:
                raise TypeError(
                    f"CompiledStateGraph.{method}(): stream_mode={value!r} is not supported; "
                    "invoke returns the final values: use stream(..., stream_mode=...) for "
                    "other modes"
                )
            continue
        known = [*_NO_OPS, *(_STREAM_ONLY if "stream" in method else ("stream_mode",))]
        known += ["config", "interrupt_before", "interrupt_after"]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"CompiledStateGraph.{method}() got an unexpected keyword argument {key!r}{hint}"
        )
