"""Text of stream items, and merging them back into one message.

The render layer sits above the message types but does not import them: an item is a ``str``
or any object with a ``.content`` attribute (an `AIMessageChunk`), and merging uses ``+`` when
the items support it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Merger", "text_of"]


def text_of(item: object) -> str:
    """The text of a stream item: a ``str``, or the ``.content`` of a message chunk.

    List content (content blocks) contributes its text blocks. Anything else is a `TypeError`:
    pass ``key=`` to the render function to say how to get text from your items.
    """
    if isinstance(item, str):
        return item
    content = getattr(item, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    raise TypeError(f"cannot get text from {type(item).__name__!r}; pass key= to extract it")


class Merger:
    """Folds stream items into one value: chunks with ``+``, strings by joining.

    Strings are collected and joined once (no quadratic concatenation). The first item that is
    not a string and supports ``+`` starts a fold; items that cannot be added fall back to the
    joined text.

    Example::

        merger = Merger()
        for chunk in stream:
            merger.add(chunk)
        message = merger.result()
    """

    __slots__ = ("_acc", "_mergeable", "_texts")

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._acc: Any = None
        self._mergeable = True  # until a string or an item without + shows up

    def add(self, item: Any, text: str) -> None:
        """Add ``item``, whose text is ``text``."""
        self._texts.append(text)
        if isinstance(item, str):
            self._mergeable = False  # a mix of strings and chunks merges as text
            return
        if not self._mergeable:
            return
        if self._acc is None:
            self._acc = item
            return
        try:
            self._acc = self._acc + item
        except TypeError:
            self._mergeable = False

    @property
    def text(self) -> str:
        """The joined text so far."""
        if len(self._texts) > 1:
            self._texts[:] = ["".join(self._texts)]
        return self._texts[0] if self._texts else ""

    def result(self) -> Any:
        """The merged message when the items were mergeable chunks, else the joined text."""
        if self._mergeable and self._acc is not None:
            return self._acc
        return self.text
