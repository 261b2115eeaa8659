"""`SqliteSaver`: checkpoints in a SQLite file, so a conversation survives a restart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ._base import BaseCheckpointSaver, Checkpoint, CheckpointTuple, config_for, thread_of
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
)
"""

_WRITES_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokentide_writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
)
"""

_COLUMNS = "checkpoint_id, parent_checkpoint_id, checkpoint, metadata"


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
            self.conn.execute(_SCHEMA)
            self.conn.execute(_WRITES_SCHEMA)

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
        if self._owns:
            self.conn.close()

    def _tuple(self, thread_id: str, ns: str, row: tuple[Any, ...]) -> CheckpointTuple:
        cid, parent, data, meta = row
        parent_config = config_for(thread_id, ns, parent) if parent else None
        with self._lock:
            rows = self.conn.execute(
                "SELECT task_id, channel, value FROM tokentide_writes WHERE thread_id=? AND "
                "checkpoint_ns=? AND checkpoint_id=? ORDER BY rowid",
                (thread_id, ns, cid),
            ).fetchall()
        writes = [(tid, ch, loads(v)) for tid, ch, v in rows]
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
        return self._tuple(thread_id, ns, row) if row else None

    def list(
        self, config: dict[str, Any], *, limit: int | None = None
    ) -> Iterator[CheckpointTuple]:
        thread_id, ns, _ = thread_of(config)
        query = (
            f"SELECT {_COLUMNS} FROM tokentide_checkpoints WHERE thread_id=? AND checkpoint_ns=? "
            "ORDER BY seq DESC"
        )
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self.conn.execute(query, (thread_id, ns)).fetchall()
        for row in rows:
            yield self._tuple(thread_id, ns, row)

    def put(
        self, config: dict[str, Any], checkpoint: Checkpoint, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        thread_id, ns, parent = thread_of(config)
        with self._lock, self.conn:
            self.conn.execute(
                "INSERT INTO tokentide_checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?)",
                (thread_id, ns, checkpoint["id"], parent, dumps(checkpoint), dumps(metadata)),
            )
        return config_for(thread_id, ns, checkpoint["id"])

    def put_writes(
        self, config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str
    ) -> None:
        thread_id, ns, cid = thread_of(config)
        if cid is None:
            raise ValueError("put_writes() needs the config of a saved checkpoint")
        key = (thread_id, ns, cid, task_id)
        rows = [(*key, i, ch, dumps(v)) for i, (ch, v) in enumerate(writes)]
        with self._lock, self.conn:
            self.conn.execute(
                "DELETE FROM tokentide_writes WHERE thread_id=? AND checkpoint_ns=? AND "
                "checkpoint_id=? AND task_id=?",
                key,
            )
            self.conn.executemany(
                "INSERT INTO tokentide_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
                "idx, channel, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
