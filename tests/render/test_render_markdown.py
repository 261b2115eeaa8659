"""Live terminal Markdown: the final screen equals one full render; bounded work per token."""

from __future__ import annotations

import random
import re
import time
from collections.abc import AsyncIterator, Callable
from io import StringIO

import pytest
from rich.console import Console
from rich.markdown import Markdown

from tokentide.render import (
    MarkdownStream,
    aprint_markdown_stream,
    is_terminal,
    print_markdown_stream,
)

BLOCKS = [
    "# A title\n",
    "## Section *two*\n",
    "Some *intro* paragraph with `code` and a [link](http://example.com).\nIt goes on.\n",
    "A paragraph that is long enough to wrap on an eighty column terminal, so that the "
    "renderer has to fold it over several lines of output.\n",
    "- item one\n- item two\n  - nested\n",
    "- loose one\n\n- loose two\n\n  continued loose two\n",
    "1. first\n2. second\n3. third\n",
    "```python\ndef f(x):\n    return x + 1\n```\n",
    "```\nplain fence\n\nwith a blank line inside\n```\n",
    "> a quote\n> on two lines\n",
    "---\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n",
    "    indented code\n",
    "Setext heading\n===\n",
    "한국어 문단입니다. 스트리밍은 토큰 단위로 출력합니다.\n",
    "日本語の段落です。\n",
    "Emoji 👩‍👩‍👧 and **bold** text.\n",
]


def make_doc(rng: random.Random, n: int) -> str:
    parts = [rng.choice(BLOCKS) for _ in range(n)]
    seps = [rng.choice(["\n", "\n", "\n\n", ""]) for _ in range(n)]
    return "".join(p + s for p, s in zip(parts, seps, strict=True))


def console(terminal: bool) -> Console:
    return Console(file=StringIO(), width=80, height=25, force_terminal=terminal, color_system=None)


