"""``tokentide serve`` as a real subprocess (a replica): start it on a free port with its output
in a log file, wait until it answers, stop it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.signals import sigint_default


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    checkpointer: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_serve(
    options: list[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    preexec_fn: Callable[[], object] | None = None,
    checkpointer: str = "",
) -> Replica:
    """``python -m tokentide.cli serve OPTIONS --port PORT``, its output in ``log``."""
    port = free_port()
    args = [sys.executable, "-m", "tokentide.cli", "serve", *options, "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, preexec_fn=preexec_fn
        )
    return Replica(f"http://127.0.0.1:{port}", process, log, checkpointer)


def models_listed(url: str) -> bool:
    return httpx.get(url + "/v1/models", timeout=1).status_code == 200


def assistants_listed(url: str) -> bool:
    return httpx.post(url + "/assistants/search", json={}, timeout=1).is_success


def wait_ready(
    replica: Replica, *, ready: Callable[[str], bool] = models_listed, timeout: float = 30
) -> None:
    """Wait until ``ready(url)`` (fail with the replica's log if it exits or never is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and replica.process.poll() is None:
        try:
            if ready(replica.url):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"tokentide serve did not start:\n{replica.log.read_text(errors='replace')}")


def terminate(process: subprocess.Popen[Any], *, timeout: float = 10) -> None:
    """Terminate ``process`` (kill it if it does not exit within ``timeout``)."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def stop(replica: Replica, *, timeout: float = 10) -> None:
    """Terminate the replica (kill it if it does not exit within ``timeout``)."""
    if replica.process.poll() is None:
        terminate(replica.process, timeout=timeout)


def popen_serve(
    options: list[str], port: int, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m tokentide.cli serve OPTIONS --port PORT`` with its stderr piped (text), and
    Ctrl-C (``SIGINT``) restored so that the test can stop it the way a user would."""
    args = [sys.executable, "-m", "tokentide.cli", "serve", *options, "--port", str(port)]
    return subprocess.Popen(
        args, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default
    )


def wait_serving(process: subprocess.Popen[str], port: int, *, timeout: float = 30) -> None:
    """Wait until the server of ``process`` on ``port`` answers ``/v1/models``; if it exits or
    never does, kill it and fail with its stderr."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=0.5)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                _, err = process.communicate()
                raise AssertionError(f"the server did not start: {err}") from None
            time.sleep(0.05)


@contextmanager
def two_replicas(
    start: Callable[[str], Replica],
    *,
    ready: Callable[[str], bool] = models_listed,
    timeout: float = 30,
    stop_timeout: float = 10,
) -> Iterator[tuple[Replica, Replica]]:
    """Replicas ``a`` and ``b`` (``start(name)``), started together, ready, stopped at the end."""
    a = start("a")
    b = start("b")
    try:
        wait_ready(a, ready=ready, timeout=timeout)
        wait_ready(b, ready=ready, timeout=timeout)
        yield a, b
    finally:
        stop(a, timeout=stop_timeout)
        stop(b, timeout=stop_timeout)
