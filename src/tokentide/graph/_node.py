"""Nodes and branches: calling user code with the parameters it asks for, in its run."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tokentide.runtime import Runnable

from ._types import RetryPolicy

__all__ = ["Branch", "NodeSpec"]

_INJECTED = ("config", "writer")


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)


def _wanted(fn: Callable[..., Any]) -> tuple[str, ...]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name for name in _INJECTED if name in params)


def _name_of(fn: Any) -> str:
    if isinstance(fn, Runnable):
        return fn.get_name()
    return str(getattr(fn, "__name__", type(fn).__name__))


@dataclass
class NodeSpec:
    """One node: a function ``(state[, config][, writer]) -> update`` or a runnable."""

    name: str
    action: Any
    is_async: bool
    injected: tuple[str, ...]
    metadata: dict[str, Any] | None = None
    #: A compiled graph used as a node (streams as a subgraph).
    runnable: Runnable[Any, Any] | None = None
    #: How a failing run of this node is retried (``None``: never).
    retry: RetryPolicy | None = None
    #: The async twin of ``action`` for async runs (a node object with both, e.g. ToolNode).
    afunc: Callable[..., Any] | None = None
    #: Where the node may go with ``Command(goto=...)``: read from a ``-> Command[Literal[...]]``
    #: annotation, or given as ``add_node(..., destinations=...)`` (as LangGraph's ``ends``).
    ends: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        name: str,
        action: Any,
        metadata: dict[str, Any] | None,
        retry: RetryPolicy | None = None,
    ) -> NodeSpec:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry_policy of node {name!r} must be a RetryPolicy, got {retry!r}")
        twins = getattr(action, "graph_node_functions", None)
        if twins is not None:
            # An object that runs as a node directly (sync and async functions), not as a
            # nested runnable: no extra run between the node and what it calls.
            func, afunc = twins()
            return cls(name, func, False, _wanted(func), metadata, None, retry, afunc)
        if isinstance(action, Runnable):
            return cls(name, action, False, (), metadata, action, retry)
        if not callable(action):
            raise TypeError(f"node {name!r} must be a function or a Runnable, got {action!r:.80}")
        node = cls(name, action, _is_async(action), _wanted(action), metadata, None, retry)
        node.ends = command_destinations(action)
        return node


def command_destinations(fn: Any) -> tuple[str, ...]:
    """The node names in a ``-> Command[Literal["a", "b"]]`` return annotation, if any."""
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:
        return ()
    options = typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)
    from ._types import Command

    found: list[str] = []
    for option in options:
        if typing.get_origin(option) is Command:
            for arg in typing.get_args(option):
                if typing.get_origin(arg) is typing.Literal:
                    found.extend(str(v) for v in typing.get_args(arg))
    return tuple(found)


_UNTRACED = "_tokentide_untraced_branch"
_F = TypeVar("_F", bound=Callable[..., Any])


def untraced(path: _F) -> _F:
    """Mark a conditional edge's path function as reporting no run of its own (as LangGraph's
    ``RunnableCallable(..., trace=False)``, which LangChain's ``create_agent`` uses)."""
    setattr(path, _UNTRACED, True)
    return path


@dataclass
class Branch:
    """A conditional edge: ``path(state)`` returns node names (or ``END`` / ``Send``s)."""

    source: str
    path: Callable[..., Any]
    path_map: dict[Hashable, str] | None
    name: str
    is_async: bool = field(default=False)
    wants_config: bool = field(default=False)
    #: Reported as a run of its own (inside the node's run) when taken after a node: a path
    #: function is; a runnable reports its own run; `untraced` functions report none.
    traced: bool = field(default=True)

    @classmethod
    def make(
        cls, source: str, path: Any, path_map: dict[Hashable, str] | Sequence[str] | None
    ) -> Branch:
        mapping: dict[Hashable, str] | None
        if path_map is None:
            mapping = None
        elif isinstance(path_map, dict):
            mapping = dict(path_map)
        else:
            mapping = {name: name for name in path_map}
        fn = path.invoke if isinstance(path, Runnable) else path
        name = _name_of(path)
        if name == "<lambda>":
            name = "condition"
        traced = not isinstance(path, Runnable) and not getattr(path, _UNTRACED, False)
        return cls(source, fn, mapping, name, _is_async(fn), "config" in _wanted(fn), traced)
