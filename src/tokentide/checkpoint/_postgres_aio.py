"""`AsyncPostgresSaver`: the asyncio shell of the PostgreSQL checkpointer (``_postgres_ops``
holds what each call does), for ``ainvoke`` / ``astream`` and the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from . import _postgres_ops as ops
from ._base import Checkpoint, CheckpointTuple
from ._postgres import require_psycopg
from ._postgres_shell import PlannedSaver

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

__all__ = ["AsyncPostgresSaver"]

T = TypeVar("T")


class AsyncPostgresSaver(PlannedSaver):
    """Saves checkpoints in PostgreSQL from asyncio code: the same tables, rows and behaviour
    as `PostgresSaver`, with ``await`` on every database call.

    Pass a ``psycopg.AsyncConnection`` or a ``psycopg_pool.AsyncConnectionPool``. A pool made
    with ``open=False`` is opened at the first call (in the running event loop) and closed by
    :meth:`aclose`. ``await saver.setup()`` creates the tables (idempotent, versioned
    migrations, one replica at a time).

    The synchronous methods (``get_tuple``, ``list``, ``put``...) work from other threads
    while the saver's event loop runs (they hand the call to that loop); called from the loop
    itself they would block it, and raise instead: use the ``a``-methods there, or
    `PostgresSaver`.

    Example::

        from tokentide.checkpoint import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string("postgresql://app@db/app") as saver:
            await saver.setup()
            graph = builder.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": "1"}}
            async for chunk, meta in graph.astream(state, config, stream_mode="messages"):
                print(chunk.content, end="")
    """

    def __init__(self, conn: psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any]) -> None:
        require_psycopg()
        self.conn = conn
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open_pool = not self._is_connection(conn) and bool(getattr(conn, "closed", False))
        self._opened = False
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    @staticmethod
    def _is_connection(conn: Any) -> bool:
        import psycopg

        return isinstance(conn, psycopg.AsyncConnection)

    @classmethod
    @asynccontextmanager
    async def from_conn_string(cls, conn_string: str) -> AsyncIterator[AsyncPostgresSaver]:
        """Connect to ``conn_string`` (``postgresql://user:password@host:port/dbname``);
        close the connection when the block ends."""
        require_psycopg()
        import psycopg

        async with await psycopg.AsyncConnection.connect(conn_string, autocommit=True) as conn:
            yield cls(conn)

    async def aclose(self) -> None:
        """Close the pool this saver opened (a connection or pool you passed in stays open
        unless the saver opened it)."""
        if self._opened:
            self._opened = False
            await self.conn.close()

    @asynccontextmanager
    async def _cursor(self, *, atomic: bool = True) -> AsyncIterator[psycopg.AsyncCursor[Any]]:
        """As `PostgresSaver`'s: a transaction when ``atomic`` or not in autocommit mode."""
        from psycopg.rows import tuple_row

        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._is_connection(self.conn):
            conn: Any = self.conn
            async with self._lock, _scope(conn, atomic):
                async with conn.cursor(row_factory=tuple_row) as cur:
                    yield cur
            return
        pool: Any = self.conn
        if self._open_pool:
            async with self._lock:
                if self._open_pool:
                    await pool.open(wait=True)
                    self._open_pool = False
                    self._opened = True
        async with pool.connection() as conn, _scope(conn, atomic):
            async with conn.cursor(row_factory=tuple_row) as cur:
                yield cur

    async def _arun(self, op: ops.Operation[T]) -> T:
        """Run a plan of ``_postgres_ops`` on a cursor; its result."""
        plan, result = op.plan, None
        async with self._cursor(atomic=op.atomic) as cur:
            try:
                while True:
                    step = plan.send(result)
                    if step.many:
                        await cur.executemany(step.sql, step.params)
                    else:
                        await cur.execute(step.sql, step.params)
                    if step.fetch == "one":
                        result = await cur.fetchone()
                    else:
                        result = await cur.fetchall() if step.fetch else None
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def setup(self) -> None:
        """Create the tables, or bring them up to this version's schema (idempotent)."""
        await self._arun(ops.setup())

    async def aget_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        return await self._arun(ops.get_tuple(config))

    async def alist(
        self,
        config: dict[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in await self._arun(ops.list_tuples(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: dict[str, Any],
        new_versions: Any = None,
    ) -> dict[str, Any]:
        return await self._arun(ops.put(config, checkpoint, metadata))

    async def aput_writes(
        self,
        config: dict[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._arun(ops.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(ops.delete_thread(thread_id))

    # ---------------------------------------------------------------- sync, from other threads

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        running = None
        with contextlib.suppress(RuntimeError):
            running = asyncio.get_running_loop()
        if loop is None or running is loop or loop.is_closed() or not loop.is_running():
            coro.close()
            where = "in its event loop" if running is loop else "before its event loop runs"
            raise RuntimeError(
                f"AsyncPostgresSaver's synchronous methods cannot run {where}: use the async "
                "ones (ainvoke, astream, aget_state, alist...) or PostgresSaver in sync code"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _run_op(self, op: ops.Operation[T]) -> T:
        return self._run(self._arun(op))


def _scope(conn: Any, atomic: bool) -> AbstractAsyncContextManager[Any]:
    """``conn.transaction()``, unless one statement runs on an autocommit connection."""
    return conn.transaction() if atomic or not conn.autocommit else nullcontext()