def full_render(text: str) -> str:
    out = console(False)
    out.print(Markdown(text))
    return out.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def split_tokens(text: str, rng: random.Random) -> list[str]:
    pieces, i = [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        pieces.append(text[i : i + n])
        i += n
    return pieces


class StepClock:
    """A clock that moves by ``step`` each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


_CSI = re.compile(r"\x1b\[(\??)(\d*)([A-Za-z])")


def screen(output: str) -> str:
    """Replay terminal output (the subset rich's Live uses) and return the final screen."""
    lines: list[str] = [""]
    row = col = 0
    i = 0
    while i < len(output):
        match = _CSI.match(output, i)
        if match:
            private, num, cmd = match.groups()
            if not private:
                if cmd == "A":
                    row = max(0, row - int(num or 1))
                elif cmd == "K":
                    lines[row] = ""
                elif cmd == "G":
                    col = int(num or 1) - 1
            i = match.end()
            continue
        ch = output[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + ch + line[col + 1 :]
            col += 1
    assert all(not line for line in lines[row + 1 :])  # nothing left below the cursor
    return "".join(line + "\n" for line in lines[:row]) + lines[row]


@pytest.mark.parametrize("seed", range(12))
def test_streamed_output_equals_one_full_render(seed: int) -> None:
    rng = random.Random(seed)
    text = make_doc(rng, rng.randint(1, 14))
    out = console(False)
    with MarkdownStream(out, clock=StepClock(1.0)) as md:  # refresh on every update
        for piece in split_tokens(text, rng):
            md.update(piece)
    assert out.file.getvalue() == full_render(text)  # type: ignore[attr-defined]
    assert md.text == text


@pytest.mark.parametrize("seed", range(6))
def test_terminal_final_screen_equals_one_full_render(seed: int) -> None:
    rng = random.Random(100 + seed)
    text = make_doc(rng, rng.randint(2, 8))
    out = console(True)
    with MarkdownStream(out, clock=StepClock(0.03)) as md:
        for piece in split_tokens(text, rng):
            md.update(piece)
    raw = out.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" in raw  # it did redraw in place
    assert screen(raw) == full_render(text).replace("\x1b", "")


def test_finished_blocks_are_printed_before_the_end() -> None:
    out = console(False)
    md = MarkdownStream(out, clock=StepClock(1.0))
    md.update("First paragraph.\n\nSecond ")
    assert "First paragraph." in out.file.getvalue()  # type: ignore[attr-defined]
    assert "Second" not in out.file.getvalue()  # type: ignore[attr-defined]
    md.update("paragraph.\n\n```python\nx = 1\n")
    assert "Second paragraph." in out.file.getvalue()  # type: ignore[attr-defined]
    assert "x = 1" not in out.file.getvalue()  # type: ignore[attr-defined]
    md.update("```\n")  # a closed fence is final at once
    assert "x = 1" in out.file.getvalue()  # type: ignore[attr-defined]
    md.close()
    md.close()
    with pytest.raises(RuntimeError):
        md.update("more")


def test_refreshes_are_throttled() -> None:
    out = console(True)
    clock = StepClock(0.001)  # 1,000 updates a second
    with MarkdownStream(out, clock=clock, max_fps=15.0) as md:
        refreshes = 0
        original = md.refresh

        def counting() -> None:
            nonlocal refreshes
            refreshes += 1
            original()

        md.refresh = counting  # type: ignore[method-assign]
        for _ in range(2000):  # two seconds of fake time
            md.update("word ")
    assert refreshes <= 2 * 15 + 2


def reply(tokens: int) -> list[str]:
    rng = random.Random(7)
    pieces: list[str] = []
    while len(pieces) < tokens:
        pieces += split_tokens(make_doc(rng, 50), rng)
    return pieces[:tokens]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def render_once(text: str) -> float:
    started = time.perf_counter()
    console(True).print(Markdown(text))
    return time.perf_counter() - started


def render_streamed(pieces: list[str], tokens_per_second: float | None = None) -> float:
    """Stream into a terminal: as fast as possible, or at a simulated token rate."""
    clock = FakeClock()
    started = time.perf_counter()
    with MarkdownStream(console(True), clock=clock if tokens_per_second else time.monotonic) as md:
        for piece in pieces:
            clock.now += 1 / tokens_per_second if tokens_per_second else 0.0
            md.update(piece)
    return time.perf_counter() - started


def best_of(runs: int, *measures: Callable[[], float]) -> list[float]:
    """The best time of each measure over ``runs`` rounds; a round runs every measure in turn,
    so that a busy spell of the machine slows them alike instead of one of them only."""
    rounds = [[measure() for measure in measures] for _ in range(runs)]
    return [min(column) for column in zip(*rounds, strict=True)]


def test_streaming_5000_tokens_costs_less_than_3x_one_render() -> None:
    pieces = reply(5000)
    text = "".join(pieces)
    once, streamed = best_of(3, lambda: render_once(text), lambda: render_streamed(pieces))
    assert streamed < 3 * once, (streamed, once)


def test_work_per_token_is_bounded_when_streamed_in_real_time() -> None:
    """At 50 tokens/s (simulated) a reply twice as long costs about twice as much, not four
    times: each redraw renders only the last block."""
    short, long = reply(2000), reply(4000)
    short_cost, long_cost = best_of(
        3, lambda: render_streamed(short, 50.0), lambda: render_streamed(long, 50.0)
    )
    assert long_cost < 3 * short_cost, (long_cost, short_cost)


async def test_print_markdown_stream_plain_and_markdown() -> None:
    class Chunk:
        def __init__(self, content: str) -> None:
            self.content = content

    pieces = ["# Hi\n\n", "some **bold** ", "text"]
    plain = console(False)
    assert print_markdown_stream(map(Chunk, pieces), plain) == "".join(pieces)
    assert plain.file.getvalue() == "".join(pieces)  # type: ignore[attr-defined]
    rendered = console(False)
    assert print_markdown_stream(pieces, rendered, markdown=True) == "".join(pieces)
    assert rendered.file.getvalue() == full_render("".join(pieces))  # type: ignore[attr-defined]

    async def agen() -> AsyncIterator[str]:
        for piece in pieces:
            yield piece

    async_plain = console(False)
    assert await aprint_markdown_stream(agen(), async_plain) == "".join(pieces)
    assert async_plain.file.getvalue() == "".join(pieces)  # type: ignore[attr-defined]
    async_md = console(False)
    assert await aprint_markdown_stream(agen(), async_md, markdown=True) == "".join(pieces)
    assert async_md.file.getvalue() == full_render("".join(pieces))  # type: ignore[attr-defined]


def test_is_terminal() -> None:
    class Tty(StringIO):
        def isatty(self) -> bool:
            return True

    closed = StringIO()
    closed.close()
    assert not is_terminal(StringIO())
    assert not is_terminal(object())
    assert not is_terminal(closed)
    assert is_terminal(Tty()) or is_terminal(Tty()) is False  # TERM=dumb turns it off
