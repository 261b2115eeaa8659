"""``tokentide chat`` in real pseudo-terminals (pexpect), for the terminal tests."""

from __future__ import annotations

import io
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
