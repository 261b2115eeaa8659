"""Fixtures of the checkpointer tests: the real PostgreSQL server (one per test session) and
the saver of each kind, sync and async, behind one ``Api``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fakes.postgres_server import PostgresServer, running_postgres_server

from ._savers import SAVERS, Api, open_saver


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster on a free loopback port, stopped at the end of the
    session; tests that use it are marked ``once``."""
    with running_postgres_server() as server:
        yield server


@pytest.fixture(params=SAVERS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """Each saver kind, sync and async, fresh and empty (PostgreSQL: the shared test database, emptied)."""
    kind, sync = request.param
    async with open_saver(kind, sync, tmp_path, request) as saver:
        yield Api(saver, sync)
