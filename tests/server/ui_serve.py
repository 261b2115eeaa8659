"""Helpers of the AI SDK tests: ``tokentide serve`` as a subprocess serving the agents of this
directory, and the Node scenarios of ``tests/js/ui_chat.mjs``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.serve_process import terminate

HERE = Path(__file__).resolve().parent
JS = HERE.parent / "js"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(options: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """``tokentide serve OPTIONS`` on a free port (this directory importable); its URL."""
    port = free_port()
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    environ = {**os.environ, "PYTHONPATH": path, **(env or {})}
    args = [sys.executable, "-m", "tokentide.cli", "serve", "--port", str(port)]
    args += [*options, "--log-level", "warning"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=environ, cwd=HERE
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, log)
            yield url
        finally:
            terminate(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    log.seek(0)
    pytest.fail(f"tokentide serve did not start:\n{log.read().decode(errors='replace')}")


def node_scenario(url: str, scenario: str, model: str | None = None) -> dict[str, Any]:
    """Run one scenario of ``ui_chat.mjs`` against ``url``; what it saw."""
    if shutil.which("node") is None or not (JS / "node_modules" / "ai").is_dir():
        pytest.fail("node and tests/js/node_modules are needed: run scripts/setup", pytrace=False)
    argv = ["node", str(JS / "ui_chat.mjs"), url, scenario, *([model] if model else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=JS)
    assert done.returncode == 0, f"node failed ({done.returncode}):\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def page_html(source: str) -> str:
    """An HTML page running ``tests/js/ui_page/<source>`` (React, ``@ai-sdk/react`` and
    ``ai`` bundled by esbuild) in ``<div id="root">``."""
    with tempfile.TemporaryDirectory(prefix="tokentide-ui-page-") as workdir:
        out = Path(workdir) / "page.js"
        esbuild = JS / "node_modules" / ".bin" / "esbuild"
        args = [str(esbuild), f"ui_page/{source}", "--bundle", "--format=iife", "--jsx=automatic"]
        args += ['--define:process.env.NODE_ENV="production"', f"--outfile={out}"]
        done = subprocess.run(
            [*args, "--log-level=warning"], cwd=JS, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"esbuild failed:\n{done.stderr}"
        script = out.read_text()
    return (
        f'<!doctype html><html><body><div id="root"></div><script>{script}</script></body></html>'
    )


def chromium_path() -> str:
    """Debian's Chromium (the project's set-up installs it)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed (the project's set-up installs it)", pytrace=False)
    return executable
