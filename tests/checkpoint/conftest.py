"""The real PostgreSQL server of the checkpointer tests (one per test session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.postgres_server import PostgresServer, running_postgres_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster on a free loopback port, stopped at the end of the
    session; tests that use it are marked ``once``."""
    with running_postgres_server() as server:
        yield server
