"""Threads and runs of the LangGraph Agent Server API: the `ThreadStore` contract, kept where
the graphs' checkpointer keeps their state (`MemoryThreadStore` beside a memory saver,
`SqliteThreadStore` in the SQLite file of a `SqliteSaver`).

The store holds what the checkpointer does not: a thread's metadata, status (``idle``,
``busy``, ``interrupted``, ``error``) and last values, and each run's record (status,
assistant, metadata, multitask strategy). Run *events* live in the `StreamStore` (memory or
Redis), so a run is joinable and cancellable from any replica; with a shared thread store
(one SQLite file, PostgreSQL) replicas also agree on which thread is busy.

Records are plain JSON-ready dicts shaped as the Agent Server's ``Thread`` and ``Run``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "MemoryThreadStore",
    "SqliteThreadStore",
    "ThreadExists",
    "ThreadStore",
    "now_iso",
    "thread_store_for",
]

ACTIVE_RUN_STATUSES = frozenset({"pending", "running"})
"""Run statuses of a run that has not ended (the thread is busy while one exists)."""


class ThreadExists(ValueError):
    """``create_thread`` with the id of an existing thread."""


def now_iso() -> str:
    """The current time as the Agent Server writes it (ISO 8601, UTC)."""
    return datetime.now(timezone.utc).isoformat()


@runtime_checkable
class ThreadStore(Protocol):
    """Threads and run records of the Agent Server API.

    ``begin_run`` is the one operation that must be atomic across replicas: it adds the run
    (status ``pending``) unless ``reject_if_busy`` and the thread has an active run, and
    returns the runs that were active on the thread before it (oldest first).
    """

    async def create_thread(self, thread: dict[str, Any]) -> None: ...

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None: ...

    async def update_thread(self, thread_id: str, **fields: Any) -> dict[str, Any] | None: ...

    async def delete_thread(self, thread_id: str) -> bool: ...

    async def list_threads(self) -> list[dict[str, Any]]: ...

    async def begin_run(
        self, run: dict[str, Any], *, reject_if_busy: bool
    ) -> tuple[bool, list[dict[str, Any]]]: ...

    async def get_run(self, run_id: str) -> dict[str, Any] | None: ...

    async def update_run(self, run_id: str, **fields: Any) -> None: ...

    async def list_runs(self, thread_id: str) -> list[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class MemoryThreadStore:
    """A `ThreadStore` in this process's memory (one server process).

    Example::

        store = MemoryThreadStore()
        await store.create_thread({"thread_id": "t1", "metadata": {}, "status": "idle"})
    """

    def __init__(self) -> None:
        self._threads: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, dict[str, Any]] = {}

    async def create_thread(self, thread: dict[str, Any]) -> None:
        if thread["thread_id"] in self._threads:
            raise ThreadExists(thread["thread_id"])
        self._threads[thread["thread_id"]] = copy.deepcopy(thread)

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        found = self._threads.get(thread_id)
        return copy.deepcopy(found) if found is not None else None

    async def update_thread(self, thread_id: str, **fields: Any) -> dict[str, Any] | None:
        found = self._threads.get(thread_id)
        if found is None:
            return None
        found.update(copy.deepcopy(fields))
        found["updated_at"] = now_iso()
        return copy.deepcopy(found)

    async def delete_thread(self, thread_id: str) -> bool:
        for run_id in [r for r, run in self._runs.items() if run["thread_id"] == thread_id]:
            del self._runs[run_id]
        return self._threads.pop(thread_id, None) is not None

    async def list_threads(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(t) for t in self._threads.values()]

    async def begin_run(
        self, run: dict[str, Any], *, reject_if_busy: bool
    ) -> tuple[bool, list[dict[str, Any]]]:
        active = [
            copy.deepcopy(r)
            for r in self._runs.values()
            if r["thread_id"] == run["thread_id"] and r["status"] in ACTIVE_RUN_STATUSES
        ]
        if active and reject_if_busy:
            return False, active
        self._runs[run["run_id"]] = copy.deepcopy(run)
        return True, active

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        found = self._runs.get(run_id)
        return copy.deepcopy(found) if found is not None else None

    async def update_run(self, run_id: str, **fields: Any) -> None:
        found = self._runs.get(run_id)
        if found is not None:
            found.update(copy.deepcopy(fields))
            found["updated_at"] = now_iso()

    async def list_runs(self, thread_id: str) -> list[dict[str, Any]]:
        runs = [copy.deepcopy(r) for r in self._runs.values() if r["thread_id"] == thread_id]
        return sorted(runs, key=lambda r: r["created_at"], reverse=True)

    async def aclose(self) -> None:
        return None


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tokentide_threads (
        thread_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tokentide_runs (
        run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, created_at TEXT NOT NULL,
        status TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS tokentide_runs_thread ON tokentide_runs (thread_id, status)",
)


class SqliteThreadStore:
    """A `ThreadStore` in a SQLite database (the file of the `SqliteSaver`): server processes
    that open the same file share threads and runs. Each record is one JSON document;
    ``begin_run`` runs in an ``IMMEDIATE`` transaction, so two processes cannot both start a
    run on an idle thread with ``multitask_strategy="reject"``.

    Example::

        store = SqliteThreadStore("state.db")
    """

    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.path = path
        self._conn = sqlite3.connect(
            path, timeout=timeout, check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            # Readers do not wait for writers (several server processes share the file).
            self._conn.execute("PRAGMA journal_mode = WAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def _call(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            return fn(*args)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(self._call, fn, *args)

    # ---------------------------------------------------------------- threads

    async def create_thread(self, thread: dict[str, Any]) -> None:
        def insert() -> None:
            try:
                self._conn.execute(
                    "INSERT INTO tokentide_threads (thread_id, created_at, doc) VALUES (?, ?, ?)",
                    (thread["thread_id"], thread["created_at"], json.dumps(thread)),
                )
            except sqlite3.IntegrityError:
                raise ThreadExists(thread["thread_id"]) from None

        await self._run(insert)

    def _get_thread(self, thread_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT doc FROM tokentide_threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._run(self._get_thread, thread_id)
        return found

    async def update_thread(self, thread_id: str, **fields: Any) -> dict[str, Any] | None:
        def update() -> dict[str, Any] | None:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                found = self._get_thread(thread_id)
                if found is not None:
                    found.update(fields)
                    found["updated_at"] = now_iso()
                    self._conn.execute(
                        "UPDATE tokentide_threads SET doc = ? WHERE thread_id = ?",
                        (json.dumps(found), thread_id),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return found

        result: dict[str, Any] | None = await self._run(update)
        return result

    async def delete_thread(self, thread_id: str) -> bool:
        def delete() -> bool:
            self._conn.execute("DELETE FROM tokentide_runs WHERE thread_id = ?", (thread_id,))
            cursor = self._conn.execute(
                "DELETE FROM tokentide_threads WHERE thread_id = ?", (thread_id,)
            )
            return bool(cursor.rowcount)

        deleted: bool = await self._run(delete)
        return deleted

    async def list_threads(self) -> list[dict[str, Any]]:
        def select() -> list[dict[str, Any]]:
            rows = self._conn.execute("SELECT doc FROM tokentide_threads").fetchall()
            return [json.loads(row[0]) for row in rows]

        found: list[dict[str, Any]] = await self._run(select)
        return found

    # ---------------------------------------------------------------- runs

    async def begin_run(
        self, run: dict[str, Any], *, reject_if_busy: bool
    ) -> tuple[bool, list[dict[str, Any]]]:
        def begin() -> tuple[bool, list[dict[str, Any]]]:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                rows = self._conn.execute(
                    "SELECT doc FROM tokentide_runs WHERE thread_id = ? "
                    "AND status IN ('pending', 'running') ORDER BY created_at",
                    (run["thread_id"],),
                ).fetchall()
                active = [json.loads(row[0]) for row in rows]
                added = not (active and reject_if_busy)
                if added:
                    self._conn.execute(
                        "INSERT INTO tokentide_runs (run_id, thread_id, created_at, status, doc) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            run["run_id"],
                            run["thread_id"],
                            run["created_at"],
                            run["status"],
                            json.dumps(run),
                        ),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return added, active

        result: tuple[bool, list[dict[str, Any]]] = await self._run(begin)
        return result

    def _get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT doc FROM tokentide_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._run(self._get_run, run_id)
        return found

    async def update_run(self, run_id: str, **fields: Any) -> None:
        def update() -> None:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                found = self._get_run(run_id)
                if found is not None:
                    found.update(fields)
                    found["updated_at"] = now_iso()
                    self._conn.execute(
                        "UPDATE tokentide_runs SET status = ?, doc = ? WHERE run_id = ?",
                        (found["status"], json.dumps(found), run_id),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

        await self._run(update)

    async def list_runs(self, thread_id: str) -> list[dict[str, Any]]:
        def select() -> list[dict[str, Any]]:
            rows = self._conn.execute(
                "SELECT doc FROM tokentide_runs WHERE thread_id = ? ORDER BY created_at DESC",
                (thread_id,),
            ).fetchall()
            return [json.loads(row[0]) for row in rows]

        found: list[dict[str, Any]] = await self._run(select)
        return found

    async def aclose(self) -> None:
        self._call(self._conn.close)


def _sqlite_path(conn: Any) -> str | None:
    """The file of an open SQLite connection (``None``: an in-memory database)."""
    try:
        rows = conn.execute("PRAGMA database_list").fetchall()
    except Exception:
        return None
    for _, name, path in rows:
        if name == "main" and path:
            return str(path)
    return None


def thread_store_for(checkpointers: Mapping[str, Any]) -> ThreadStore:
    """The thread store that lives where the graphs' checkpointer lives: the SQLite file of a
    `SqliteSaver`, the PostgreSQL database of a `PostgresSaver` / `AsyncPostgresSaver`, else
    memory. ``checkpointers``: graph name -> its checkpointer."""
    from tokentide.checkpoint import SqliteSaver

    for saver in checkpointers.values():
        if type(saver).__name__ in ("AsyncPostgresSaver", "PostgresSaver"):
            from ._lg_store_pg import PostgresThreadStore, conninfo_of

            conninfo = conninfo_of(saver)
            if conninfo is not None:
                return PostgresThreadStore(conninfo)
        if isinstance(saver, SqliteSaver):
            path = _sqlite_path(saver.conn)
            if path is not None:
                return SqliteThreadStore(path)
    return MemoryThreadStore()
