"""The PostgreSQL test fixture itself: a private cluster on a loopback port, run by an
unprivileged user, gone (process and directory) when the block ends."""

from __future__ import annotations

import os

import psycopg
import pytest

from fakes.postgres_server import _alive, running_postgres_server

pytestmark = [pytest.mark.once, pytest.mark.timeout(120)]


def test_a_private_cluster_starts_and_is_gone_after() -> None:
    with running_postgres_server() as server:
        url = server.create_database("fixture_check")
        with psycopg.connect(url) as conn:
            user = conn.execute("SELECT current_user").fetchone()
            listen = conn.execute("SHOW listen_addresses").fetchone()
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        data = os.path.join(server.workdir, "data")
        with open(os.path.join(data, "postmaster.pid"), encoding="ascii") as file:
            postmaster = int(file.readline())
        owner = os.stat(data).st_uid
        workdir = server.workdir
    assert user == ("postgres",) and listen == ("127.0.0.1",) and row is not None
    if os.geteuid() == 0:
        assert owner != 0  # PostgreSQL ran as the unprivileged 'postgres' user
    assert not _alive(postmaster)
    assert not os.path.exists(workdir)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
