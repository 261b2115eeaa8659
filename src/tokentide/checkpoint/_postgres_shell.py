"""The synchronous saver interface of both PostgreSQL checkpointers, written once.

`PostgresSaver` runs a plan of ``_postgres_ops`` on a sync cursor; `AsyncPostgresSaver` hands
it to its event loop from another thread. Each implements `_run_op`; the methods below turn a
`BaseCheckpointSaver` call into its plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from . import _postgres_ops as ops
from ._base import BaseCheckpointSaver, Checkpoint, CheckpointTuple

__all__ = ["PlannedSaver"]

T = TypeVar("T")


class PlannedSaver(BaseCheckpointSaver):
    """A saver whose sync calls are plans of ``_postgres_ops`` run by :meth:`_run_op`."""

    def _run_op(self, op: ops.Operation[T]) -> T:
        raise NotImplementedError

    def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        return self._run_op(ops.get_tuple(config))

    def list(
        self,
        config: dict[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._run_op(ops.list_tuples(config, filter, before, limit))

    def put(
        self,
        config: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        new_versions: Any = None,
    ) -> dict[str, Any]:
        return self._run_op(ops.put(config, checkpoint, metadata))

    def put_writes(
        self,
        config: dict[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._run_op(ops.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run_op(ops.delete_thread(thread_id))
