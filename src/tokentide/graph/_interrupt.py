"""``interrupt()``: pause a node to ask a person, resume it with ``Command(resume=...)``.

A node that calls ``interrupt(value)`` stops (a :class:`~tokentide.errors.GraphInterrupt` is
raised through it); the graph saves the step and ends the run with the :class:`Interrupt`
reported. The next run on the thread with ``Command(resume=answer)`` runs the node again from
its start, and this time ``interrupt()`` returns ``answer``. The n-th ``interrupt()`` call of a
node is matched to the n-th answer its task received.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import TYPE_CHECKING, Any

from tokentide.errors import GraphInterrupt
from tokentide.runtime import current_run

from ._stream import task_scope
from ._types import Interrupt

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["NO_RESUME", "Resumes", "interrupt", "interrupt_id", "is_resume_map"]

#: No answer (``None`` is not an answer either, as in LangGraph).
NO_RESUME: Any = object()

_HEX32 = re.compile(r"[0-9a-f]{32}")


def interrupt_id(ns: str, answered: int) -> str:
    """The id of a task's interrupt: a 128-bit hash of the task's checkpoint namespace
    (``node:task_id``, nested ones joined by ``|``) and how many answers the task already
    has; stable across the task's re-runs, distinct between tasks."""
    key = f"{ns}|{answered}" if answered else ns
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def is_resume_map(resume: Any) -> bool:
    """Whether ``Command(resume=...)`` answers interrupts by id (``{interrupt_id: value}``)."""
    return (
        isinstance(resume, dict)
        and bool(resume)
        and all(isinstance(k, str) and _HEX32.fullmatch(k) for k in resume)
    )


class Resumes:
    """The answers a resumed run carries: one for the first interrupt that asks (a plain
    ``Command(resume=value)``) and answers by interrupt id (``Command(resume={id: value})``).
    Shared by the graph and its subgraphs."""

    __slots__ = ("_lock", "by_id", "first")

    def __init__(self, resume: Any = NO_RESUME) -> None:
        self._lock = threading.Lock()
        self.by_id: Mapping[str, Any] = {}
        self.first: Any = NO_RESUME
        if resume is None or resume is NO_RESUME:
            return
        if is_resume_map(resume):
            self.by_id = dict(resume)
        else:
            self.first = resume

    def take_first(self) -> Any:
        """The plain answer, once (``NO_RESUME`` when there is none or it was taken)."""
        with self._lock:
            value, self.first = self.first, NO_RESUME
        return value


def interrupt(value: Any) -> Any:
    """Pause the running node and report ``value`` to the caller; return the answer given by
    ``Command(resume=answer)`` when the node runs again.

    The graph needs a checkpointer (it saves where it stopped) and a ``thread_id``. The node
    re-runs from its start on resume, so code before ``interrupt()`` runs twice: keep side
    effects after it. Works in sync and async nodes and in tools called from a node.

    Example::

        from tokentide.graph import interrupt

        def review(state):
            answer = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
            return {"approved": answer == "yes"}

        graph = builder.compile(checkpointer=MemorySaver())
        config = {"configurable": {"thread_id": "1"}}
        graph.invoke({"draft": "..."}, config)["__interrupt__"]  # (Interrupt(value=...),)
        graph.invoke(Command(resume="yes"), config)
    """
    scope = task_scope(current_run())
    if scope is None:
        raise RuntimeError(
            "interrupt() was called outside a graph node: call it in a node of a StateGraph "
            "(or in a tool that a node calls)"
        )
    if not scope.checkpointed:
        raise ValueError(
            "interrupt() needs a checkpointer to save where the graph stopped: compile the "
            "graph with compile(checkpointer=MemorySaver()) and run it with "
            'config={"configurable": {"thread_id": "..."}}'
        )
    task = scope.task
    with scope.lock:
        index = task.asked
        task.asked += 1
        if index < len(task.resume):
            return task.resume[index]
        ident = interrupt_id(scope.ns, len(task.resume))
        resumes = scope.resumes
        answer = resumes.by_id.get(ident, NO_RESUME)
        if answer is NO_RESUME:
            answer = resumes.take_first()
        if answer is not NO_RESUME:
            task.resume.append(answer)
            return answer
    raise GraphInterrupt((Interrupt(value, ident),))
