"""``serve --checkpointer``: where the served graphs keep their threads.

- ``memory``: in this process (gone at exit; one process only).
- ``sqlite:///PATH``: a SQLite file (``sqlite:///threads.db`` relative to the working
  directory, ``sqlite:////var/lib/app/threads.db`` absolute), kept across restarts.
- ``postgresql://user:password@host:port/dbname`` (or ``postgres://``): PostgreSQL, shared by
  every replica, so a thread started on one can be continued on another. The tables are
  created (or migrated) once at start-up; the server then uses an `AsyncPostgresSaver` on a
  small connection pool.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CHECKPOINTER_HELP", "make_checkpointer", "redact"]

CHECKPOINTER_HELP = (
    "where served graphs keep their threads: memory, sqlite:///PATH or "
    "postgresql://USER:PASSWORD@HOST:PORT/DB (replicas share threads); replaces the graphs' own "
    "checkpointers (default: each graph's own, if any)"
)

POOL_SIZE = 8
"""Connections of a server's PostgreSQL pool (each step of a run holds one for one statement)."""

CONNECT_TIMEOUT = 10
"""Seconds to connect to PostgreSQL, unless the URL says (``?connect_timeout=N``)."""


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def make_checkpointer(spec: str | None) -> Any:
    """The saver ``--checkpointer`` names (``None`` without the flag); ``ServeError`` for a
    value that cannot work, saying what to pass instead."""
    from ._serve import ServeError

    if spec is None:
        return None
    if spec == "memory":
        from tokentide.checkpoint import MemorySaver

        return MemorySaver()
    if spec.startswith("sqlite:"):
        return _sqlite(spec, ServeError)
    if spec.startswith(("postgresql://", "postgres://")):
        return _postgres(spec, ServeError)
    raise ServeError(
        f"--checkpointer {redact(spec)!r}: expected 'memory', 'sqlite:///PATH' or "
        "'postgresql://USER:PASSWORD@HOST:PORT/DB'"
    )


def _sqlite(spec: str, error: type[Exception]) -> Any:
    import sqlite3

    from tokentide.checkpoint import SqliteSaver

    path = spec[len("sqlite:///") :] if spec.startswith("sqlite:///") else ""
    if not path:
        raise error(
            f"--checkpointer {spec!r}: expected sqlite:///PATH (sqlite:///threads.db, or "
            "sqlite:////abs/path/threads.db)"
        )
    try:
        return SqliteSaver(path)
    except sqlite3.Error as exc:
        raise error(
            f"--checkpointer {spec!r}: cannot open the SQLite file {path!r}: {exc}"
        ) from None


def _postgres(spec: str, error: type[Exception]) -> Any:
    try:
        import psycopg
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise error(
            f"--checkpointer postgresql://... needs the '{exc.name}' package: "
            "pip install 'tokentide[postgres]'"
        ) from None
    from tokentide.checkpoint import AsyncPostgresSaver, PostgresSaver

    # a host that drops packets must not hold the start-up for minutes
    timeout: dict[str, Any] = {}
    if "connect_timeout" not in spec:
        timeout["connect_timeout"] = CONNECT_TIMEOUT
    try:
        with psycopg.connect(spec, autocommit=True, **timeout) as conn:
            PostgresSaver(conn).setup()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(
            f"--checkpointer {redact(spec)}: cannot set up the checkpoint tables: {reason}"
        ) from None
    pool: Any = AsyncConnectionPool(
        spec,
        open=False,
        min_size=1,
        max_size=POOL_SIZE,
        kwargs={"autocommit": True, **timeout},
        check=AsyncConnectionPool.check_connection,  # a restarted database: fresh connections
        name="tokentide-checkpoints",
    )
    return AsyncPostgresSaver(pool)
