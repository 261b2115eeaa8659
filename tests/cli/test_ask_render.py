"""``tokentide ask --pace`` and ``--markdown``: plain text when piped, Markdown on a terminal."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.signals import sigint_default
from tokentide.cli import main
from tokentide.cli._models import FAKE_REPLY

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}
MARKDOWN_REPLY = "# Cats\n\nCats are **great** pets.\n\n- purring\n- naps\n"


def ask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentide.cli", "ask", *args],
        input="",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=env or ENV,
    )


@pytest.mark.parametrize(
    "options",
    [["--pace"], ["--markdown"], ["--pace", "--markdown"], ["--pace", "--no-stream"]],
)
def test_piped_output_is_the_plain_text_of_an_unpaced_answer(options: list[str]) -> None:
    env = {**ENV, "TOKENTIDE_FAKE_REPLY": MARKDOWN_REPLY}
    plain = ask("--model", "fake", "hi", env=env)
    rendered = ask("--model", "fake", *options, "hi", env=env)
    assert plain.returncode == rendered.returncode == 0, rendered.stderr
    assert rendered.stdout == plain.stdout == MARKDOWN_REPLY
    assert rendered.stderr == "" and "\x1b" not in rendered.stdout


def test_pace_goes_through_smooth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tokentide.render

    calls: list[int] = []
    real_smooth = tokentide.render.smooth

    def spy(stream: Any, **kwargs: Any) -> Iterator[str]:
        calls.append(1)
        return real_smooth(stream, **kwargs)

    monkeypatch.setattr(tokentide.render, "smooth", spy)
    assert main(["ask", "--model", "fake", "--pace", "hi"]) == 0
    assert calls == [1]
    assert capsys.readouterr().out == FAKE_REPLY + "\n"
    assert main(["ask", "--model", "fake", "hi"]) == 0
    assert calls == [1]  # no pacing unless asked


def test_pace_with_separators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--model", "fake", "--pace", "--sep", "|", "hi"]) == 0
    out = capsys.readouterr().out
    assert out.replace("|", "") == FAKE_REPLY + "\n"
    assert out.count("|") >= 2  # paced pieces are whole words, one separator after each


def test_markdown_on_a_non_terminal_is_plain(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKENTIDE_FAKE_REPLY", MARKDOWN_REPLY)
    assert main(["ask", "--model", "fake", "--markdown", "hi"]) == 0
    assert capsys.readouterr().out == MARKDOWN_REPLY


def test_ctrl_c_while_paced_stops_and_keeps_what_came() -> None:
    env = {**ENV, "TOKENTIDE_FAKE_DELAY": "0.2"}
    with subprocess.Popen(
        [sys.executable, "-m", "tokentide.cli", "ask", "--model", "fake:slow", "--pace", "hi"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=sigint_default,  # Ctrl-C reaches it even if this run ignores SIGINT
    ) as proc:
        assert proc.stdout is not None
        received = b""
        while b"windowsill" not in received:
            data = os.read(proc.stdout.fileno(), 4096)
            assert data, "the answer ended early"
            received += data
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    text = (received + rest).decode()
    assert text.endswith("\n") and "lap." not in text
    assert FAKE_REPLY.startswith(text.rstrip("\n"))


# ------------------------------------------------------------------ in a terminal


def run_in_pty(*args: str, reply: str) -> str:
    pexpect = pytest.importorskip("pexpect", reason="the terminal tests need pexpect")
    env = {**ENV, "TERM": "xterm-256color", "TOKENTIDE_FAKE_REPLY": reply}
    log = io.StringIO()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "tokentide.cli", "ask", "--model", "fake", *args, "hi"],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 100),
    )
    child.logfile_read = log
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, log.getvalue()
    return log.getvalue()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("pace", [False, True])
def test_markdown_is_rendered_in_a_terminal(pace: bool) -> None:
    shown = run_in_pty("--markdown", *(["--pace"] if pace else []), reply=MARKDOWN_REPLY)
    assert "Cats" in shown and "great" in shown and "purring" in shown
    assert "# Cats" not in shown and "**great**" not in shown
    assert "\x1b[" in shown  # styled by the terminal renderer


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_without_markdown_a_terminal_gets_the_raw_text() -> None:
    shown = run_in_pty(reply=MARKDOWN_REPLY)
    assert "# Cats" in shown and "**great**" in shown
    assert "\x1b" not in shown
