"""Render streams for people: pacing, live terminal Markdown, notebook display.

This layer consumes streams and never produces them. Its inputs are iterables or async
iterables of ``str`` or of message chunks (anything with a ``.content`` string).

- `smooth` / `asmooth` re-time a stream so that it reads steadily, in whole words, never more
  than ``max_lag`` seconds behind the model; `Pacer` is their sans-I/O core.
- `MarkdownStream` and `print_markdown_stream` render a reply as Markdown in the terminal while
  it streams, with bounded work per token; `is_terminal` tells when to write plain text.
- `display_stream` / `adisplay_stream` show a stream in a Jupyter notebook in one output area
  updated in place, or as plain text outside a notebook.
"""

from __future__ import annotations

from tokentide.render._markdown import (
    MarkdownStream,
    aprint_markdown_stream,
    is_terminal,
    print_markdown_stream,
)
from tokentide.render._notebook import adisplay_stream, display_stream, in_notebook
from tokentide.render._pacing import DEFAULT_RATE, Pacer, asmooth, smooth

__all__ = [
    "DEFAULT_RATE",
    "MarkdownStream",
    "Pacer",
    "adisplay_stream",
    "aprint_markdown_stream",
    "asmooth",
    "display_stream",
    "in_notebook",
    "is_terminal",
    "print_markdown_stream",
    "smooth",
]
