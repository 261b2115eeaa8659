"""Continuing a saved run: ``invoke(None)``, ``invoke(Command(resume=..., update=..., goto=...))``
and time travel (a config naming an earlier ``checkpoint_id``).

Sans-I/O: reads the loaded checkpoint, configures the :class:`~._loop.GraphRun`; the shells
save what it leaves in ``GraphRun.null_writes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tokentide.errors import InvalidUpdateError

from ._checkpointing import INTERRUPT, NULL_TASK_ID, ROUTE, restore_writes
from ._interrupt import Resumes, is_resume_map
from ._types import START, Command, Send

if TYPE_CHECKING:
    from tokentide.checkpoint import CheckpointTuple

    from ._loop import GraphRun
    from ._stream import TaskScope

__all__ = ["is_resuming", "prepare_resume"]

_MULTIPLE = (
    "When there are multiple pending interrupts, you must specify the interrupt id when "
    "resuming. Docs: https://docs.langchain.com/oss/python/langgraph/interrupts"
    "#handling-multiple-interrupts."
)


def is_resuming(input: Any) -> bool:
    """``None`` or a ``Command`` continues the thread's saved run instead of starting one."""
    return input is None or isinstance(input, Command)


def _pending_interrupts(found: CheckpointTuple | None) -> list[Any]:
    if found is None:
        return []
    return [i for tid, ch, v in found.pending_writes or () if ch == INTERRUPT for i in v]


def _command_writes(g: GraphRun, command: Command[Any]) -> list[tuple[str, Any]]:
    """A resuming command's update and goto as writes of no task (applied now, and saved so
    that a run that pauses again keeps them)."""
    writes: list[tuple[str, Any]] = []
    if command.update is not None:
        update = command.update
        if isinstance(update, Sequence) and not isinstance(update, (str, bytes)):
            pairs = list(update)
        else:
            pairs = list(g.spec.schema.coerce_input(update).items())
        g.spec.schema.apply(g.sched.values, pairs)
        writes.extend(pairs)
    gotos: list[str | Send] = command.gotos()
    for goto in gotos:
        if not isinstance(goto, (str, Send)):
            raise TypeError(f"In Command.goto, expected Send/str, got {type(goto).__name__}")
    if gotos:
        g.sched.route_to(gotos, START)
        writes.append((ROUTE, gotos))
    return writes


def prepare_resume(
    g: GraphRun,
    input: Any,
    found: CheckpointTuple | None,
    parent: TaskScope | None,
) -> None:
    """Set up ``g`` to continue the saved run in ``found`` with ``input`` (``None`` or a
    ``Command``): restore the paused step's writes, take the answers, apply update/goto."""
    if parent is not None:
        g.persistent = parent.checkpointed
        g.resumes = parent.resumes
    if not is_resuming(input):
        return
    command: Command[Any] | None = input if isinstance(input, Command) else None
    if command is not None:
        if command.graph == Command.PARENT:
            raise InvalidUpdateError("There is no parent graph")
        if command.resume is not None:
            if not g.persistent:
                raise RuntimeError(
                    "Cannot use Command(resume=...) without checkpointer: compile the graph "
                    "with compile(checkpointer=MemorySaver()) and pass a thread_id"
                )
            if not is_resume_map(command.resume) and len(_pending_interrupts(found)) > 1:
                raise RuntimeError(_MULTIPLE)
            g.resumes = Resumes(command.resume)
    if found is None:
        return
    g.resumed = True
    saved_null = [
        (ch, v) for tid, ch, v in found.pending_writes or () if tid == NULL_TASK_ID and ch
    ]
    restore_writes(g.sched, found)
    if g.saving is not None:
        g.origin = g.saving.resumed_payload(found)
    if command is not None:
        new = _command_writes(g, command)
        if new:
            g.null_writes = [*saved_null, *new]
