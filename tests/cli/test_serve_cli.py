"""``tokentide serve``: argument checks in-process, and one real server in a subprocess."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import openai
import pytest

from fakes.serve_process import free_port, popen_serve, wait_serving
from tokentide.cli import build_parser, main
from tokentide.cli._serve import ServeError, build_app

pytestmark = pytest.mark.timeout(60)


def _args(*argv: str) -> object:
    return build_parser().parse_args(["serve", *argv])


def test_non_loopback_without_api_key_refuses_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--host", "0.0.0.0", "--model", "fake"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without --api-key" in err and "--insecure" in err


@pytest.mark.parametrize(
    "extra", [["--api-key", "test-key-1234"], ["--insecure"]], ids=["api-key", "insecure"]
)
def test_non_loopback_with_key_or_insecure(extra: list[str]) -> None:
    app = build_app(_args("--host", "0.0.0.0", "--model", "fake", *extra))  # type: ignore[arg-type]
    assert list(app.assistants) == ["fake"]
    assert app.api_key == (extra[1] if extra[0] == "--api-key" else None)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_key(host: str) -> None:
    build_app(_args("--host", host, "--model", "fake"))  # type: ignore[arg-type]


def test_model_names_and_graphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_graphs.py").write_text(
        "from tokentide.graph import START, MessagesState, StateGraph\n"
        "def node(state):\n    return {}\n"
        "agent = StateGraph(MessagesState).add_node(node).add_edge(START, 'node').compile()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = _args(
        "--model",
        "fake",
        "--model",
        "gpt-4o-mini=fake",
        "--graph",
        "my_graphs:agent",
        "--graph",
        "second=my_graphs:agent",
    )
    app = build_app(args)  # type: ignore[arg-type]
    assert {name: a.kind for name, a in app.assistants.items()} == {
        "fake": "model",
        "gpt-4o-mini": "model",
        "agent": "graph",
        "second": "graph",
    }
    only_graph = build_app(_args("--graph", "my_graphs:agent"))  # type: ignore[arg-type]
    assert list(only_graph.assistants) == ["agent"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--model", "fake", "--model", "fake"], "two models are named 'fake'"),
        (["--graph", "nocolon"], "expected MODULE:ATTR"),
        (["--graph", "no_such_module_xyz:g"], "cannot import"),
        (["--graph", "os:sep"], "is not a graph or runnable"),
        (["--model", "what"], "unknown model"),
        (["--model", "fake", "--max-queue", "-1"], "must not be negative"),
    ],
)
def test_bad_values_are_usage_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", *argv])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err


def test_redis_url_without_the_store_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokentide.server._redis_store", None)
    with pytest.raises(ServeError, match="no Redis store"):
        build_app(_args("--model", "fake", "--redis-url", "redis://127.0.0.1:1/0"))  # type: ignore[arg-type]


def test_serve_subprocess_with_api_key() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    options = ["--model", "gpt-4o-mini=fake", "--api-key", "k3y-k3y-k3y", "--log-level", "warning"]
    proc = popen_serve(options, port, env)
    try:
        wait_serving(proc, port, timeout=20)
        base = f"http://127.0.0.1:{port}/v1"
        with openai.OpenAI(base_url=base, api_key="k3y-k3y-k3y", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream)
            assert "cat" in text
        assert httpx.get(f"{base}/models").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/v1 (serving: gpt-4o-mini)" in err
