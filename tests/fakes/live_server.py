"""A real uvicorn server on a free 127.0.0.1 port, in a thread (for server tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: Any, **options: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", ws="none", **options
        )
        self.app = app
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve())
        finally:
            self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def call(self, coro: Any, timeout: float = 10) -> Any:
        """Run ``coro`` on the server's event loop (to inspect the app from a test)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def live_server(app: Any, **options: Any) -> Iterator[LiveServer]:
    server = LiveServer(app, **options).start()
    try:
        yield server
    finally:
        server.stop()
