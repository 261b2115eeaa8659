"""The PostgreSQL checkpointers' SQL, without I/O: the versioned schema migrations, the
statements and how their rows become `CheckpointTuple` s. `PostgresSaver` and
`AsyncPostgresSaver` are thin shells that send these to psycopg.

Tables (``tokentide_`` prefix, so they can share a database with anything else):

- ``tokentide_checkpoint_migrations(v, applied_at)``: the migrations applied, by version.
- ``tokentide_checkpoints``: one row per saved step; ``seq`` orders them as saved,
  ``checkpoint`` is the JSON text of ``_serde`` (exactly as written), ``metadata`` JSONB so
  that ``list(filter=...)`` runs in the database.
- ``tokentide_checkpoint_writes``: the pending writes of the tasks of a checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._base import CheckpointTuple, PendingWrite, config_for, thread_of, write_rows
from ._serde import dumps, loads

__all__ = [
    "CURRENT_VERSION",
    "DELETE_TASK_WRITES",
    "DELETE_THREAD",
    "INSERT_WRITE",
    "LOCK",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "PUT",
    "RECORD_MIGRATION",
    "get_query",
    "list_query",
    "migrations_after",
    "put_params",
    "row_tuple",
    "writes_params",
]

#: Taken for the whole of ``setup()``: replicas starting together migrate one at a time.
LOCK = "SELECT pg_advisory_xact_lock(7261937263012795411)"

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS tokentide_checkpoint_migrations (
    v INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

CURRENT_VERSION = "SELECT coalesce(max(v), 0) FROM tokentide_checkpoint_migrations"
RECORD_MIGRATION = "INSERT INTO tokentide_checkpoint_migrations (v) VALUES (%s)"

#: Version ``i + 1`` is ``MIGRATIONS[i]``. Append only: a released migration never changes.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tokentide_checkpoints (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT COLLATE "C" NOT NULL,
        parent_checkpoint_id TEXT COLLATE "C",
        checkpoint TEXT NOT NULL,
        metadata JSONB NOT NULL DEFAULT '{}',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
    )""",
    """
    CREATE INDEX tokentide_checkpoints_latest
        ON tokentide_checkpoints (thread_id, checkpoint_ns, seq DESC)""",
    """
    CREATE TABLE tokentide_checkpoint_writes (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT COLLATE "C" NOT NULL,
        task_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        task_path TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    )""",
    "CREATE INDEX tokentide_checkpoints_seq ON tokentide_checkpoints (seq DESC)",
)


def migrations_after(current: int) -> list[tuple[int, str]]:
    """The ``(version, sql)`` migrations a database at version ``current`` still needs."""
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"the checkpoint tables are at schema version {current}, newer than this version "
            f"of tokentide knows ({len(MIGRATIONS)}): upgrade tokentide"
        )
    return [(v, MIGRATIONS[v - 1]) for v in range(current + 1, len(MIGRATIONS) + 1)]


_SELECT = """
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.checkpoint,
    c.metadata::text,
    (SELECT json_agg(json_build_array(w.task_id, w.channel, w.value)
                     ORDER BY w.task_path, w.task_id, w.idx)::text
     FROM tokentide_checkpoint_writes w
     WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
         AND w.checkpoint_id = c.checkpoint_id)
FROM tokentide_checkpoints c"""


def get_query(config: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The statement of ``get_tuple``: the named checkpoint or the latest of the thread."""
    thread_id, ns, cid = thread_of(config)
    if cid is not None:
        where = " WHERE c.thread_id = %s AND c.checkpoint_ns = %s AND c.checkpoint_id = %s"
        return _SELECT + where, (thread_id, ns, cid)
    where = " WHERE c.thread_id = %s AND c.checkpoint_ns = %s ORDER BY c.seq DESC LIMIT 1"
    return _SELECT + where, (thread_id, ns)


def list_query(
    scope: tuple[str | None, str | None, str | None, str | None],
    filter: dict[str, Any] | None,
    limit: int | None,
) -> tuple[str, list[Any]]:
    """The statement of ``list`` for a ``list_scope`` result; metadata filters compare each
    key's JSONB value for equality."""
    thread_id, ns, cid, before_id = scope
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("c.thread_id = %s", thread_id),
        ("c.checkpoint_ns = %s", ns),
        ("c.checkpoint_id = %s", cid),
        ("c.checkpoint_id < %s", before_id),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    for key, value in (filter or {}).items():
        where.append("c.metadata -> %s = %s::jsonb")
        params += [str(key), dumps(value)]
    query = _SELECT
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY c.seq DESC"
    if limit is not None:
        query += " LIMIT %s"
        params.append(max(int(limit), 0))
    return query, params


def row_tuple(row: Sequence[Any]) -> CheckpointTuple:
    """A selected row as a `CheckpointTuple` (with its pending writes)."""
    thread_id, ns, cid, parent, data, meta, writes_json = row
    writes: list[PendingWrite] = []
    if writes_json:
        writes = [(task, channel, loads(value)) for task, channel, value in json.loads(writes_json)]
    parent_config = config_for(thread_id, ns, parent) if parent else None
    return CheckpointTuple(
        config_for(thread_id, ns, cid), loads(data), loads(meta), parent_config, writes
    )


PUT = """
INSERT INTO tokentide_checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
VALUES (%s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET
    parent_checkpoint_id = EXCLUDED.parent_checkpoint_id,
    checkpoint = EXCLUDED.checkpoint,
    metadata = EXCLUDED.metadata"""


def put_params(
    config: dict[str, Any], checkpoint: Any, metadata: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The parameters of :data:`PUT` and the config naming the saved checkpoint."""
    thread_id, ns, parent = thread_of(config)
    cid = checkpoint["id"]
    params = (thread_id, ns, cid, parent, dumps(checkpoint), dumps(metadata))
    return params, config_for(thread_id, ns, cid)


#: A task's new writes replace what it saved against the checkpoint before.
DELETE_TASK_WRITES = """
DELETE FROM tokentide_checkpoint_writes
WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = %s AND task_id = %s"""

INSERT_WRITE = """
INSERT INTO tokentide_checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path, channel, value)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET
    task_path = EXCLUDED.task_path, channel = EXCLUDED.channel, value = EXCLUDED.value"""


def writes_params(
    config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The parameters of :data:`DELETE_TASK_WRITES` and the rows of :data:`INSERT_WRITE`."""
    thread_id, ns, cid = thread_of(config)
    if cid is None:
        raise ValueError("put_writes needs the checkpoint_id of the checkpoint in config")
    rows = [
        (thread_id, ns, cid, task_id, idx, task_path, channel, dumps(value))
        for idx, channel, value in write_rows(writes)
    ]
    return (thread_id, ns, cid, task_id), rows


DELETE_THREAD = (
    "DELETE FROM tokentide_checkpoint_writes WHERE thread_id = %s",
    "DELETE FROM tokentide_checkpoints WHERE thread_id = %s",
)
