"""What only the PostgreSQL savers have: the versioned, idempotent, concurrent-safe schema
set-up; connection pools; `AsyncPostgresSaver`'s bridge for sync callers; clear errors; and
one write per superstep, never per token, during a streamed graph run (counted both as the
statements the saver sends and as the write transactions the server assigns ids to)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from fakes.postgres_server import PostgresServer
from tokentide.checkpoint import AsyncPostgresSaver, PostgresSaver
from tokentide.checkpoint._postgres_sql import MIGRATIONS
from tokentide.errors import MissingDependencyError
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.models import FakeChatModel

pytestmark = [pytest.mark.once, pytest.mark.timeout(60)]

TOKENS = 300


@pytest.fixture
def url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database for each test."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    return postgres_server.create_database(name)


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT v FROM tokentide_checkpoint_migrations ORDER BY v").fetchall()
    return [row[0] for row in rows]


def test_setup_is_idempotent_and_records_each_migration(url: str) -> None:
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        saver.setup()
    assert _versions(url) == list(range(1, len(MIGRATIONS) + 1))
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()  # a later start: nothing to do, nothing fails
    assert _versions(url) == list(range(1, len(MIGRATIONS) + 1))


def test_setup_applies_only_missing_migrations(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:  # a database at version 1
        conn.execute(
            "CREATE TABLE tokentide_checkpoint_migrations (v INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO tokentide_checkpoint_migrations (v) VALUES (1)")
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
    assert _versions(url) == list(range(1, len(MIGRATIONS) + 1))


def test_concurrent_setups_do_not_conflict(url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with PostgresSaver.from_conn_string(url) as saver:
                saver.setup()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _versions(url) == list(range(1, len(MIGRATIONS) + 1))


def test_a_newer_schema_is_refused_with_a_clear_error(url: str) -> None:
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tokentide_checkpoint_migrations (v) VALUES (999)")
    with PostgresSaver.from_conn_string(url) as saver, pytest.raises(RuntimeError) as caught:
        saver.setup()
    assert "version 999" in str(caught.value) and "upgrade tokentide" in str(caught.value)


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _graph(saver: Any) -> Any:
    model = FakeChatModel([" ".join(f"t{i}" for i in range(TOKENS))])

    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def achat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    node = chat if isinstance(saver, PostgresSaver) else achat
    builder = StateGraph(MessagesState).add_node("chat", node).add_edge(START, "chat")
    return builder.compile(checkpointer=saver)


def test_a_pool_serves_threads(url: str) -> None:
    with ConnectionPool(url, min_size=1, max_size=2, open=True) as pool:
        saver = PostgresSaver(pool)
        saver.setup()
        graph = _graph(saver)
        graph.invoke({"messages": [("user", "one")]}, _config("p"))
        graph.invoke({"messages": [("user", "two")]}, _config("p"))
        assert len(graph.get_state(_config("p")).values["messages"]) == 4


async def test_an_unopened_async_pool_opens_at_first_use_and_closes(url: str) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, open=False, min_size=1, max_size=2)
    saver = AsyncPostgresSaver(pool)
    await saver.setup()
    graph = _graph(saver)
    await graph.ainvoke({"messages": [("user", "one")]}, _config("ap"))
    state = await graph.aget_state(_config("ap"))
    assert [m.type for m in state.values["messages"]] == ["human", "ai"]
    await saver.aclose()
    assert pool.closed


async def test_sync_methods_of_the_async_saver(url: str) -> None:
    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        await _graph(saver).ainvoke({"messages": [("user", "hi")]}, _config("s"))
        with pytest.raises(RuntimeError, match="use the async"):
            saver.get_tuple(_config("s"))  # would block its own event loop
        found = await asyncio.to_thread(saver.get_tuple, _config("s"))  # another thread: fine
        assert found is not None and found.checkpoint["values"]["messages"][0].text == "hi"
        listed = await asyncio.to_thread(lambda: list(saver.list(_config("s"))))
        assert [t.config for t in listed] == [t.config async for t in saver.alist(_config("s"))]


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"tokentide\[postgres\]"):
        PostgresSaver(object())  # type: ignore[arg-type]


class _CountingCursor(psycopg.Cursor[Any]):
    statements: list[str] = []

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(" ".join(str(query).split()[:3]))
        return super().execute(query, *args, **kwargs)

    def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(" ".join(str(query).split()[:3]))
        return super().executemany(query, *args, **kwargs)


def _xid(url: str) -> int:
    """The next transaction id of the cluster (asking assigns one: subtract it)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def counted(url: str) -> Iterator[PostgresSaver]:
    with psycopg.Connection.connect(url, autocommit=True) as conn:
        conn.cursor_factory = _CountingCursor
        saver = PostgresSaver(conn)
        saver.setup()
        _CountingCursor.statements = []
        yield saver


def test_a_streamed_run_writes_once_per_superstep_not_per_token(
    url: str, counted: PostgresSaver
) -> None:
    graph = _graph(counted)
    before = _xid(url)
    chunks = 0
    for chunk, _meta in graph.stream(
        {"messages": [("user", "count")]}, _config("tokens"), stream_mode="messages"
    ):
        chunks += bool(chunk.content)
    write_transactions = _xid(url) - before - 1
    statements = list(_CountingCursor.statements)
    steps = len(list(counted.list(_config("tokens"))))
    puts = statements.count("INSERT INTO tokentide_checkpoints")
    writes = statements.count("DELETE FROM tokentide_checkpoint_writes")  # one per put_writes
    assert chunks == TOKENS
    assert 2 <= steps <= 4  # input, START, chat: a handful of supersteps for 300 tokens
    assert puts == steps  # one checkpoint INSERT per superstep
    assert writes <= steps  # pending writes, if any: one batch per task, not per token
    assert puts <= write_transactions <= puts + writes  # each in its own transaction
    assert len(statements) <= puts + 2 * writes + 1, statements  # + the read of the thread


def test_a_connection_outside_autocommit_commits_every_call(url: str) -> None:
    with psycopg.connect(url) as conn:  # autocommit off, as psycopg.connect() defaults
        saver = PostgresSaver(conn)
        saver.setup()
        graph = _graph(saver)
        graph.invoke({"messages": [("user", "hi")]}, _config("manual"))
        assert saver.get_tuple(_config("manual")) is not None
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with psycopg.connect(url) as other:  # another session sees it: committed
            row = other.execute(
                "SELECT count(*) FROM tokentide_checkpoints WHERE thread_id = 'manual'"
            ).fetchone()
        assert row is not None and row[0] == len(list(saver.list(_config("manual"))))
