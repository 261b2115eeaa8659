"""`SqliteSaver`: checkpoints in a SQLite file, so a conversation survives a restart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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

__all__ = ["SqliteSaver"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokentide_checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    checkpoint TEXT NOT NULL,
    metadata TEXT NOT NULL,
    UNIQUE (thread_id, checkpoint_ns, checkpoint_id)
);
CREATE TABLE IF NOT EXISTS tokentide_checkpoint_writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
"""

_COLUMNS = "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata"
_WRITES = (
    "SELECT task_id, channel, value FROM tokentide_checkpoint_writes WHERE thread_id=? "
    "AND checkpoint_ns=? AND checkpoint_id=? ORDER BY task_path, task_id, idx"
)


class SqliteSaver(BaseCheckpointSaver):
    """Saves checkpoints in SQLite (one row per step; JSON with type tags, see ``_serde``).

    Pass a file path (``":memory:"`` for a private in-memory database) or an open
    ``sqlite3.Connection``.

    Example::

        with SqliteSaver.from_conn_string("state.db") as saver:
            graph = builder.compile(checkpointer=saver)
            graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "1"}})
    """

    def __init__(self, conn: sqlite3.Connection | str) -> None:
        if isinstance(conn, str):
            conn = sqlite3.connect(conn, check_same_thread=False)
            self._owns = True
        else:
            self._owns = False
        self.conn = conn
        self._lock = threading.Lock()
        with self._lock, self.conn:
            self.conn.executescript(_SCHEMA)

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str) -> Iterator[SqliteSaver]:
        """Open the database at ``conn_string``; close it when the block ends."""
        saver = cls(conn_string)
        try:
            yield saver
        finally:
            saver.close()

    def close(self) -> None:
        """Close the database connection if this saver opened it (a path was given)."""
        if self._owns:
            self.conn.close()

    async def aclose(self) -> None:
        """`close` for async owners (a server closes its checkpointer at shutdown)."""
        self.close()

    def __enter__(self) -> SqliteSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tuple(self, row: tuple[Any, ...]) -> CheckpointTuple:
        """Call with the lock held."""
        thread_id, ns, cid, parent, data, meta = row
        parent_config = config_for(thread_id, ns, parent) if parent else None
        saved = self.conn.execute(_WRITES, (thread_id, ns, cid)).fetchall()
        writes: list[PendingWrite] = [
            (task, channel, loads(value)) for task, channel, value in saved
        ]
        return CheckpointTuple(
            config_for(thread_id, ns, cid), loads(data), loads(meta), parent_config, writes
        )

    def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        thread_id, ns, cid = thread_of(config)
        query = (
            f"SELECT {_COLUMNS} FROM tokentide_checkpoints WHERE thread_id=? AND checkpoint_ns=?"
        )
        params: tuple[Any, ...] = (thread_id, ns)
        if cid is not None:
            query += " AND checkpoint_id=?"
            params += (cid,)
        query += " ORDER BY seq DESC LIMIT 1"
        with self._lock:
            row = self.conn.execute(query, params).fetchone()
            return self._tuple(row) if row else None

    def list(
        self,
        config: dict[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        thread_id, ns, cid, before_id = list_scope(config, before)
        where, params = [], []
        for column, value in (("thread_id", thread_id), ("checkpoint_ns", ns)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if cid is not None:
            where.append("checkpoint_id=?")
            params.append(cid)
        if before_id is not None:
            where.append("checkpoint_id<?")
            params.append(before_id)
        query = f"SELECT {_COLUMNS} FROM tokentide_checkpoints"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY seq DESC"
        if limit is not None and not filter:
            query += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self.conn.execute(query, params).fetchall()
        count = 0
        for row in rows:
            if limit is not None and count >= limit:
                return
            if filter and not metadata_matches(loads(row[5]), filter):
                continue
            count += 1
            with self._lock:
                found = self._tuple(row)
            yield found

    def put(
        self,
        config: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        new_versions: Any = None,
    ) -> dict[str, Any]:
        thread_id, ns, parent = thread_of(config)
        with self._lock, self.conn:
            self.conn.execute(
                "INSERT INTO tokentide_checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET "
                "parent_checkpoint_id=excluded.parent_checkpoint_id, "
                "checkpoint=excluded.checkpoint, metadata=excluded.metadata",
                (thread_id, ns, checkpoint["id"], parent, dumps(checkpoint), dumps(metadata)),
            )
        return config_for(thread_id, ns, checkpoint["id"])

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
        key = (thread_id, ns, cid, task_id)
        rows = [(*key, idx, task_path, ch, dumps(v)) for idx, ch, v in write_rows(writes)]
        with self._lock, self.conn:
            # the task's new writes replace its old ones
            self.conn.execute(
                "DELETE FROM tokentide_checkpoint_writes WHERE thread_id=? AND checkpoint_ns=? "
                "AND checkpoint_id=? AND task_id=?",
                key,
            )
            self.conn.executemany(
                "INSERT INTO tokentide_checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, "
                "task_id, idx, task_path, channel, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def delete_thread(self, thread_id: str) -> None:
        with self._lock, self.conn:
            for table in ("tokentide_checkpoints", "tokentide_checkpoint_writes"):
                self.conn.execute(f"DELETE FROM {table} WHERE thread_id=?", (str(thread_id),))
