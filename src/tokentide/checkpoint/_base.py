"""The checkpointer contract: save a thread's state after every step, read the latest back."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypedDict
from uuid import UUID, uuid4

__all__ = [
    "BaseCheckpointSaver",
    "Checkpoint",
    "CheckpointTuple",
    "PendingWrite",
    "new_checkpoint_id",
]


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
    #: The nodes whose writes made this checkpoint's values.
    ran: list[str]


PendingWrite = tuple[str, str, Any]
"""``(task_id, channel, value)``: a write of a task of the next step, saved before the step
ended (what lets an interrupted or failed step resume without re-running finished tasks)."""


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


def list_scope(
    config: dict[str, Any] | None, before: dict[str, Any] | None
) -> tuple[str | None, str | None, str | None, str | None]:
    """What :meth:`BaseCheckpointSaver.list` selects: ``(thread_id, checkpoint_ns,
    checkpoint_id, before_id)``, each ``None`` for "any" (a config without ``checkpoint_ns``
    lists every namespace of the thread, as LangGraph's savers do)."""
    conf = (config or {}).get("configurable") or {}
    thread_id = conf.get("thread_id")
    ns = conf.get("checkpoint_ns")
    cid = conf.get("checkpoint_id")
    before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
    return (
        None if thread_id is None else str(thread_id),
        None if ns is None else str(ns),
        None if cid is None else str(cid),
        None if before_id is None else str(before_id),
    )


def metadata_matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether every key of ``filter`` is in ``metadata`` with an equal value."""
    if not filter:
        return True
    return all(key in metadata and metadata[key] == value for key, value in filter.items())


#: Special channels and the fixed index of their write in a task's writes (LangGraph's
#: ``WRITES_IDX_MAP``): listed before the task's ordinary writes, which take their position.
WRITES_IDX_MAP: Mapping[str, int] = {
    "__error__": -1,
    "__scheduled__": -2,
    "__interrupt__": -3,
    "__resume__": -4,
}


def write_rows(writes: Sequence[tuple[str, Any]]) -> list[tuple[int, str, Any]]:
    """``(idx, channel, value)`` rows of one :meth:`~BaseCheckpointSaver.put_writes` call
    (a special channel written twice in one call keeps its last value)."""
    rows = {WRITES_IDX_MAP.get(ch, i): (ch, value) for i, (ch, value) in enumerate(writes)}
    return [(idx, ch, value) for idx, (ch, value) in rows.items()]


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

    Subclasses implement :meth:`get_tuple`, :meth:`list`, :meth:`put`, :meth:`put_writes` and
    :meth:`delete_thread`; the async methods call them (override them for a saver with real
    async I/O, as `AsyncPostgresSaver` does).

    The contract (checked for every saver by one conformance suite):

    - :meth:`put` saves a checkpoint after the one its ``config`` names (its parent) and
      returns the config naming the new one; saving an id again replaces that checkpoint.
    - :meth:`get_tuple` returns the checkpoint ``config`` names (``checkpoint_id``), or the
      thread's latest in ``checkpoint_ns`` (default ``""``), with its pending writes.
    - :meth:`list` yields checkpoints newest first (in the order saved): of one thread (every
      namespace unless the config names one), or of every thread when ``config`` is
      ``None``; ``filter`` keeps those whose metadata has equal values for its keys,
      ``before`` those with an id lower than its ``checkpoint_id``, ``limit`` the first ones.
    - :meth:`put_writes` saves a task's writes against a checkpoint, replacing what that task
      saved there before; ``pending_writes`` lists them by task path, task id and index (the
      special channels of ``WRITES_IDX_MAP`` first), as LangGraph's savers do.
    """

    def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (its ``checkpoint_id``), or the latest."""
        raise NotImplementedError

    def list(
        self,
        config: dict[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """The checkpoints ``config`` selects, newest first (see the class docstring)."""
        raise NotImplementedError

    def put(
        self,
        config: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        new_versions: Any = None,
    ) -> dict[str, Any]:
        """Save ``checkpoint`` after the one ``config`` names; return the new config.

        ``new_versions`` is accepted for LangGraph's signature and not used."""
        raise NotImplementedError

    def put_writes(
        self,
        config: dict[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save the writes of task ``task_id`` for the step after the checkpoint ``config``
        names (replacing what that task saved before); ``get_tuple`` returns them in
        ``pending_writes``. A graph calls it when a step pauses (``interrupt()``): the tasks
        that finished are not run again on resume, the paused ones find their answers.
        ``task_path`` is accepted for LangGraph's signature and saved."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot save a paused step's writes: implement put_writes() "
            "to use interrupt() with it"
        )

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and pending write of the thread (every namespace)."""
        raise NotImplementedError

    def get(self, config: dict[str, Any]) -> Checkpoint | None:
        found = self.get_tuple(config)
        return found.checkpoint if found is not None else None

    async def aget(self, config: dict[str, Any]) -> Checkpoint | None:
        found = await self.aget_tuple(config)
        return found.checkpoint if found is not None else None

    async def aget_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: dict[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for found in self.list(config, filter=filter, before=before, limit=limit):
            yield found

    async def aput(
        self,
        config: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        new_versions: Any = None,
    ) -> dict[str, Any]:
        return self.put(config, checkpoint, metadata)

    async def aput_writes(
        self,
        config: dict[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)
