"""`PostgresThreadStore`: the Agent Server API's threads and runs in the PostgreSQL database of
the served `AsyncPostgresSaver` / `PostgresSaver`, shared by every replica.

Tables (created at first use, under an advisory lock so replicas starting together do not
race): ``tokentide_threads(thread_id, created_at, doc)`` and ``tokentide_runs(run_id,
thread_id, created_at, status, doc)``, each record one ``jsonb`` document. ``begin_run`` takes
a transaction-scoped advisory lock on the thread, so two replicas cannot both start a run on an
idle thread with ``multitask_strategy="reject"``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["PostgresThreadStore", "conninfo_of"]

_SETUP_LOCK = 7_316_021_545  # pg_advisory_xact_lock key of the table set-up
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tokentide_threads (
        thread_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc JSONB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tokentide_runs (
        run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, created_at TEXT NOT NULL,
        status TEXT NOT NULL, doc JSONB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS tokentide_runs_thread ON tokentide_runs (thread_id, status)",
)
_ACTIVE = "SELECT doc FROM tokentide_runs WHERE thread_id = %s AND status IN ('pending', 'running')"


def conninfo_of(saver: Any) -> str | None:
    """The connection string of a PostgreSQL saver's pool or connection (``None``: not one)."""
    conn = getattr(saver, "conn", None)
    conninfo = getattr(conn, "conninfo", None)
    if isinstance(conninfo, str):
        return conninfo
    info = getattr(conn, "info", None)
    if info is None or not hasattr(info, "dsn"):
        return None
    from psycopg.conninfo import make_conninfo

    password = getattr(info, "password", None)
    return make_conninfo(info.dsn, password=password) if password else str(info.dsn)


def _load(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


class PostgresThreadStore:
    """A `ThreadStore` in PostgreSQL, on a small pool of its own (``max_size`` connections).

    Example::

        store = PostgresThreadStore("postgresql://app@db/app")
        await store.create_thread({"thread_id": "t1", "created_at": "...", "metadata": {}})
        await store.aclose()
    """

    def __init__(self, conninfo: str, *, max_size: int = 4) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._pool: Any = AsyncConnectionPool(
            conninfo,
            open=False,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            name="tokentide-threads",
        )
        self._ready = False
        self._lock = asyncio.Lock()

    async def _setup(self) -> None:
        async with self._lock:
            if self._ready:
                return
            await self._pool.open(wait=True)
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                for statement in _SCHEMA:
                    await conn.execute(statement)
            self._ready = True

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if not self._ready:
            await self._setup()
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            return rows

    async def _execute(self, query: str, params: tuple[Any, ...]) -> int:
        if not self._ready:
            await self._setup()
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            count: int = cursor.rowcount
            return count

    # ---------------------------------------------------------------- threads

    async def create_thread(self, thread: dict[str, Any]) -> None:
        from ._lg_store import ThreadExists

        inserted = await self._execute(
            "INSERT INTO tokentide_threads (thread_id, created_at, doc) VALUES (%s, %s, %s) "
            "ON CONFLICT (thread_id) DO NOTHING",
            (thread["thread_id"], thread["created_at"], json.dumps(thread)),
        )
        if not inserted:
            raise ThreadExists(thread["thread_id"])

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(
            "SELECT doc FROM tokentide_threads WHERE thread_id = %s", (thread_id,)
        )
        return _load(rows[0][0]) if rows else None

    async def _update(self, table: str, key: str, value: str, fields: dict[str, Any]) -> Any:
        from ._lg_store import now_iso

        if not self._ready:
            await self._setup()
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                f"SELECT doc FROM {table} WHERE {key} = %s FOR UPDATE", (value,)
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            doc = _load(row[0])
            doc.update(fields)
            doc["updated_at"] = now_iso()
            if table == "tokentide_runs":
                await conn.execute(
                    "UPDATE tokentide_runs SET status = %s, doc = %s WHERE run_id = %s",
                    (doc["status"], json.dumps(doc), value),
                )
            else:
                await conn.execute(
                    "UPDATE tokentide_threads SET doc = %s WHERE thread_id = %s",
                    (json.dumps(doc), value),
                )
            return doc

    async def update_thread(self, thread_id: str, **fields: Any) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._update(
            "tokentide_threads", "thread_id", thread_id, fields
        )
        return doc

    async def delete_thread(self, thread_id: str) -> bool:
        await self._execute("DELETE FROM tokentide_runs WHERE thread_id = %s", (thread_id,))
        deleted = await self._execute(
            "DELETE FROM tokentide_threads WHERE thread_id = %s", (thread_id,)
        )
        return bool(deleted)

    async def list_threads(self) -> list[dict[str, Any]]:
        rows = await self._fetch("SELECT doc FROM tokentide_threads", ())
        return [_load(row[0]) for row in rows]

    # ---------------------------------------------------------------- runs

    async def begin_run(
        self, run: dict[str, Any], *, reject_if_busy: bool
    ) -> tuple[bool, list[dict[str, Any]]]:
        if not self._ready:
            await self._setup()
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (run["thread_id"],))
            cursor = await conn.execute(_ACTIVE + " ORDER BY created_at", (run["thread_id"],))
            active = [_load(row[0]) for row in await cursor.fetchall()]
            if active and reject_if_busy:
                return False, active
            await conn.execute(
                "INSERT INTO tokentide_runs (run_id, thread_id, created_at, status, doc) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    run["run_id"],
                    run["thread_id"],
                    run["created_at"],
                    run["status"],
                    json.dumps(run),
                ),
            )
            return True, active

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = await self._fetch("SELECT doc FROM tokentide_runs WHERE run_id = %s", (run_id,))
        return _load(rows[0][0]) if rows else None

    async def update_run(self, run_id: str, **fields: Any) -> None:
        await self._update("tokentide_runs", "run_id", run_id, fields)

    async def list_runs(self, thread_id: str) -> list[dict[str, Any]]:
        rows = await self._fetch(
            "SELECT doc FROM tokentide_runs WHERE thread_id = %s ORDER BY created_at DESC",
            (thread_id,),
        )
        return [_load(row[0]) for row in rows]

    async def aclose(self) -> None:
        await self._pool.close()
