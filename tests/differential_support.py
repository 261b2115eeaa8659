"""Shared by the differential suites (tokentide against LangGraph/LangChain; no tests here):
the run metadata both libraries fill alike, ids written out, and the matrix of cases."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["LANGGRAPH_KEYS", "META_KEYS", "UUID", "GraphLib", "cases", "comparable_fields"]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# The metadata a graph gives each run of a node.
LANGGRAPH_KEYS = (
    "langgraph_step",
    "langgraph_node",
    "langgraph_triggers",
    "langgraph_path",
    "langgraph_checkpoint_ns",
    "checkpoint_ns",
)
# What the normalizers keep of a node's run metadata (both libraries fill it alike).
META_KEYS = (*LANGGRAPH_KEYS, "tags")


def cases(scenarios: Iterable[str], modes: Iterable[Any]) -> list[Any]:
    """``(scenario, mode, use_sync)`` for every scenario, stream mode (or list of modes) and
    API, each with a readable id."""
    out = []
    for scenario in scenarios:
        for mode in modes:
            for use_sync in (True, False):
                mode_id = "+".join(mode) if isinstance(mode, list) else mode
                ident = f"{scenario}-{mode_id}-{'sync' if use_sync else 'async'}"
                out.append(pytest.param(scenario, mode, use_sync, id=ident))
    return out


def comparable_fields(value: dict[str, Any]) -> dict[str, Any]:
    """A dict without what the libraries fill differently: an event's ``timestamp``, and the
    run metadata of a node beyond ``META_KEYS``."""
    if "timestamp" in value and "payload" in value:
        value = {k: v for k, v in value.items() if k != "timestamp"}
    if "langgraph_node" in value:
        value = {k: v for k, v in value.items() if k in META_KEYS}
    return value


@dataclass
class GraphLib:
    """One side of a graph comparison: the library's name, its graph and types modules."""

    name: str
    graph: Any
    types: Any
