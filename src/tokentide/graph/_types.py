"""Public value types of graphs: ``START``/``END``, ``Send``, ``Command``, ``StateSnapshot``."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

__all__ = [
    "END",
    "START",
    "Command",
    "Interrupt",
    "PregelTask",
    "RetryPolicy",
    "Send",
    "StateSnapshot",
    "StreamMode",
    "StreamWriter",
]

#: The virtual node where a run begins (``add_edge(START, "first")``).
START = "__start__"
#: The virtual node where a run ends (``add_edge("last", END)``).
END = "__end__"

StreamMode = Literal[
    "values", "updates", "messages", "custom", "debug", "tasks", "tools", "checkpoints"
]
"""What ``stream()`` yields: full state, per-node updates, model tokens, writer data, task
events, tool-call events (``tool-started`` / ``tool-output-delta`` / ``tool-finished`` /
``tool-error``), or the checkpoints saved (with a checkpointer)."""

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


N = TypeVar("N", bound=Hashable)


@dataclass(frozen=True)
class Command(Generic[N]):
    """What a node returns to update the state and choose where to go next, or what a caller
    passes as the input to resume an interrupted run.

    ``Command`` is generic in the names a node may go to: annotate a node
    ``-> Command[Literal["a", "b"]]`` and the builder records ``a`` and ``b`` as its possible
    destinations (as LangGraph does).

    Example::

        def route(state) -> Command[Literal["check"]]:
            return Command(update={"count": state["count"] + 1}, goto="check")

        graph.invoke(Command(resume="yes"), config)  # answers the pending interrupt()
    """

    graph: str | None = None
    update: Any = None
    resume: Any = None
    goto: str | Send | Sequence[str | Send] = ()
    #: ``graph=Command.PARENT`` sends the command to the graph that runs this one as a node.
    PARENT: ClassVar[str] = "__parent__"

    def gotos(self) -> list[str | Send]:
        goto = self.goto
        if isinstance(goto, (str, Send)):
            return [goto]
        return list(goto)

    def __repr__(self) -> str:
        # As LangGraph: only the fields that are set.
        fields = ("graph", "update", "resume", "goto")
        shown = [f"{k}={getattr(self, k)!r}" for k in fields if getattr(self, k)]
        return f"Command({', '.join(shown)})"


@dataclass(init=False)
class Interrupt:
    """A pause raised by :func:`interrupt` inside a node, reported in
    ``StateSnapshot.interrupts`` and in ``{"__interrupt__": (Interrupt(...),)}`` stream items:
    ``value`` is what the node asked, ``id`` names it for ``Command(resume={id: answer})``."""

    value: Any
    id: str
    response_schema: Any

    def __init__(self, value: Any, id: str = "placeholder-id", *, response_schema: Any = None):
        self.value = value
        self.id = id
        self.response_schema = response_schema


class PregelTask(NamedTuple):
    """A task of a saved step (``StateSnapshot.tasks``): what runs next, or what paused.

    ``interrupts`` holds the :class:`Interrupt` values the task raised; ``state`` is the config
    of a subgraph's own state; ``result`` the task's writes when it finished."""

    id: str
    name: str
    path: tuple[Any, ...]
    error: Exception | None = None
    interrupts: tuple[Interrupt, ...] = ()
    state: Any = None
    result: Any = None


_NO_RETRY = (
    ValueError,
    TypeError,
    ArithmeticError,
    ImportError,
    LookupError,
    NameError,
    SyntaxError,
    RuntimeError,
    ReferenceError,
    StopIteration,
    StopAsyncIteration,
    OSError,
)


def default_retry_on(exc: Exception) -> bool:
    """LangGraph's default: retry connection errors and server-side (5xx) HTTP failures, not
    programming errors (``ValueError``, ``TypeError``, ``KeyError``, ...)."""
    if isinstance(exc, ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status >= 500
    return not isinstance(exc, _NO_RETRY)


class RetryPolicy(NamedTuple):
    """How often and how patiently a failing node is retried (``add_node(..., retry_policy=)``).

    Same fields and defaults as LangGraph's ``RetryPolicy``: the wait before retry ``n`` is
    ``initial_interval * backoff_factor ** (n - 1)`` seconds, at most ``max_interval``, with up
    to 25 % added at random when ``jitter``; ``retry_on`` is an exception class, a tuple of them
    or a predicate on the exception.
    """

    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 128.0
    max_attempts: int = 3
    jitter: bool = True
    retry_on: (
        type[BaseException] | tuple[type[BaseException], ...] | Callable[[Exception], bool]
    ) = default_retry_on

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) that raised ``exc`` is retried."""
        if attempt >= self.max_attempts or not isinstance(exc, Exception):
            return False
        retry_on = self.retry_on
        if isinstance(retry_on, (type, tuple)):
            return isinstance(exc, retry_on)
        return bool(retry_on(exc))

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        interval = min(
            self.max_interval, self.initial_interval * self.backoff_factor ** (attempt - 1)
        )
        return interval + (random.uniform(0, interval / 4) if self.jitter else 0.0)


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
