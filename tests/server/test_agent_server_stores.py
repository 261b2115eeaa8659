"""The thread stores of the Agent Server API (memory, SQLite, PostgreSQL) keep one contract:
threads created once, updated field by field, searched, deleted with their runs; runs added by
``begin_run``, which refuses a busy thread when asked to and reports the active runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.postgres_server import PostgresServer, running_postgres_server
from tokentide.server._lg_store import (
    MemoryThreadStore,
    SqliteThreadStore,
    ThreadExists,
    ThreadStore,
    now_iso,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres_server() as server:
        yield server


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.once)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ThreadStore]:
    made: ThreadStore
    if request.param == "memory":
        made = MemoryThreadStore()
    elif request.param == "sqlite":
        made = SqliteThreadStore(str(tmp_path / "threads.db"))
    else:
        from tokentide.server._lg_store_pg import PostgresThreadStore

        server = request.getfixturevalue("postgres")
        made = PostgresThreadStore(server.create_database(f"threads_{id(request)}"))
    try:
        yield made
    finally:
        await made.aclose()


def _thread(thread_id: str) -> dict[str, Any]:
    stamp = now_iso()
    return {
        "thread_id": thread_id,
        "created_at": stamp,
        "updated_at": stamp,
        "status": "idle",
        "metadata": {"n": thread_id},
    }


def _run(run_id: str, thread_id: str) -> dict[str, Any]:
    stamp = now_iso()
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "created_at": stamp,
        "updated_at": stamp,
        "status": "pending",
    }


async def test_threads(store: ThreadStore) -> None:
    await store.create_thread(_thread("t1"))
    await store.create_thread(_thread("t2"))
    with pytest.raises(ThreadExists):
        await store.create_thread(_thread("t1"))
    updated = await store.update_thread("t1", status="busy", values={"x": [1]})
    assert updated is not None and updated["status"] == "busy"
    found = await store.get_thread("t1")
    assert found is not None and found["values"] == {"x": [1]} and found["metadata"] == {"n": "t1"}
    assert await store.update_thread("nope", status="busy") is None
    assert sorted(t["thread_id"] for t in await store.list_threads()) == ["t1", "t2"]
    assert await store.delete_thread("t2") is True
    assert await store.get_thread("t2") is None
    assert await store.delete_thread("t2") is False


async def test_begin_run_rejects_or_reports_the_active_runs(store: ThreadStore) -> None:
    await store.create_thread(_thread("t"))
    added, active = await store.begin_run(_run("r1", "t"), reject_if_busy=True)
    assert added and active == []
    added, active = await store.begin_run(_run("r2", "t"), reject_if_busy=True)
    assert not added and [r["run_id"] for r in active] == ["r1"]
    assert await store.get_run("r2") is None
    added, active = await store.begin_run(_run("r3", "t"), reject_if_busy=False)
    assert added and [r["run_id"] for r in active] == ["r1"]
    await store.update_run("r1", status="success")
    await store.update_run("r3", status="running", kwargs={"checkpoint_before": None})
    run = await store.get_run("r3")
    assert (
        run is not None
        and run["status"] == "running"
        and run["kwargs"] == {"checkpoint_before": None}
    )
    added, active = await store.begin_run(_run("r4", "t"), reject_if_busy=False)
    assert [r["run_id"] for r in active] == ["r3"]
    assert {r["run_id"] for r in await store.list_runs("t")} == {"r1", "r3", "r4"}
    await store.delete_thread("t")
    assert await store.get_run("r1") is None
