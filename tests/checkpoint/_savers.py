"""The savers under test, behind one adapter that calls either their sync or async methods."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tokentide.checkpoint import (
    AsyncPostgresSaver,
    BaseCheckpointSaver,
    CheckpointTuple,
    MemorySaver,
    PostgresSaver,
    SqliteSaver,
)

#: Every saver, each in its sync and its async shell (PostgreSQL: `PostgresSaver` and
#: `AsyncPostgresSaver`); the PostgreSQL ones need the real server, hence ``once``.
SAVERS = [
    pytest.param(("memory", True), id="memory-sync"),
    pytest.param(("memory", False), id="memory-async"),
    pytest.param(("sqlite", True), id="sqlite-sync"),
    pytest.param(("sqlite", False), id="sqlite-async"),
    pytest.param(("postgres", True), id="postgres-sync", marks=pytest.mark.once),
    pytest.param(("postgres", False), id="postgres-async", marks=pytest.mark.once),
]

TABLES = "tokentide_checkpoints, tokentide_checkpoint_writes"


@dataclass
class Api:
    """One saver, called through its sync (``sync=True``) or async methods."""

    saver: Any  # a BaseCheckpointSaver, or LangGraph's for the differential tests
    sync: bool

    async def put(
        self, config: dict[str, Any], checkpoint: Any, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        versions = dict(checkpoint.get("channel_versions", {}))  # LangGraph stores these
        if self.sync:
            return dict(self.saver.put(config, checkpoint, metadata, versions))
        return dict(await self.saver.aput(config, checkpoint, metadata, versions))

    async def get_tuple(self, config: dict[str, Any]) -> CheckpointTuple | None:
        found: CheckpointTuple | None
        if self.sync:
            found = self.saver.get_tuple(config)
        else:
            found = await self.saver.aget_tuple(config)
        return found

    async def get(self, config: dict[str, Any]) -> Any:
        return self.saver.get(config) if self.sync else await self.saver.aget(config)

    async def list(self, config: dict[str, Any] | None, **options: Any) -> list[CheckpointTuple]:
        if self.sync:
            return list(self.saver.list(config, **options))
        return [found async for found in self.saver.alist(config, **options)]

    async def put_writes(
        self,
        config: dict[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if self.sync:
            self.saver.put_writes(config, writes, task_id, task_path)
        else:
            await self.saver.aput_writes(config, writes, task_id, task_path)

    async def delete_thread(self, thread_id: str) -> None:
        if self.sync:
            self.saver.delete_thread(thread_id)
        else:
            await self.saver.adelete_thread(thread_id)


def clear_tables(url: str) -> None:
    """Empty the checkpoint tables of the database at ``url`` (they exist after setup)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES}")


@contextlib.asynccontextmanager
async def open_saver(
    kind: str, sync: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[BaseCheckpointSaver]:
    """A fresh, empty saver of ``kind`` (PostgreSQL: the shared test database, emptied)."""
    if kind == "memory":
        yield MemorySaver()
        return
    if kind == "sqlite":
        with SqliteSaver.from_conn_string(str(tmp_path / "threads.db")) as saver:
            yield saver
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database("conformance")
    if sync:
        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            clear_tables(url)
            yield saver
        return
    async with AsyncPostgresSaver.from_conn_string(url) as asaver:
        await asaver.setup()
        clear_tables(url)
        yield asaver


async def assert_same_trace(session: Any, api: Api, reference: Any) -> None:
    """``session(api)`` traces what ``session`` traces on the ``reference`` saver (sync)."""
    expected = await session(Api(reference, True))
    assert await session(api) == expected
