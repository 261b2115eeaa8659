"""The checkpointer contract: save a thread's state after every step, read the latest back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, TypedDict
from uuid import UUID, uuid4

__all__ = ["BaseCheckpointSaver", "Checkpoint", "CheckpointTuple", "new_checkpoint_id"]


class _CheckpointCore(TypedDict):
    v: int
    id: str
    ts: str
    step: int
    values: dict[str, Any]
    #: node name -> the trigger channels that will run it next.
    pending: dict[str, list[str]]
    #: join barrier -> the sources already seen.
    joins: dict[str, list[str]]


class Checkpoint(_CheckpointCore, total=False):
    """One saved state of a thread."""

    #: The names of the tasks that run next, in order (``StateSnapshot.next``).
    next: list[str]
    #: ``Send``s waiting for the next step, as ``[node, arg]`` pairs.
    sends: list[list[Any]]
    #: The ids promised to the next step's tasks, as ``[kind, key, task_id]``.
    ids: list[list[Any]]
    #: The ids of the tasks in ``next``, in the same order.
    next_ids: list[str]


class CheckpointTuple(NamedTuple):
    """A checkpoint with the config that names it, its metadata and its parent's config."""

    config: dict[str, Any]
    checkpoint: Checkpoint
    metadata: dict[str, Any]
    parent_config: dict[str, Any] | None = None
    #: Writes saved for the checkpoint's next step by tasks that ran before the run paused,
    #: as ``(task_id, channel, value)`` (see :meth:`BaseCheckpointSaver.put_writes`).
    pending_writes: list[tuple[str, str, Any]] | None = None


_LAST_ID = [0]
_ID_LOCK = threading.Lock()


def new_checkpoint_id() -> str:
    """A unique UUID-shaped id that sorts by creation time (as LangGraph's): the clock in
    nanoseconds in the high 64 bits (kept strictly increasing), random bits in the low ones."""
    with _ID_LOCK:
        stamp = max(time.time_ns(), _LAST_ID[0] + 1)
        _LAST_ID[0] = stamp
    return str(UUID(int=(stamp << 64) | (uuid4().int & (2**64 - 1))))


def thread_of(config: dict[str, Any] | None) -> tuple[str, str, str | None]:
    """``(thread_id, checkpoint_ns, checkpoint_id)`` from ``config["configurable"]``."""
    conf = (config or {}).get("configurable") or {}
    thread_id = conf.get("thread_id")
    if thread_id is None:
        raise ValueError(
            'a checkpointer needs a thread: pass config={"configurable": {"thread_id": "..."}}'
        )
    return str(thread_id), str(conf.get("checkpoint_ns", "")), conf.get("checkpoint_id")


def config_for(thread_id: str, ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


class BaseCheckpointSaver:
    """Where a compiled graph saves its state (``compile(checkpointer=...)``).

    Subclasses implement :meth:`get_tuple`, :meth:`list`, :meth:`put` and (for interrupts)
    :meth:`put_writes`; the async methods call them (override them for a saver with real
    async I/O).
    """

    def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (its ``checkpoint_id``), or the latest."""
        raise NotImplementedError

    def list(
        self, config: dict[str, Any], *, limit: int | None = None
    ) -> Iterator[CheckpointTuple]:
        """The thread's checkpoints, newest first."""
        raise NotImplementedError

    def put(
        self, config: dict[str, Any], checkpoint: Checkpoint, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """Save ``checkpoint`` after the one ``config`` names; return the new config."""
        raise NotImplementedError

    def put_writes(
        self, config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str
    ) -> None:
        """Save the writes of task ``task_id`` for the step after the checkpoint ``config``
        names (replacing what that task saved before); ``get_tuple`` returns them in
        ``pending_writes``. A graph calls it when a step pauses (``interrupt()``): the tasks
        that finished are not run again on resume, the paused ones find their answers."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot save a paused step's writes: implement put_writes() "
            "to use interrupt() with it"
        )

    async def aput_writes(
        self, config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str
    ) -> None:
        self.put_writes(config, writes, task_id)

    def get(self, config: dict[str, Any]) -> Checkpoint | None:
        found = self.get_tuple(config)
        return found.checkpoint if found is not None else None

    async def aget_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def aput(
        self, config: dict[str, Any], checkpoint: Checkpoint, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        return self.put(config, checkpoint, metadata)
