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

from typing import TYPE_CHECKING, Any

from tokentide.render._notebook import adisplay_stream, display_stream, in_notebook
from tokentide.render._pacing import DEFAULT_RATE, Pacer, asmooth, smooth

if TYPE_CHECKING:
    from tokentide.render._markdown import (
        MarkdownStream,
        aprint_markdown_stream,
        is_terminal,
        print_markdown_stream,
    )

_MARKDOWN_NAMES = frozenset(
    {"MarkdownStream", "aprint_markdown_stream", "is_terminal", "print_markdown_stream"}
)


def __getattr__(name: str) -> Any:
    # The terminal Markdown names need `rich` (the `render` extra): import it only when asked,
    # so that pacing and notebook display work without it.
    if name in _MARKDOWN_NAMES:
        try:
            from tokentide.render import _markdown
        except ImportError as exc:
            from tokentide.errors import MissingDependencyError

            raise MissingDependencyError("rich", "render", "Live Markdown rendering") from exc
        return getattr(_markdown, name)
    raise AttributeError(f"module 'tokentide.render' has no attribute {name!r}")


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
