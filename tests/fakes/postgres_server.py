"""A real, throwaway PostgreSQL server for tests.

:func:`running_postgres_server` makes a fresh cluster with ``initdb`` in a temporary directory,
starts it with ``pg_ctl`` on a free 127.0.0.1 port (no Unix socket, trust authentication for
loopback only, no fsync), waits until it answers a query, and stops it on exit (``pg_ctl stop
-m fast``, then SIGKILL of the postmaster if it is still there). The binaries come from
``/usr/lib/postgresql/<version>/bin`` (Debian's ``postgresql`` package) or ``$PATH``.

PostgreSQL refuses to run as root: when the tests run as root, ``initdb`` and ``pg_ctl`` run as
the unprivileged ``postgres`` user that the Debian package creates (the directory is handed to
it); otherwise as the current user.

PostgreSQL is a system package that the project's set-up installs; when it is missing the tests
fail (they do not skip) with a message saying so, so a broken set-up cannot pass silently.

Example::

    @pytest.fixture(scope="session")
    def postgres_server() -> Iterator[PostgresServer]:
        with running_postgres_server() as server:
            yield server

    def test_query(postgres_server: PostgresServer) -> None:
        url = postgres_server.create_database("t1")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["PostgresServer", "find_bin_dir", "running_postgres_server"]

_START_TIMEOUT = 60.0
_SUPERUSER = "postgres"
_MISSING = (
    "PostgreSQL is not installed: the project's set-up installs it (Debian package "
    "'postgresql', binaries in /usr/lib/postgresql/<version>/bin); the PostgreSQL tests need a "
    "real server and do not skip without one"
)


@dataclass
class PostgresServer:
    """A running cluster: where to reach it, its directory and its log."""

    host: str
    port: int
    workdir: str
    bin_dir: str
    created: set[str] = field(default_factory=set)

    def url(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<database>``."""
        return f"postgresql://{_SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create the (empty) database ``name`` once; return its URL."""
        import psycopg

        if name not in self.created:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            self.created.add(name)
        return self.url(name)

    @property
    def log(self) -> str:
        return _read(os.path.join(self.workdir, "postgres.log"))


def find_bin_dir() -> str | None:
    """The directory of ``initdb`` and ``pg_ctl`` (the newest Debian version), or ``None``."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(path.split("/")[-2]) if path.split("/")[-2].isdigit() else 0,
    )
    for path in reversed(candidates):
        if os.access(os.path.join(path, "pg_ctl"), os.X_OK):
            return path
    found = shutil.which("pg_ctl")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_owner() -> dict[str, Any]:
    """Popen arguments that run a command as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "the tests run as root and there is no 'postgres' user to run PostgreSQL as "
            "(the Debian package 'postgresql' creates it)",
            pytrace=False,
        )
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(args: list[str], owner: dict[str, Any], workdir: str, timeout: float) -> None:
    result = subprocess.run(
        args,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
        check=False,
        **owner,
    )
    if result.returncode != 0:
        output = result.stdout.decode(errors="replace")[-4000:]
        pytest.fail(f"{os.path.basename(args[0])} failed:\n{output}", pytrace=False)


def _answers(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=_SUPERUSER, dbname="postgres", connect_timeout=2
        ) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def _postmaster_pid(data: str) -> int | None:
    try:
        with open(os.path.join(data, "postmaster.pid"), encoding="ascii") as file:
            return int(file.readline().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left unreaped by a container's init does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            return file.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _wait_ready(data: str, port: int) -> bool:
    """Until the server answers a query (True), or its postmaster is gone or the generous
    deadline passes (False)."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if _answers(port):
            return True
        pid = _postmaster_pid(data)
        if pid is not None and not _alive(pid):
            return False
        time.sleep(0.05)
    return False


def _stop(bin_dir: str, data: str, owner: dict[str, Any], workdir: str) -> None:
    pid = _postmaster_pid(data)
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            [os.path.join(bin_dir, "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w", "-t", "30"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=40,
            check=False,
            **owner,
        )
    if pid is not None and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _start(bin_dir: str, data: str, port: int, owner: dict[str, Any], workdir: str) -> None:
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-p {port}",
            "-c unix_socket_directories=''",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c autovacuum=off",  # no background transactions: tests may count them
            "-c max_connections=100",
            "-c shared_buffers=32MB",
        ]
    )
    log = os.path.join(workdir, "postgres.log")
    _run(
        [os.path.join(bin_dir, "pg_ctl"), "start", "-D", data, "-l", log, "-W", "-o", options],
        owner,
        workdir,
        timeout=30,
    )


@contextlib.contextmanager
def running_postgres_server() -> Iterator[PostgresServer]:
    """Make and start a private PostgreSQL cluster; yield it once it answers; stop it after.

    Fails the calling test (``pytest.fail``) when PostgreSQL is not installed or does not
    start; a port taken between choosing and binding it is retried with another port.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail(_MISSING, pytrace=False)
    owner = _as_owner()
    with tempfile.TemporaryDirectory(prefix="tokentide-postgres-") as workdir:
        if owner:
            os.chown(workdir, owner["user"], owner["group"])
        data = os.path.join(workdir, "data")
        _run(
            [
                os.path.join(bin_dir, "initdb"),
                "-D", data,
                "-U", _SUPERUSER,
                "--auth=trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            owner,
            workdir,
            timeout=120,
        )  # fmt: skip
        for _attempt in range(3):
            port = _free_port()
            _start(bin_dir, data, port, owner, workdir)
            if _wait_ready(data, port):
                try:
                    yield PostgresServer("127.0.0.1", port, workdir, bin_dir)
                finally:
                    _stop(bin_dir, data, owner, workdir)
                return
            _stop(bin_dir, data, owner, workdir)
        log = _read(os.path.join(workdir, "postgres.log"))
        pytest.fail(f"PostgreSQL did not start; its log:\n{log}", pytrace=False)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()[-4000:]
    except OSError:
        return "(no log)"
