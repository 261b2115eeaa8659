"""Between a graph run and its checkpointer: load the thread's latest state, save each step."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tokentide.checkpoint._base import Checkpoint, config_for, new_checkpoint_id, thread_of

from ._scheduler import PULL, PUSH, Scheduler
from ._types import START

if TYPE_CHECKING:
    from tokentide.checkpoint import BaseCheckpointSaver, CheckpointTuple

__all__ = ["Saving"]


class Saving:
    """Saves the checkpoints of one run of one thread."""

    __slots__ = ("config", "saver", "subgraphs")

    def __init__(self, saver: BaseCheckpointSaver, config: dict[str, Any]) -> None:
        self.saver = saver
        self.config = config
        #: Nodes that are graphs: their tasks carry the config of their own state.
        self.subgraphs: frozenset[str] = frozenset()

    @staticmethod
    def thread_config(config: Any) -> dict[str, Any]:
        thread_id, ns, cid = thread_of(config)
        conf: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
        if cid is not None:
            conf["configurable"]["checkpoint_id"] = cid
        return conf

    @classmethod
    def open(cls, saver: BaseCheckpointSaver, config: Any) -> tuple[Saving, CheckpointTuple | None]:
        conf = cls.thread_config(config)
        latest = saver.get_tuple(conf)
        return cls(saver, latest.config if latest is not None else conf), latest

    @classmethod
    async def aopen(
        cls, saver: BaseCheckpointSaver, config: Any
    ) -> tuple[Saving, CheckpointTuple | None]:
        conf = cls.thread_config(config)
        latest = await saver.aget_tuple(conf)
        return cls(saver, latest.config if latest is not None else conf), latest

    def _make(
        self, sched: Scheduler, source: str, upcoming: list[tuple[str, str]]
    ) -> tuple[Checkpoint, dict[str, Any]]:
        checkpoint: Checkpoint = {
            "v": 1,
            "id": new_checkpoint_id(),
            "ts": datetime.now(timezone.utc).isoformat(),
            "step": sched.step,
            "values": dict(sched.values),
            "pending": {k: sorted(v) for k, v in sched.pending.items()},
            "joins": {k: sorted(v) for k, v in sched.joins.items()},
            "next": [name for name, _ in upcoming],
        }
        if sched.sends:
            checkpoint["sends"] = [[send.node, send.arg] for send in sched.sends]
        if upcoming:
            checkpoint["ids"] = [list(key) for key in sched.saved_ids()]
            checkpoint["next_ids"] = [tid for _, tid in upcoming]
        metadata = {"source": source, "step": sched.step, "parents": {}}
        return checkpoint, metadata

    def _payload(
        self,
        parent: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        upcoming: list[tuple[str, str]],
    ) -> dict[str, Any]:
        """LangGraph's checkpoint event (``"checkpoints"`` mode, ``"debug"`` payload)."""
        has_parent = "checkpoint_id" in parent.get("configurable", {})
        return {
            "config": self.config,
            "parent_config": parent if has_parent else None,
            "values": checkpoint["values"],
            "metadata": metadata,
            "next": [name for name, _ in upcoming],
            "tasks": [
                {"id": tid, "name": name, "interrupts": (), "state": self._task_state(name, tid)}
                for name, tid in upcoming
            ],
        }

    def resumed_payload(self, found: CheckpointTuple) -> dict[str, Any]:
        """The checkpoint event a resumed run starts with: the saved checkpoint, its tasks
        with the results and interrupts saved for them."""
        cp = found.checkpoint
        done, interrupts = saved_results(found)
        tasks = []
        for name, tid in zip(cp.get("next", ()), next_ids(cp), strict=False):
            task: dict[str, Any] = {"id": tid, "name": name}
            if tid in done:
                task["result"] = done[tid]
            task["interrupts"] = tuple(asdict(i) for i in interrupts.get(tid, ()))
            task["state"] = self._task_state(name, tid)
            tasks.append(task)
        return {
            "config": found.config,
            "parent_config": found.parent_config,
            "values": cp["values"],
            "metadata": found.metadata,
            "next": list(cp.get("next", ())),
            "tasks": tasks,
        }

    def put_writes(self, task_id: str, writes: list[tuple[str, Any]]) -> None:
        """Save a paused step's writes of one task on the current checkpoint."""
        self.saver.put_writes(self.config, writes, task_id)

    async def aput_writes(self, task_id: str, writes: list[tuple[str, Any]]) -> None:
        """Async :meth:`put_writes`."""
        await self.saver.aput_writes(self.config, writes, task_id)

    def _task_state(self, name: str, task_id: str) -> dict[str, Any] | None:
        if name not in self.subgraphs:
            return None
        thread_id = self.config["configurable"]["thread_id"]
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": f"{name}:{task_id}"}}

    def save(
        self, sched: Scheduler, source: str, upcoming: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Save the scheduler's state; return the checkpoint event's payload."""
        checkpoint, metadata = self._make(sched, source, upcoming)
        parent = self.config
        self.config = self.saver.put(parent, checkpoint, metadata)
        return self._payload(parent, checkpoint, metadata, upcoming)

    async def asave(
        self, sched: Scheduler, source: str, upcoming: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Async :meth:`save`."""
        checkpoint, metadata = self._make(sched, source, upcoming)
        parent = self.config
        self.config = await self.saver.aput(parent, checkpoint, metadata)
        return self._payload(parent, checkpoint, metadata, upcoming)


#: Channels of the writes a paused step saves besides the state keys.
ROUTE = "__route__"
INTERRUPT = "__interrupt__"
RESUME = "__resume__"
#: The task id of writes that belong to no task (a resuming ``Command``'s update and goto).
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"


def next_ids(cp: Checkpoint) -> list[str]:
    """The ids of the checkpoint's next tasks, in the order of ``cp["next"]``."""
    if "next_ids" in cp:
        return list(cp["next_ids"])
    ids = {(k[0], k[1]): k[2] for k in cp.get("ids", ())}
    keys: list[tuple[Any, ...]] = [(PUSH, i) for i in range(len(cp.get("sends", ())))]
    keys.extend((PULL, name) for name in sorted(cp["pending"]))
    return [ids.get(key, "") for key in keys]


def saved_results(found: CheckpointTuple) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]]]:
    """From a checkpoint's pending writes: the state writes of the tasks that finished (as a
    dict per task id) and the interrupts of the tasks that paused."""
    done: dict[str, dict[str, Any]] = {}
    interrupts: dict[str, list[Any]] = {}
    for tid, channel, value in found.pending_writes or ():
        if tid == NULL_TASK_ID:
            continue
        if channel == INTERRUPT:
            interrupts.setdefault(tid, []).extend(value)
        elif channel not in (ROUTE, RESUME):
            done.setdefault(tid, {})[channel] = value
        else:
            done.setdefault(tid, {})
    for tid in interrupts:
        done.pop(tid, None)
    return done, interrupts


