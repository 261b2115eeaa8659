"""Cost of live terminal Markdown: streaming a reply versus rendering it once.

Renders a 5,000-token Markdown reply (paragraphs, lists, code fences, tables, quotes) into an
80-column in-memory terminal, three ways:

- once: ``Console.print(Markdown(text))``, the floor;
- streamed, as fast as tokens come (redraws throttled by the real clock);
- streamed at a simulated 50 tokens/s (a fake clock: about 100 s of streaming, 15 redraws/s);
- streamed at a simulated 50 tokens/s with a redraw after every token (no frame limit).

Run: ``python bench/bench_markdown.py [--tokens 5000] [--runs 3] [--smoke] [--jsonl PATH]``.
Prints the minimum of the runs in milliseconds and each ratio to the single render, and checks
the budget: streaming as fast as the tokens come costs less than 3x rendering once.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Result, check_budget, parse_args, print_table, write_jsonl  # noqa: E402

from tokentide.render import MarkdownStream  # noqa: E402

BLOCKS = [
    "## Section heading\n",
    "A paragraph that explains something at some length, with *emphasis*, `inline code` and "
    "a [link](https://example.com), long enough to wrap across two or three lines of an "
    "eighty column terminal.\n",
    "- first point\n- second point with **bold**\n- third point\n  - nested detail\n",
    "1. step one\n2. step two\n3. step three\n",
    "```python\ndef handler(event):\n    for token in event.stream():\n        yield token\n```\n",
    "> A quoted remark\n> that spans two lines.\n",
    "| name | value |\n|------|-------|\n| a | 1 |\n| b | 2 |\n",
]


def make_reply(tokens: int, seed: int = 1) -> list[str]:
    """Markdown split into word-sized tokens (a leading space, as models emit them)."""
    rng = random.Random(seed)
    pieces: list[str] = []
    while len(pieces) < tokens:
        block = rng.choice(BLOCKS) + "\n"
        pieces += [(" " if i else "") + t for i, t in enumerate(block.split(" "))]
    return pieces[:tokens]


def terminal() -> Console:
    return Console(file=StringIO(), width=80, height=40, force_terminal=True, color_system=None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def once(pieces: list[str]) -> float:
    text = "".join(pieces)
    started = time.perf_counter()
    terminal().print(Markdown(text))
    return time.perf_counter() - started


def streamed(pieces: list[str], *, rate: float | None = None, max_fps: float = 15.0) -> float:
    clock = FakeClock()
    started = time.perf_counter()
    with MarkdownStream(
        terminal(), max_fps=max_fps, clock=time.monotonic if rate is None else clock
    ) as md:
        for piece in pieces:
            clock.now += 1 / rate if rate else 0.0
            md.update(piece)
    return time.perf_counter() - started


def best(run: Callable[[], float], repeat: int) -> float:
    return min(run() for _ in range(repeat))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], default_tokens=5000, default_runs=3)
    tokens, runs = args.tokens, args.runs
    pieces = make_reply(tokens)
    floor = best(lambda: once(pieces), runs)
    cases = {
        "once": floor,
        "streamed, as fast as possible": best(lambda: streamed(pieces), runs),
        "streamed at 50 tokens/s (simulated)": best(lambda: streamed(pieces, rate=50.0), runs),
        "50 tokens/s, redraw after every token": best(
            lambda: streamed(pieces, rate=50.0, max_fps=float("inf")), runs
        ),
    }
    print(f"{tokens} tokens, {len(''.join(pieces))} characters, min of {runs}")
    rows: list[Result] = [
        Result("markdown", name, "tokentide", seconds * 1000, "ms", runs=runs)
        for name, seconds in cases.items()
    ]
    ratio = cases["streamed, as fast as possible"] / floor
    budget = check_budget(
        "markdown",
        "streamed render / one render",
        measured=ratio,
        limit=3.0,
        unit="x",
        higher_is_better=False,
    )
    print_table([*rows, budget])
    if args.jsonl is not None:
        write_jsonl(args.jsonl, [*rows, budget])


if __name__ == "__main__":
    main()
