"""Between a graph run and its checkpointer: load the thread's latest state, save each step."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tokentide.checkpoint._base import Checkpoint, config_for, new_checkpoint_id, thread_of

from ._scheduler import Scheduler

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


def snapshot_config(found: CheckpointTuple) -> dict[str, Any]:
    thread_id, ns, cid = thread_of(found.config)
    return config_for(thread_id, ns, cid or found.checkpoint["id"])
