"""Live Markdown in the terminal, with bounded work per token.

The streamed reply is split into *finished blocks* and the *unfinished last block*. A finished
block (one that later text can no longer change: a block followed by the complete first line of
another, or a closed code fence) is rendered once and printed permanently, so it scrolls into
the terminal. Only the last block is re-rendered, in a `rich.live.Live` region, at most
``max_fps`` times a second. The printed blocks plus the final region are exactly what
``Console.print(Markdown(full_text))`` prints.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from tokentide.render._text import text_of

try:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live
    from rich.markdown import Markdown, UnknownElement
    from rich.segment import Segment
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("terminal Markdown needs rich: pip install 'tokentide[render]'") from exc

__all__ = ["MarkdownStream", "aprint_markdown_stream", "is_terminal", "print_markdown_stream"]

T = TypeVar("T")

_NEWLINE = re.compile(r"\r\n|\r|\n")
_ENDED_BY_BLANK_LINE = frozenset({"paragraph_open", "heading_open", "hr", "table_open", "fence"})


def is_terminal(file: object) -> bool:
    """Whether ``file`` is an interactive terminal that understands escape codes.

    Use it to choose between live Markdown and plain text: output piped to a file or another
    program should get the reply as plain text, with no escape codes.

    Example::

        if is_terminal(sys.stdout):
            print_markdown_stream(model.stream("Hi"))
        else:
            for chunk in model.stream("Hi"):
                sys.stdout.write(chunk.content)
    """
    isatty = getattr(file, "isatty", None)
    if isatty is None:
        return False
    try:
        tty = bool(isatty())
    except (ValueError, OSError):  # closed or detached
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


class _Block:
    """Rendered Markdown, preceded by the blank line rich puts between two blocks."""

    def __init__(self, markdown: Markdown, blank_line: bool) -> None:
        self.markdown = markdown
        self.blank_line = blank_line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.blank_line:
            yield Segment.line()
        yield self.markdown


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _NEWLINE.finditer(text))]


def _fence_closed(token: Any, text: str, starts: list[int]) -> bool:
    """Whether a top-level fence token ends with a complete closing fence line."""
    first, end = token.map
    last = end - 1
    if last <= first or last >= len(starts) - 1:  # no closing line, or it is still open
        return False
    line = text[starts[last] : starts[last + 1]].strip()
    markup = str(token.markup)
    return len(line) >= len(markup) and line == line[0] * len(line) and line[0] == markup[0]


def _split_finished(tokens: list[Any], text: str) -> tuple[int, int]:
    """Where the blocks that later text cannot change end: a character and a token index."""
    starts = _line_starts(text)
    complete = len(starts) - 1  # lines that end with a newline
    top = [(i, t) for i, t in enumerate(tokens) if t.level == 0 and t.nesting >= 0 and t.map]
    cut = (0, 0)
    for (_, before), (index, token) in zip(top, top[1:], strict=False):
        if token.map[0] < complete or (
            # a blank line ends these blocks for good, whatever the next line turns out to be
            before.type in _ENDED_BY_BLANK_LINE and token.map[0] > before.map[1]
        ):
            cut = (token.map[0], index)
    if top and top[-1][1].type == "fence" and _fence_closed(top[-1][1], text, starts):
        cut = (top[-1][1].map[1], top[-1][0] + 1)
    line, index = cut
    return (starts[line] if line < len(starts) else len(text)), index


_PARSER: Any = None


def _parse(text: str) -> list[Any]:
    """Parse like rich's `Markdown` does, with one parser kept for the whole process."""
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        _PARSER = MarkdownIt().enable("strikethrough").enable("table")
    tokens: list[Any] = _PARSER.parse(text)
    return tokens


def _starts_with_leaf(tokens: list[Any]) -> bool:
    """Whether the first block of ``tokens`` holds no other block (a paragraph, heading, fence).

    rich puts a blank line before a block when the block element closed last asked for one.
    Inside a container (list, quote, table) that is an inner block of the container itself,
    so the container renders alike alone or after other blocks; a leaf block depends on the
    block before it.
    """
    if not tokens or tokens[0].nesting == 0:
        return True
    for token in tokens[1:]:
        if token.level == 0:
            return True
        if token.type != "inline":
            return False
    return True


def _ends_with_blank_line(tokens: list[Any]) -> bool:
    """Whether rich puts a blank line after the last top-level block of ``tokens``."""
    for token in reversed(tokens):
        if token.level == 0:
            kind = str(token.type)
            if token.nesting == -1:
                kind = kind[: -len("_close")] + "_open"
            element = Markdown.elements.get(kind) or UnknownElement
            return bool(element.new_line)
    return False


