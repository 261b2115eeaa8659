"""``tokentide chat`` in real pseudo-terminals (pexpect), for the terminal tests."""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fakes.signals import sigint_default


def chat_env(tmp_path: Path, *, delay: float, **extra: str) -> dict[str, str]:
    """The environment of a chat in a colour terminal, its history in ``tmp_path``, the fake
    model's words ``delay`` seconds apart."""
    return {
        **os.environ,
        "TERM": "xterm-256color",
        "PYTHONIOENCODING": "utf-8",
        "TOKENTIDE_HISTORY_FILE": str(tmp_path / "history"),
        "TOKENTIDE_FAKE_DELAY": str(delay),
        **extra,
    }


@contextmanager
def chat_terminals(
    env: dict[str, str], *, columns: int, timeout: float = 20, cwd: Path | None = None
) -> Iterator[Callable[..., Any]]:
    """``start(*args, command=None, timeout=...)`` spawns ``tokentide chat ARGS`` (through
    ``bash -c`` when ``command`` formats ``{chat}``) in a 40-line terminal; everything the
    terminal showed is in ``child.logfile_read``. Children still alive at the end are killed."""
    import pexpect

    children: list[Any] = []

    def start(*args: str, command: str | None = None, timeout: float = timeout) -> Any:
        argv = [sys.executable, "-m", "tokentide.cli", "chat", *args]
        if command is not None:  # through a shell, e.g. to redirect stdout
            argv = ["bash", "-c", command.format(chat=shlex.join(argv))]
        child = pexpect.spawn(
            argv[0],
            argv[1:],
            cwd=None if cwd is None else str(cwd),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            timeout=timeout,
            dimensions=(40, columns),
            preexec_fn=sigint_default,  # Ctrl-C reaches it even if this run ignores SIGINT
        )
        child.logfile_read = io.StringIO()
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            if child.isalive():
                child.terminate(force=True)


@contextmanager
def tool_chat_terminals(
    tmp_path: Path, tools_module: str, script: list[Any], *, delay: float, columns: int
) -> Iterator[Callable[..., Any]]:
    """``chat_terminals`` for chats whose fake model replies ``script`` (words ``delay`` seconds
    apart) with the tools of ``tools_module``, written to ``tmp_path`` as ``chat_tools``."""
    (tmp_path / "chat_tools.py").write_text(tools_module, encoding="utf-8")
    env = chat_env(tmp_path, delay=delay, TOKENTIDE_FAKE_REPLY=json.dumps(script))
    with chat_terminals(env, columns=columns, timeout=30, cwd=tmp_path) as start:
        yield start


def save_and_quit(child: Any, path: Path, count: int) -> list[dict[str, Any]]:
    """``/save PATH`` (it says ``count`` messages were saved), then Ctrl-D at the prompt: the
    chat exits with 0 and no traceback. Returns the saved messages."""
    import pexpect

    child.sendline(f"/save {path}")
    child.expect_exact(f"[saved {count} messages")
    child.expect_exact("> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert (child.exitstatus, child.signalstatus) == (0, None)
    assert "Traceback" not in child.logfile_read.getvalue()
    messages: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["messages"]
    return messages
