"""Reading the lines typed into ``tokentide chat``: line editing and history on a terminal,
plain lines from a pipe.

On a terminal (stdin and stdout both terminals) lines are read with the stdlib `readline` when
it is available: arrow keys, editing, and the history of typed lines. The history is also kept
in a file: ``$TOKENTIDE_HISTORY_FILE`` when set (an empty value keeps it in memory only), else
``$XDG_STATE_HOME/tokentide/chat_history`` (``~/.local/state/...``). When stdin is not a
terminal, lines are read one by one with no prompt.

Example::

    reader = LineReader(sys.stdin, sys.stdout, sys.stderr)
    try:
        line = reader.read("> ")
    except EOFError:
        ...
    finally:
        reader.close()
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TextIO

__all__ = ["HISTORY_ENV", "LineReader", "history_path"]

HISTORY_ENV = "TOKENTIDE_HISTORY_FILE"
HISTORY_LENGTH = 1000


def history_path() -> Path | None:
    """Where the typed lines are kept between sessions (``None``: in memory only)."""
    configured = os.environ.get(HISTORY_ENV)
    if configured is not None:
        return Path(configured).expanduser() if configured else None
    state = os.environ.get("XDG_STATE_HOME") or os.path.join("~", ".local", "state")
    return Path(state).expanduser() / "tokentide" / "chat_history"


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _import_readline() -> ModuleType | None:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return None
    return readline


class LineReader:
    """Reads one line at a time; `read` raises `EOFError` at the end of input (Ctrl-D) and
    `KeyboardInterrupt` on Ctrl-C."""

    def __init__(self, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
        self.stdin = stdin
        self.stderr = stderr
        self.interactive = _isatty(stdin)
        self._readline = _import_readline() if self.interactive and _isatty(stdout) else None
        self._history: Path | None = None
        if self._readline is not None:
            self._readline.set_history_length(HISTORY_LENGTH)
            self._history = history_path()
            if self._history is not None:
                try:
                    self._readline.read_history_file(self._history)
                except OSError:  # no history yet, or unreadable: start empty
                    pass

    def read(self, prompt: str) -> str:
        """The next line, without its line ending. The prompt is shown only on a terminal
        (by readline, or on stderr), never written into piped output."""
        if self._readline is not None:
            return input(prompt)
        if self.interactive:
            self.stderr.write(prompt)
            self.stderr.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    def pending(self) -> str:
        """What was typed on the current line before a Ctrl-C (empty without readline)."""
        if self._readline is None:
            return ""
        buffer: str = self._readline.get_line_buffer()
        return buffer

    def close(self) -> None:
        """Save the history file (if there is one)."""
        if self._readline is None or self._history is None:
            return
        try:
            self._history.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(self._history)
        except OSError:  # a read-only home must not break the chat
            pass