class MarkdownStream:
    """Render a reply as Markdown in the terminal while it streams.

    Finished blocks are printed once and scroll into the terminal; the last block is redrawn
    in place at most ``max_fps`` times a second (less often when a redraw is slow, so that
    redrawing takes at most about a fifth of the time). On a console that is not a terminal,
    finished blocks are printed as they complete and nothing is redrawn. After `close` the
    output is exactly ``console.print(Markdown(full_text))``.

    Example::

        with MarkdownStream() as md:
            for chunk in model.stream("Explain SSE in Markdown"):
                md.update(chunk.content)
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        max_fps: float = 15.0,
        code_theme: str = "monokai",
        hyperlinks: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console if console is not None else Console()
        self.max_fps = max_fps
        self._template = Markdown("", code_theme=code_theme, hyperlinks=hyperlinks)
        self._clock = clock
        self._done: list[str] = []  # text of the printed blocks
        self._tail = ""  # text of the unfinished blocks, as of the last refresh
        self._incoming: list[str] = []
        self._blank_line = False  # rich's blank line before the next block
        self._next_refresh = -float("inf")
        self._live: Live | None = None
        self._closed = False
        console = self.console
        if console.is_terminal and not console.is_dumb_terminal and not console.is_jupyter:
            self._live = Live(
                console=console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="ellipsis",
            )

    @property
    def text(self) -> str:
        """The whole text received so far."""
        return "".join(self._done) + self._tail + "".join(self._incoming)

    def __enter__(self) -> MarkdownStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, text: str) -> None:
        """Append ``text`` to the reply; redraws when the frame interval has passed."""
        if self._closed:
            raise RuntimeError("update() after close()")
        if text:
            self._incoming.append(text)
        if self._clock() >= self._next_refresh:
            self.refresh()

    def refresh(self) -> None:
        """Print the blocks that finished and redraw the last one now."""
        started = time.perf_counter()
        tail = self._tail + "".join(self._incoming)
        self._incoming.clear()
        tokens = _parse(tail)
        cut, index = _split_finished(tokens, tail)
        finished = self._finished_block(tail[:cut], tokens[:index]) if index else None
        self._tail, tokens = tail[cut:], tokens[index:]
        if self._live is not None:
            if not self._live.is_started:
                self._live.start()
            block = _Block(self._markdown(self._tail, tokens), self._blank_before(tokens))
            self._live.update(block, refresh=finished is None)
        if finished is not None:
            self.console.print(finished)  # a live region is redrawn below it
        spent = time.perf_counter() - started
        self._next_refresh = self._clock() + max(1.0 / self.max_fps, 4 * spent)

    def _markdown(self, text: str, tokens: list[Any]) -> Markdown:
        """A rich `Markdown` for already parsed text (parsing is the costly part of one)."""
        markdown = copy.copy(self._template)
        markdown.markup = text
        markdown.parsed = tokens
        return markdown

    def _finished_block(self, text: str, tokens: list[Any]) -> _Block | None:
        """The renderable for finished blocks; updates the blank-line state after them."""
        if not tokens:
            return None
        block = _Block(self._markdown(text, tokens), self._blank_before(tokens))
        self._blank_line = _ends_with_blank_line(tokens)
        self._done.append(text)
        return block

    def _blank_before(self, tokens: list[Any]) -> bool:
        return bool(tokens) and self._blank_line and _starts_with_leaf(tokens)

    def close(self) -> None:
        """Print what is left, as final, and stop redrawing. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        tail = self._tail + "".join(self._incoming)
        self._incoming.clear()
        self._tail = ""
        try:
            if self._live is not None and self._live.is_started:
                self._live.stop()  # transient: the region is erased, then printed for good
        finally:
            block = self._finished_block(tail, _parse(tail))
            if block is not None:
                self.console.print(block)
            self._done[:] = ["".join(self._done)]


def print_markdown_stream(
    stream: Iterable[T],
    console: Console | None = None,
    *,
    markdown: bool | None = None,
    key: Callable[[T], str] | None = None,
) -> str:
    """Print a stream of text or message chunks as live Markdown; return the full text.

    With ``markdown=None`` the choice follows `is_terminal` on the console's file: a terminal
    gets live Markdown, a pipe or file gets the plain text as it arrives, flushed, with no
    escape codes.

    Example::

        reply = print_markdown_stream(model.stream("Write a haiku about rivers"))
    """
    console = console if console is not None else Console()
    extract = key or text_of
    if markdown is None:
        markdown = is_terminal(console.file)
    if not markdown:
        return _write_plain((extract(item) for item in stream), console)
    with MarkdownStream(console) as md:
        for item in stream:
            md.update(extract(item))
        return md.text


async def aprint_markdown_stream(
    stream: AsyncIterable[T],
    console: Console | None = None,
    *,
    markdown: bool | None = None,
    key: Callable[[T], str] | None = None,
) -> str:
    """Async twin of `print_markdown_stream`.

    Example::

        reply = await aprint_markdown_stream(model.astream("Write a haiku about rivers"))
    """
    console = console if console is not None else Console()
    extract = key or text_of
    if markdown is None:
        markdown = is_terminal(console.file)
    pieces: list[str] = []
    with MarkdownStream(console) if markdown else _NullContext() as md:
        async for item in stream:
            text = extract(item)
            pieces.append(text)
            if md is None:
                console.file.write(text)
                console.file.flush()
            else:
                md.update(text)
    return "".join(pieces)


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _write_plain(texts: Iterable[str], console: Console) -> str:
    pieces: list[str] = []
    file = console.file
    for text in texts:
        pieces.append(text)
        file.write(text)
        file.flush()
    return "".join(pieces)
