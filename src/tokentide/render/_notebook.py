"""Show a stream in a Jupyter notebook: one output area, updated in place, throttled.

The notebook output is one ``display_id``: the first text is displayed, later text updates that
same output at most ``max_rate`` times a second, and the last update always carries the complete
text. Outside a notebook the text is written to stdout as it arrives. IPython is imported only
inside a notebook (install ``tokentide[notebook]``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from tokentide.render._text import Merger, text_of

__all__ = ["DisplayHandle", "adisplay_stream", "display_stream", "in_notebook"]

T = TypeVar("T")


class DisplayHandle(Protocol):
    """What ``IPython.display.display(..., display_id=True)`` returns."""

    def update(self, obj: Any, **kwargs: Any) -> None: ...


DisplayFunction = Callable[..., Any]
"""``IPython.display.display``, or a function with the same signature (tests, other front ends)."""


def in_notebook() -> bool:
    """Whether code runs in a Jupyter kernel (a ``ZMQInteractiveShell``).

    A terminal IPython session or plain Python is not a notebook. IPython is not imported: a
    kernel has always imported it already.

    Example::

        if in_notebook():
            display_stream(model.stream("Hi"))
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


class _Throttle:
    """Decides when the notebook output is updated (sans-I/O)."""

    __slots__ = ("_interval", "_next", "_shown_len")

    def __init__(self, max_rate: float) -> None:
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self._interval = 1.0 / max_rate
        self._next = -float("inf")
        self._shown_len = -1

    def due(self, now: float) -> bool:
        return now >= self._next

    def shown(self, now: float, length: int) -> None:
        self._next = now + self._interval
        self._shown_len = length

    def stale(self, length: int) -> bool:
        return length != self._shown_len


class _NotebookView:
    """One output area in a notebook, or stdout outside one."""

    def __init__(
        self,
        markdown: bool,
        max_rate: float,
        clock: Callable[[], float],
        display: DisplayFunction | None,
        key: Callable[[Any], str] | None,
    ) -> None:
        self._clock = clock
        self._key = key or text_of
        self._throttle = _Throttle(max_rate)
        self._merger = Merger()
        self._handle: Any = None
        self._display: DisplayFunction | None = display
        self._make: Callable[[str], tuple[Any, dict[str, Any]]] | None = None
        if display is None and in_notebook():
            self._display = _ipython_display()
        if self._display is not None:
            self._make = _markdown_object if markdown else _plain_bundle

    def add(self, item: Any) -> None:
        text = self._key(item)
        self._merger.add(item, text)
        if self._display is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        now = self._clock()
        if self._throttle.due(now):
            self._show(now)

    def _show(self, now: float) -> None:
        assert self._display is not None and self._make is not None
        text = self._merger.text
        obj, kwargs = self._make(text)
        if self._handle is None:
            self._handle = self._display(obj, display_id=True, **kwargs)
        else:
            self._handle.update(obj, **kwargs)
        self._throttle.shown(now, len(text))

    def finish(self) -> Any:
        if self._display is None:
            text = self._merger.text
            if text and not text.endswith("\n"):
                sys.stdout.write("\n")
            sys.stdout.flush()
        elif self._throttle.stale(len(self._merger.text)):
            self._show(self._clock())
        return self._merger.result()


def _ipython_display() -> DisplayFunction:
    try:
        from IPython.display import display
    except ImportError as exc:  # pragma: no cover - a kernel always has IPython
        raise ImportError(
            "notebook display needs IPython: pip install 'tokentide[notebook]'"
        ) from exc
    function: DisplayFunction = display
    return function


def _markdown_object(text: str) -> tuple[Any, dict[str, Any]]:
    from IPython.display import Markdown

    markdown_class: Any = Markdown  # untyped in some IPython versions
    return markdown_class(text), {}


def _plain_bundle(text: str) -> tuple[Any, dict[str, Any]]:
    return {"text/plain": text}, {"raw": True}


def display_stream(
    stream: Iterable[T],
    markdown: bool = True,
    *,
    max_rate: float = 20.0,
    key: Callable[[T], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    display: DisplayFunction | None = None,
) -> Any:
    """Show a stream in a notebook, in one output area updated in place; return the message.

    In a Jupyter kernel the text is displayed once and then updated (one ``display_id``) at
    most ``max_rate`` times a second, as ``IPython.display.Markdown`` (``markdown=True``) or
    plain text; the last update is always the complete text. Elsewhere the text is written to
    stdout as it arrives. Returns the merged message: the chunks folded with ``+`` when they
    support it, else the joined text. ``display`` replaces ``IPython.display.display``.

    Example::

        message = display_stream(model.stream("Explain SSE in Markdown"))
    """
    view = _NotebookView(markdown, max_rate, clock, display, key)
    for item in stream:
        view.add(item)
    return view.finish()


async def adisplay_stream(
    stream: AsyncIterable[T],
    markdown: bool = True,
    *,
    max_rate: float = 20.0,
    key: Callable[[T], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    display: DisplayFunction | None = None,
) -> Any:
    """Async twin of `display_stream`.

    Example::

        message = await adisplay_stream(model.astream("Explain SSE in Markdown"))
    """
    view = _NotebookView(markdown, max_rate, clock, display, key)
    async for item in stream:
        view.add(item)
    return view.finish()
