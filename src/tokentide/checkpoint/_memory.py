"""`MemorySaver`: checkpoints kept in this process (tests, demos, one-process apps)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from ._base import (
    BaseCheckpointSaver,
    Checkpoint,
    CheckpointTuple,
    PendingWrite,
    config_for,
    list_scope,
    metadata_matches,
    thread_of,
    write_rows,
)
from ._serde import dumps, loads

__all__ = ["InMemorySaver", "MemorySaver"]


class _Row(NamedTuple):
    seq: int
    checkpoint_id: str
    parent_id: str | None
    checkpoint: str
    metadata: str


# (thread_id, ns, checkpoint_id) -> task_id -> [(task_path, idx, channel, value json)]
_Writes = dict[tuple[str, str, str], dict[str, list[tuple[str, int, str, str]]]]


class MemorySaver(BaseCheckpointSaver):
    """Keeps every checkpoint of every thread in memory (serialized, so later changes to the
    live state never alter a saved one).

    Example::

        graph = builder.compile(checkpointer=MemorySaver())
        config = {"configurable": {"thread_id": "1"}}
        graph.invoke({"messages": [("user", "hi, I'm Bob")]}, config)
        graph.invoke({"messages": [("user", "what's my name?")]}, config)  # continues
        graph.get_state(config).values["messages"]
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count()
        # (thread_id, ns) -> checkpoint_id -> row, in the order they were first saved
        self._threads: dict[tuple[str, str], dict[str, _Row]] = {}
        self._writes: _Writes = {}

    def _tuple(self, thread_id: str, ns: str, row: _Row) -> CheckpointTuple:
        parent_config = config_for(thread_id, ns, row.parent_id) if row.parent_id else None
        with self._lock:
            saved = list(self._writes.get((thread_id, ns, row.checkpoint_id), {}).items())
        ordered = sorted(
            (path, task, idx, ch, v) for task, rows in saved for path, idx, ch, v in rows
        )
        writes: list[PendingWrite] = [(task, ch, loads(v)) for _, task, _, ch, v in ordered]
        return CheckpointTuple(
            config_for(thread_id, ns, row.checkpoint_id),
            loads(row.checkpoint),
            loads(row.metadata),
            parent_config,
            writes,
        )

    def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        thread_id, ns, cid = thread_of(config)
        with self._lock:
            rows = self._threads.get((thread_id, ns), {})
            row = rows.get(cid) if cid is not None else _latest(rows)
        return self._tuple(thread_id, ns, row) if row is not None else None

    def list(
        self,
        config: dict[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        thread_id, ns, cid, before_id = list_scope(config, before)
        with self._lock:
            found = [
                (key, row)
                for key, rows in self._threads.items()
                if (thread_id is None or key[0] == thread_id) and (ns is None or key[1] == ns)
                for row in rows.values()
                if (cid is None or row.checkpoint_id == cid)
                and (before_id is None or row.checkpoint_id < before_id)
            ]
        found.sort(key=lambda item: item[1].seq, reverse=True)
        count = 0
        for (thread, namespace), row in found:
            if limit is not None and count >= limit:
                return
            if filter and not metadata_matches(loads(row.metadata), filter):
                continue
            count += 1
            yield self._tuple(thread, namespace, row)

    def put(
        self,
        config: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        new_versions: Any = None,
    ) -> dict[str, Any]:
        thread_id, ns, parent = thread_of(config)
        cid = checkpoint["id"]
        data, meta = dumps(checkpoint), dumps(metadata)
        with self._lock:
            rows = self._threads.setdefault((thread_id, ns), {})
            old = rows.get(cid)
            seq = old.seq if old is not None else next(self._seq)
            rows[cid] = _Row(seq, cid, parent, data, meta)
        return config_for(thread_id, ns, cid)

    def put_writes(
        self,
        config: dict[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread_id, ns, cid = thread_of(config)
        if cid is None:
            raise ValueError("put_writes needs the checkpoint_id of the checkpoint in config")
        rows = [(task_path, idx, ch, dumps(value)) for idx, ch, value in write_rows(writes)]
        with self._lock:
            self._writes.setdefault((thread_id, ns, cid), {})[task_id] = rows

    def delete_thread(self, thread_id: str) -> None:
        thread_id = str(thread_id)
        with self._lock:
            for key in [k for k in self._threads if k[0] == thread_id]:
                del self._threads[key]
            for wkey in [k for k in self._writes if k[0] == thread_id]:
                del self._writes[wkey]


def _latest(rows: dict[str, _Row]) -> _Row | None:
    return max(rows.values(), key=lambda row: row.seq, default=None)


InMemorySaver = MemorySaver
