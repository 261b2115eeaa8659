"""`PostgresSaver`: checkpoints in PostgreSQL (psycopg 3), so every server replica sees every
thread. What each call does lives in ``_postgres_ops`` (its SQL in ``_postgres_sql``); this is
its synchronous shell."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from . import _postgres_ops as ops
from ._postgres_shell import PlannedSaver

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresSaver", "require_psycopg"]

T = TypeVar("T")


def require_psycopg() -> None:
    """Raise `MissingDependencyError` naming the ``postgres`` extra when psycopg is missing."""
    from tokentide.errors import MissingDependencyError

    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("psycopg", "postgres", "The PostgreSQL checkpointer") from exc


class PostgresSaver(PlannedSaver):
    """Saves checkpoints in PostgreSQL: one row per step (one ``INSERT``, one transaction),
    pending writes in a second table. Threads outlive the process and are shared by every
    process that uses the same database.

    Pass a ``psycopg.Connection`` (shared by threads, one statement at a time) or a
    ``psycopg_pool.ConnectionPool``; either may be in autocommit mode or not, each call runs
    in its own transaction. Call :meth:`setup` once to create the tables (idempotent: it
    applies only the versioned migrations the database has not had yet, one replica at a
    time).

    Example::

        from tokentide.checkpoint import PostgresSaver

        with PostgresSaver.from_conn_string("postgresql://app@db/app") as saver:
            saver.setup()
            graph = builder.compile(checkpointer=saver)
            graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "1"}})
    """

    def __init__(self, conn: psycopg.Connection[Any] | ConnectionPool[Any]) -> None:
        require_psycopg()
        self.conn = conn
        self._lock = threading.Lock()

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str) -> Iterator[PostgresSaver]:
        """Connect to ``conn_string`` (``postgresql://user:password@host:port/dbname``);
        close the connection when the block ends."""
        require_psycopg()
        import psycopg

        with psycopg.Connection.connect(conn_string, autocommit=True) as conn:
            yield cls(conn)

    @contextmanager
    def _cursor(self, *, atomic: bool = True) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor on the connection, or on one borrowed from the pool: in a transaction
        when ``atomic`` (several statements) or when the connection is not in autocommit mode
        (a single statement in autocommit mode saves the ``BEGIN`` / ``COMMIT`` round trips)."""
        import psycopg
        from psycopg.rows import tuple_row

        if isinstance(self.conn, psycopg.Connection):
            with self._lock, _scope(self.conn, atomic):
                with self.conn.cursor(row_factory=tuple_row) as cur:
                    yield cur
            return
        with self.conn.connection() as conn, _scope(conn, atomic):
            with conn.cursor(row_factory=tuple_row) as cur:
                yield cur

    def _run_op(self, op: ops.Operation[T]) -> T:
        """Run a plan of ``_postgres_ops`` on a cursor; its result."""
        plan, result = op.plan, None
        with self._cursor(atomic=op.atomic) as cur:
            try:
                while True:
                    step = plan.send(result)
                    if step.many:
                        cur.executemany(step.sql, step.params)
                    else:
                        cur.execute(step.sql, step.params)
                    if step.fetch == "one":
                        result = cur.fetchone()
                    else:
                        result = cur.fetchall() if step.fetch else None
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def setup(self) -> None:
        """Create the tables, or bring them up to this version's schema (idempotent)."""
        self._run_op(ops.setup())


def _scope(conn: Any, atomic: bool) -> AbstractContextManager[Any]:
    """``conn.transaction()``, unless one statement runs on an autocommit connection."""
    return conn.transaction() if atomic or not conn.autocommit else nullcontext()
