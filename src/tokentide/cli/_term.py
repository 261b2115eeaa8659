"""Terminal helpers shared by ``tokentide ask`` and ``tokentide chat``.

- `TrackedStream` wraps a model stream: it folds the chunks into one message, times the first
  token and closes the model stream (the local model's generation loop, the HTTP response)
  when it is closed itself.
- `print_reply` shows a reply on stdout as it streams: plain text flushed per piece, optionally
  paced with `tokentide.render.smooth`, or live Markdown with `tokentide.render.MarkdownStream`
  on a terminal.
- `Spinner` draws a spinner on stderr while the first token is awaited (terminals only).

Example::

    tracked = TrackedStream(model.stream("Hi"))
    print_reply(tracked, sys.stdout, pace=True)
    message = tracked.message()
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from tokentide.messages import AIMessage, AIMessageChunk, UsageMetadata

__all__ = ["Spinner", "TrackedStream", "dim", "is_tty", "print_reply", "stats_line"]

SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_ERASE_LINE = "\r\x1b[K"


def is_tty(file: object) -> bool:
    """Whether ``file`` is an interactive terminal that understands escape codes."""
    from tokentide.render import is_terminal

    return is_terminal(file)


def dim(text: str, file: TextIO) -> str:
    """``text`` in dim style when ``file`` is a terminal, else unchanged."""
    return f"\x1b[2m{text}\x1b[0m" if is_tty(file) else text


class Spinner:
    """A spinner on a terminal while nothing has arrived yet, drawn by a background thread.

    It draws ``\\r⠋ label`` every ``interval`` seconds until `stop`, which erases the line and
    returns once the thread has ended, so that the caller can write on a clean line. On a
    file that is not a terminal it draws nothing.

    Example::

        spinner = Spinner(sys.stderr, "waiting for the model")
        spinner.start()
        ...  # the first token arrives
        spinner.stop()
    """

    def __init__(self, file: TextIO, label: str = "", *, interval: float = 0.08) -> None:
        self.file = file
        self.label = label
        self.interval = interval
        self.enabled = is_tty(file)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start drawing (nothing happens on a non-terminal)."""
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tokentide-spinner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        frame = 0
        while True:
            self._draw(f"\r{SPINNER_FRAMES[frame % len(SPINNER_FRAMES)]} {self.label}")
            frame += 1
            if self._stopped.wait(self.interval):
                return

    def _draw(self, text: str) -> None:
        try:
            self.file.write(text)
            self.file.flush()
        except (OSError, ValueError):  # the terminal went away: stop quietly
            self._stopped.set()

    def stop(self) -> None:
        """Stop drawing and erase the spinner; safe to call more than once."""
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
            self._draw(_ERASE_LINE)


