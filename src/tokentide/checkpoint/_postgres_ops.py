"""What each PostgreSQL checkpointer call does, without I/O: a plan of statements.

A plan is a generator that yields `Statement` s and receives each one's result (the row, the
rows, or ``None``); what it returns is the call's result. `PostgresSaver` runs plans with
psycopg's sync cursors and `AsyncPostgresSaver` with its async ones, so each call's logic is
written once, here; the SQL itself is in ``_postgres_sql``.

Example::

    op = get_tuple({"configurable": {"thread_id": "1"}})
    step = op.plan.send(None)  # Statement(sql="SELECT ...", params=(...), fetch="one")
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, ParamSpec, TypeVar

from ._base import Checkpoint, CheckpointTuple, list_scope
from ._postgres_sql import (
    CURRENT_VERSION,
    DELETE_TASK_WRITES,
    DELETE_THREAD,
    INSERT_WRITE,
    LOCK,
    MIGRATIONS_TABLE,
    PUT,
    RECORD_MIGRATION,
    get_query,
    list_query,
    migrations_after,
    put_params,
    row_tuple,
    writes_params,
)

__all__ = [
    "Operation",
    "Plan",
    "Statement",
    "delete_thread",
    "get_tuple",
    "list_tuples",
    "put",
    "put_writes",
    "setup",
]

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: ``execute(sql, params)`` (``executemany`` when ``many``), then the
    result a plan receives: ``fetchone()`` (``fetch="one"``), ``fetchall()`` (``"all"``) or
    ``None``."""

    sql: str
    params: Any = None
    fetch: Literal["", "one", "all"] = ""
    many: bool = False


Plan = Generator[Statement, Any, T]


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """A plan and whether its statements run in one transaction (``atomic``; otherwise a
    single statement on an autocommit connection runs without ``BEGIN`` / ``COMMIT``)."""

    plan: Plan[T]
    atomic: bool


def _operation(atomic: bool) -> Callable[[Callable[P, Plan[T]]], Callable[P, Operation[T]]]:
    def wrap(make: Callable[P, Plan[T]]) -> Callable[P, Operation[T]]:
        def operation(*args: P.args, **kwargs: P.kwargs) -> Operation[T]:
            return Operation(make(*args, **kwargs), atomic)

        operation.__name__, operation.__doc__ = make.__name__, make.__doc__
        return operation

    return wrap


@_operation(atomic=True)
def setup() -> Plan[None]:
    """Create the tables, or bring them up to this version's schema (one replica at a time)."""
    yield Statement(LOCK)
    yield Statement(MIGRATIONS_TABLE)
    row = yield Statement(CURRENT_VERSION, fetch="one")
    for version, sql in migrations_after(int(row[0]) if row else 0):
        yield Statement(sql)
        yield Statement(RECORD_MIGRATION, (version,))


@_operation(atomic=False)
def get_tuple(config: dict[str, Any]) -> Plan[CheckpointTuple | None]:
    query, params = get_query(config)
    row = yield Statement(query, params, fetch="one")
    return row_tuple(row) if row is not None else None


@_operation(atomic=False)
def list_tuples(
    config: dict[str, Any] | None,
    filter: dict[str, Any] | None,
    before: dict[str, Any] | None,
    limit: int | None,
) -> Plan[list[CheckpointTuple]]:
    query, params = list_query(list_scope(config, before), filter, limit)
    rows = yield Statement(query, params, fetch="all")
    return [row_tuple(row) for row in rows]


@_operation(atomic=False)
def put(
    config: dict[str, Any], checkpoint: Checkpoint, metadata: dict[str, Any]
) -> Plan[dict[str, Any]]:
    params, saved = put_params(config, checkpoint, metadata)
    yield Statement(PUT, params)
    return saved


@_operation(atomic=True)
def put_writes(
    config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
) -> Plan[None]:
    task, rows = writes_params(config, writes, task_id, task_path)
    yield Statement(DELETE_TASK_WRITES, task)
    if rows:
        yield Statement(INSERT_WRITE, rows, many=True)


@_operation(atomic=True)
def delete_thread(thread_id: str) -> Plan[None]:
    for sql in DELETE_THREAD:
        yield Statement(sql, (str(thread_id),))
