"""``serve --checkpointer`` and ``create_app(checkpointer=...)``: which saver each value makes,
clear errors for values that cannot work, and served graphs that keep their threads there
(runs on a thread continue it; runs without one, such as chat completions, still work)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.live_server import LiveServer, live_server
from tokentide.checkpoint import AsyncPostgresSaver, MemorySaver, SqliteSaver
from tokentide.cli import build_parser
from tokentide.cli._serve import ServeError, build_app, check_args
from tokentide.cli._serve_checkpointer import make_checkpointer, redact
from tokentide.server import create_app

from .served import thread_graphs
from .served.thread_graphs import chat

pytestmark = pytest.mark.timeout(60)


def _args(*argv: str) -> Any:
    return build_parser().parse_args(["serve", *argv])


def test_memory_and_sqlite_values(tmp_path: Path) -> None:
    assert make_checkpointer(None) is None
    assert isinstance(make_checkpointer("memory"), MemorySaver)
    saver = make_checkpointer(f"sqlite:///{tmp_path}/threads.db")
    assert isinstance(saver, SqliteSaver)
    saver.close()
    assert (tmp_path / "threads.db").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis://localhost/0", "expected 'memory', 'sqlite:///PATH' or 'postgresql://"),
        ("sqlite:threads.db", "expected sqlite:///PATH"),
        ("sqlite:///", "expected sqlite:///PATH"),
        ("sqlite:////no/such/dir/threads.db", "cannot open the SQLite file"),
    ],
)
def test_values_that_cannot_work(value: str, message: str) -> None:
    with pytest.raises(ServeError, match=message):
        make_checkpointer(value)


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://app:s3cret@127.0.0.1:{port}/app?connect_timeout=5"
    with pytest.raises(ServeError) as caught:
        make_checkpointer(url)
    assert "cannot set up the checkpoint tables" in str(caught.value)
    assert "s3cret" not in str(caught.value) and "app:***@" in str(caught.value)
    assert redact("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"


def test_workers_cannot_share_a_memory_checkpointer() -> None:
    args = _args("--model", "fake", "--workers", "2", "--redis-url", "redis://x")
    args.checkpointer = "memory"
    with pytest.raises(ServeError, match="cannot share --checkpointer memory"):
        check_args(args)


def test_build_app_serves_graphs_with_the_checkpointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "threads.db"
    app = build_app(
        _args("--graph", f"{thread_graphs.__name__}:chat", "--checkpointer", f"sqlite:///{db}")
    )
    assistant = app.assistants["chat"]
    assert isinstance(assistant.target.checkpointer, SqliteSaver)
    assert assistant.stateless is chat and chat.checkpointer is None  # the module's graph as is
    asyncio.run(app.aclose())  # closes the SQLite file it opened


def test_a_postgres_url_gives_an_async_saver_on_an_unopened_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_up: list[str] = []
    connected: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "tokentide.checkpoint.PostgresSaver.setup", lambda self: set_up.append("setup")
    )

    class _Connection:
        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def connect(url: str, **options: Any) -> Any:
        connected.append(options)
        return _Connection()

    monkeypatch.setattr("psycopg.connect", connect)
    monkeypatch.setattr("psycopg.Connection", _Connection)
    saver = make_checkpointer("postgresql://app@127.0.0.1:1/app")
    assert isinstance(saver, AsyncPostgresSaver) and set_up == ["setup"]
    assert connected == [{"autocommit": True, "connect_timeout": 10}]
    assert saver.conn.closed  # opened by the server's event loop, at the first run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("threads") / "threads.db"
    with SqliteSaver(str(db)) as saver:
        app = create_app(graphs={"chat": chat}, checkpointer=saver)
        with live_server(app) as live:
            yield live


def _run(server: LiveServer, text: str, thread_id: str | None) -> list[tuple[str, str]]:
    body: dict[str, Any] = {
        "assistant": "chat",
        "input": {"messages": [{"role": "user", "content": text}]},
        "stream_mode": ["values"],
    }
    if thread_id is not None:
        body["thread_id"] = thread_id
    response = httpx.post(server.url + "/v1/runs", json=body, timeout=20)
    assert response.status_code == 200, response.text
    states = [
        line[len("data: ") :]
        for block in response.text.split("\n\n")
        if "event: values" in block
        for line in block.splitlines()
        if line.startswith("data: ")
    ]
    import json

    return [(m["type"], m["content"]) for m in json.loads(states[-1])["messages"]]


def test_runs_on_a_thread_continue_it(server: LiveServer) -> None:
    assert _run(server, "one", "t-1")[-1] == ("ai", "turn 1: heard one")
    assert _run(server, "two", "t-1")[-1] == ("ai", "turn 2: heard one | two")
    assert _run(server, "hello", "t-2")[-1] == ("ai", "turn 1: heard hello")


def test_chat_completions_run_the_graph_without_a_thread(server: LiveServer) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "no thread"}]}
    response = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=20)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "turn 1: heard no thread"