class TrackedStream:
    """Iterate a model stream while folding its chunks into one message and timing it.

    ``on_first`` is called once, just before the first chunk that carries text is handed on
    (a spinner's `Spinner.stop`). `close` closes the model stream; so does closing or
    finishing the iteration.

    Example::

        tracked = TrackedStream(model.stream("Hi"))
        for chunk in tracked:
            print(chunk.content, end="")
        tracked.time_to_first_token  # seconds
    """

    def __init__(
        self,
        stream: Iterator[AIMessageChunk],
        *,
        on_first: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from tokentide.messages import ChunkAccumulator

        self._stream = stream
        self.stream = stream
        """The model stream (a `ChatStream` has ``.result``, with the usage after a close)."""
        self._on_first = on_first
        self._clock = clock
        self.accumulator = ChunkAccumulator()
        self.started_at = clock()
        self.first_at: float | None = None
        self.ended_at: float | None = None

    def __iter__(self) -> Iterator[AIMessageChunk]:
        add = self.accumulator.add
        try:
            for chunk in self._stream:
                add(chunk)
                if self.first_at is None and chunk.content:
                    self.first_at = self._clock()
                    if self._on_first is not None:
                        self._on_first()
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Close the model stream (stops generation at once); safe to call more than once."""
        if self.ended_at is None:
            self.ended_at = self._clock()
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    @property
    def text(self) -> str:
        """The text received so far."""
        return self.accumulator.text

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from the start to the first chunk with text (``None`` if none came)."""
        return None if self.first_at is None else self.first_at - self.started_at

    def message(self, **metadata: Any) -> AIMessage:
        """The reply so far as one `AIMessage`; ``metadata`` is added to its
        ``response_metadata`` (``interrupted=True`` for a reply that was cut short)."""
        from tokentide.messages import message_chunk_to_message

        message = message_chunk_to_message(self.accumulator.result())
        if metadata:
            message.response_metadata = {**message.response_metadata, **metadata}
        return message


class _View(Protocol):
    @property
    def text(self) -> str: ...

    def write(self, text: str) -> None: ...

    def close(self) -> None: ...


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block and raise it at the end of the block (main
    thread only; elsewhere signals are not delivered to Python code anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


class _PlainView:
    """Writes each piece as it comes and flushes; ends the line at the end."""

    def __init__(self, out: TextIO, sep: str | None) -> None:
        self.out = out
        self.sep = sep
        self._pieces: list[str] = []
        self._at_line_start = True

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def write(self, text: str) -> None:
        if not text:
            return
        # Writing a piece and recording it as shown happen together: a Ctrl-C in between
        # would show the piece twice (once here, once as "received but not shown").
        with _sigint_deferred():
            self.out.write(text)
            self._pieces.append(text)
        self._at_line_start = text.endswith("\n")
        if self.sep is not None:
            self.out.write(self.sep)
            self._at_line_start = False
        self.out.flush()

    def close(self) -> None:
        if not self._at_line_start:
            self.out.write("\n")
            self._at_line_start = True
        self.out.flush()


class _MarkdownView:
    """Live Markdown on a terminal (`tokentide.render.MarkdownStream`)."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console

        from tokentide.render import MarkdownStream

        self._stream = MarkdownStream(Console(file=out))

    @property
    def text(self) -> str:
        return self._stream.text

    def write(self, text: str) -> None:
        self._stream.update(text)

    def close(self) -> None:
        self._stream.close()


def _texts(chunks: Iterable[AIMessageChunk]) -> Iterator[str]:
    for chunk in chunks:
        content = chunk.content
        if isinstance(content, str) and content:
            yield content


def print_reply(
    tracked: TrackedStream,
    out: TextIO,
    *,
    pace: bool = False,
    markdown: bool = False,
    sep: str | None = None,
) -> None:
    """Show the reply of ``tracked`` on ``out`` as it streams.

    ``pace`` re-times the text with `tokentide.render.smooth` (steady reading rate, bounded
    lag); ``markdown`` renders live Markdown (use it on terminals only); ``sep`` is written
    after each piece of plain text. However the loop ends (the end of the reply, Ctrl-C, an
    error), the model stream is closed, the text received but not shown yet is shown, and
    the line is ended; the exception, if any, propagates.
    """
    from tokentide.render import smooth

    texts: Iterator[str] = smooth(tracked) if pace else _texts(tracked)
    view: _View = _MarkdownView(out) if markdown else _PlainView(out, sep)
    try:
        for text in texts:
            view.write(text)
    finally:
        close = getattr(texts, "close", None)
        if close is not None:
            close()
        tracked.close()
        held_back = tracked.text[len(view.text) :]
        if held_back:
            view.write(held_back)
        view.close()


def stats_line(tracked: TrackedStream, usage: UsageMetadata | None) -> str:
    """``time to first token 0.21s · 41.3 tokens/s · usage: 12 in, 40 out, 52 total``."""
    parts: list[str] = []
    ttft = tracked.time_to_first_token
    parts.append("time to first token " + ("-" if ttft is None else f"{ttft:.2f}s"))
    produced = usage.get("output_tokens") if usage else None
    count = produced if produced is not None else tracked.accumulator.count
    end = tracked.ended_at if tracked.ended_at is not None else tracked._clock()
    start = tracked.first_at if tracked.first_at is not None else tracked.started_at
    elapsed = end - start
    parts.append(f"{count / elapsed:.1f} tokens/s" if elapsed > 0 and count else "- tokens/s")
    if usage:
        parts.append(
            f"usage: {usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out, "
            f"{usage.get('total_tokens', 0)} total"
        )
    else:
        parts.append("usage: unknown")
    return " · ".join(parts)


def write_note(text: str, file: TextIO | None = None) -> None:
    """Write a dim note line (``[interrupted]``, stats) on stderr."""
    file = file if file is not None else sys.stderr
    file.write(dim(text, file) + "\n")
    file.flush()
