"""Public value types of graphs: ``START``/``END``, ``Send``, ``Command``, ``StateSnapshot``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

__all__ = [
    "END",
    "START",
    "Command",
    "Send",
    "StateSnapshot",
    "StreamMode",
    "StreamWriter",
]

#: The virtual node where a run begins (``add_edge(START, "first")``).
START = "__start__"
#: The virtual node where a run ends (``add_edge("last", END)``).
END = "__end__"

StreamMode = Literal["values", "updates", "messages", "custom", "debug", "tasks", "tools"]
"""What ``stream()`` yields: full state, per-node updates, model tokens, writer data, task
events, or tool-call events (``tool-started`` / ``tool-output-delta`` / ``tool-finished`` /
``tool-error``)."""

StreamWriter = Callable[[Any], None]
"""The ``writer`` a node receives: ``writer(data)`` emits ``data`` in ``"custom"`` mode."""


@dataclass(frozen=True)
class Send:
    """Run ``node`` in the next step with ``arg`` as its input (map-reduce fan-out).

    Return a list of ``Send`` from a conditional edge's path function.

    Example::

        def fan_out(state):
            return [Send("summarize", {"doc": d}) for d in state["docs"]]

        graph.add_conditional_edges("split", fan_out)
    """

    node: str
    arg: Any


@dataclass(frozen=True)
class Command:
    """What a node returns to update the state and choose where to go next.

    Example::

        def route(state) -> Command:
            return Command(update={"count": state["count"] + 1}, goto="check")
    """

    update: Any = None
    goto: str | Send | Sequence[str | Send] = ()
    graph: str | None = None
    resume: Any = None
    #: ``graph=Command.PARENT`` targets the parent graph (not supported yet: raises).
    PARENT: ClassVar[str] = "__parent__"

    def gotos(self) -> list[str | Send]:
        goto = self.goto
        if isinstance(goto, (str, Send)):
            return [goto]
        return list(goto)


class StateSnapshot(NamedTuple):
    """The saved state of a thread, returned by ``graph.get_state(config)``.

    ``values`` is the state, ``next`` the nodes that would run next (empty when the run
    finished), ``config`` the config naming this checkpoint.
    """

    values: dict[str, Any]
    next: tuple[str, ...]
    config: dict[str, Any]
    metadata: dict[str, Any] | None = None
    created_at: str | None = None
    parent_config: dict[str, Any] | None = None
    tasks: tuple[Any, ...] = ()
    interrupts: tuple[Any, ...] = ()
