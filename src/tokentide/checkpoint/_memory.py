"""`MemorySaver`: checkpoints kept in this process (tests, demos, one-process apps)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ._base import BaseCheckpointSaver, Checkpoint, CheckpointTuple, config_for, thread_of
from ._serde import dumps, loads

__all__ = ["InMemorySaver", "MemorySaver"]


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
        # (thread_id, ns) -> list of (checkpoint_id, parent_id, checkpoint json, metadata json)
        self._threads: dict[tuple[str, str], list[tuple[str, str | None, str, str]]] = {}
        # (thread_id, ns, checkpoint_id) -> task_id -> [(channel, value json)]
        self._writes: dict[tuple[str, str, str], dict[str, list[tuple[str, str]]]] = {}

    def _tuple(
        self, thread_id: str, ns: str, row: tuple[str, str | None, str, str]
    ) -> CheckpointTuple:
        cid, parent, data, meta = row
        parent_config = config_for(thread_id, ns, parent) if parent else None
        with self._lock:
            saved = dict(self._writes.get((thread_id, ns, cid), {}))
        writes = [(tid, ch, loads(v)) for tid, pairs in saved.items() for ch, v in pairs]
        return CheckpointTuple(
            config_for(thread_id, ns, cid), loads(data), loads(meta), parent_config, writes
        )

    def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        thread_id, ns, cid = thread_of(config)
        with self._lock:
            rows = list(self._threads.get((thread_id, ns), ()))
        if not rows:
            return None
        if cid is None:
            return self._tuple(thread_id, ns, rows[-1])
        for row in rows:
            if row[0] == cid:
                return self._tuple(thread_id, ns, row)
        return None

    def list(
        self, config: dict[str, Any], *, limit: int | None = None
    ) -> Iterator[CheckpointTuple]:
        thread_id, ns, _ = thread_of(config)
        with self._lock:
            rows = list(self._threads.get((thread_id, ns), ()))
        for i, row in enumerate(reversed(rows)):
            if limit is not None and i >= limit:
                return
            yield self._tuple(thread_id, ns, row)

    def put(
        self, config: dict[str, Any], checkpoint: Checkpoint, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        thread_id, ns, parent = thread_of(config)
        row = (checkpoint["id"], parent, dumps(checkpoint), dumps(metadata))
        with self._lock:
            self._threads.setdefault((thread_id, ns), []).append(row)
        return config_for(thread_id, ns, checkpoint["id"])

    def put_writes(
        self, config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str
    ) -> None:
        thread_id, ns, cid = thread_of(config)
        if cid is None:
            raise ValueError("put_writes() needs the config of a saved checkpoint")
        pairs = [(channel, dumps(value)) for channel, value in writes]
        with self._lock:
            self._writes.setdefault((thread_id, ns, cid), {})[task_id] = pairs


InMemorySaver = MemorySaver
