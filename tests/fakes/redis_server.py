"""A real, throwaway ``redis-server`` for tests.

:func:`running_redis_server` starts ``redis-server`` on a free 127.0.0.1 port with no persistence
(no RDB snapshots, no append-only file, a fresh working directory), waits until it answers
``PING``, and stops it on exit. Wrap it in a fixture of the scope you need (module scope: one
server per test module, so modules never share keys).

``redis-server`` is a system package that the project's set-up installs; when it is missing the
tests fail (they do not skip) with a message saying so, so a broken set-up cannot pass silently.

Example::

    from fakes.redis_server import RedisServer, running_redis_server

    @pytest.fixture(scope="module")
    def redis_server() -> Iterator[RedisServer]:
        with running_redis_server() as server:
            yield server

    async def test_ping(redis_server: RedisServer) -> None:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        assert await client.ping()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

__all__ = ["RedisServer", "RestartableRedis", "restartable_redis_server", "running_redis_server"]

_START_TIMEOUT = 10.0
_MISSING = (
    "redis-server is not installed: the project's set-up installs it (Debian package "
    "'redis-server'); the Redis store tests need a real server and do not skip without one"
)


@dataclass(frozen=True)
class RedisServer:
    """A running server: where to reach it and its process."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _spawn(executable: str, port: int, workdir: str) -> subprocess.Popen[bytes]:
    args = [
        executable,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", workdir,
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--loglevel", "warning",
        "--logfile", os.path.join(workdir, "redis.log"),
    ]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers_ping(port):
            return True
        time.sleep(0.02)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def running_redis_server() -> Iterator[RedisServer]:
    """Start a private ``redis-server``, yield it once it answers ``PING``, stop it after.

    Fails the calling test (``pytest.fail``) when ``redis-server`` is not installed or does not
    start; a port taken between choosing and binding it is retried with another port.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(_MISSING, pytrace=False)
    with tempfile.TemporaryDirectory(prefix="tokentide-redis-") as workdir:
        log = ""
        for _attempt in range(3):
            port = _free_port()
            process = _spawn(executable, port, workdir)
            if _wait_ready(process, port):
                try:
                    yield RedisServer("127.0.0.1", port, process)
                finally:
                    _stop(process)
                return
            _stop(process)
            log = _read_log(workdir)
        pytest.fail(f"redis-server did not start; its log:\n{log}", pytrace=False)


def _read_log(workdir: str) -> str:
    try:
        with open(os.path.join(workdir, "redis.log"), encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]
    except OSError:
        return "(no log)"


class RestartableRedis:
    """A ``redis-server`` on a fixed free port that a test can kill (SIGKILL, as a crash
    would) and start again on the same port, empty (no persistence), or start late.

    Example::

        with restartable_redis_server() as redis:
            redis.kill()   # clients now see connection errors
            redis.start()  # back, empty, on the same port
    """

    def __init__(self, executable: str, workdir: str) -> None:
        self.executable = executable
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        """Start it (again) on its port; fail the test if it does not answer ``PING``."""
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            self.process = _spawn(self.executable, self.port, self.workdir)
            if _wait_ready(self.process, self.port):
                return
            _stop(self.process)
            if time.monotonic() > deadline:  # the port may be held for a moment after a kill
                pytest.fail(f"redis-server did not restart:\n{_read_log(self.workdir)}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL it and wait until it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


@contextlib.contextmanager
def restartable_redis_server(*, started: bool = True) -> Iterator[RestartableRedis]:
    """A `RestartableRedis` (running unless ``started=False``), stopped on exit."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(_MISSING, pytrace=False)
    with tempfile.TemporaryDirectory(prefix="tokentide-redis-") as workdir:
        redis = RestartableRedis(executable, workdir)
        try:
            if started:
                redis.start()
            yield redis
        finally:
            redis.stop()