def snapshot_config(found: CheckpointTuple) -> dict[str, Any]:
    thread_id, ns, cid = thread_of(found.config)
    return config_for(thread_id, ns, cid or found.checkpoint["id"])


def restore_writes(sched: Scheduler, found: CheckpointTuple) -> None:
    """Give a resumed scheduler what the paused step saved: finished tasks' writes and routes,
    paused tasks' answers so far, and the writes of no task (a resuming ``Command``)."""
    done: dict[str, tuple[list[tuple[str, Any]], list[Any]]] = {}
    null: list[tuple[str, Any]] = []
    null_routes: list[Any] = []
    paused: set[str] = set()
    for tid, channel, value in found.pending_writes or ():
        if tid == NULL_TASK_ID:
            if channel == ROUTE:
                null_routes.extend(value)
            elif channel not in (INTERRUPT, RESUME):
                null.append((channel, value))
            continue
        writes, routes = done.setdefault(tid, ([], []))
        if channel == INTERRUPT:
            paused.add(tid)
        elif channel == RESUME:
            sched.answers[tid] = list(value)
        elif channel == ROUTE:
            routes.extend(value)
        else:
            writes.append((channel, value))
    sched.done = {tid: w for tid, w in done.items() if tid not in paused}
    if null:
        sched.spec.schema.apply(sched.values, null)
    if null_routes:
        sched.route_to(null_routes, START)
