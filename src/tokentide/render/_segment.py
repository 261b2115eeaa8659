"""Unicode-aware segmentation of streamed text into release units.

The pacer releases text in *units*: a Latin, Cyrillic or Korean word with its trailing
whitespace; or, for scripts written without spaces (Chinese, Japanese, Thai, ...), a few
grapheme clusters at a time, preferring to break after punctuation. A unit never ends inside a
grapheme cluster, so emoji ZWJ sequences, flags, skin tones and combining marks stay intact.

Grapheme clusters come from the `regex` module (``\\X``) when it is installed, and otherwise from
a small fallback that covers combining marks, ZWJ sequences, variation selectors, skin tones,
tag sequences, regional-indicator pairs, Hangul jamo and CRLF.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

try:  # pragma: no cover - which branch runs depends on the environment
    import regex as _regex
except ImportError:  # pragma: no cover
    _regex = None

__all__ = ["DENSE_UNIT", "grapheme_spans", "last_grapheme_start", "unit_ends"]

DENSE_UNIT = 3
"""Grapheme clusters per unit for scripts written without spaces."""

_GRAPHEME = _regex.compile(r"\X") if _regex is not None else None

# Punctuation that closes a phrase: a dense unit breaks after it, and a unit absorbs it rather
# than letting it start the next unit.
_CLOSING = frozenset(
    "、。，．！？：；」』）】〕〉》〙〗〛…‥・〜～！？，．：；）］｝｠,.!?;:)]}\"'”’»"
)

_DENSE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31BF),  # Bopomofo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # half- and fullwidth forms
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _is_dense(ch: str) -> bool:
    cp = ord(ch)
    if cp < 0x0E00:
        return False
    return any(lo <= cp <= hi for lo, hi in _DENSE_RANGES)


def _is_extend(cp: int) -> bool:
    """Code points that attach to the preceding cluster (fallback segmentation only)."""
    if 0xFE00 <= cp <= 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return True
    if cp == 0x200D or 0x1160 <= cp <= 0x11FF:  # ZWJ; Hangul medial vowels and final consonants
        return True
    return unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc")


def _is_regional(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _fallback_spans(text: str, start: int, stop: int) -> Iterator[tuple[int, int]]:
    i = start
    while i < stop:
        j = i + 1
        cp = ord(text[i])
        if text[i] == "\r" and j < stop and text[j] == "\n":
            j += 1
        elif _is_regional(cp) and j < stop and _is_regional(ord(text[j])):
            j += 1
        while j < stop:
            nxt = ord(text[j])
            if ord(text[j - 1]) == 0x200D and j - 1 > i:  # joined by ZWJ
                j += 1
            elif _is_extend(nxt):
                j += 1
            else:
                break
        yield i, j
        i = j


def grapheme_spans(text: str, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` offsets of the grapheme clusters of ``text[start:stop]``.

    ``start`` must be a grapheme boundary of the whole text.
    """
    end = len(text) if stop is None else stop
    if _GRAPHEME is None:
        yield from _fallback_spans(text, start, end)
        return
    for match in _GRAPHEME.finditer(text, start, end):
        yield match.span()


def last_grapheme_start(text: str, start: int) -> int:
    """Offset where the last grapheme cluster of ``text`` begins (``start`` is a boundary)."""
    last = start
    for begin, _ in grapheme_spans(text, start):
        last = begin
    return last


class _Graphemes:
    """Grapheme clusters with one cluster of look-ahead."""

    __slots__ = ("_it", "_next", "text")

    def __init__(self, text: str, start: int, stop: int) -> None:
        self.text = text
        self._it = grapheme_spans(text, start, stop)
        self._next = next(self._it, None)

    def peek(self) -> tuple[int, int] | None:
        return self._next

    def take(self) -> int:
        """Consume the next cluster and return its end offset."""
        assert self._next is not None
        end = self._next[1]
        self._next = next(self._it, None)
        return end

    def first_char(self) -> str | None:
        return None if self._next is None else self.text[self._next[0]]


def _take_while_space(gs: _Graphemes, end: int) -> int:
    while (ch := gs.first_char()) is not None and ch.isspace():
        end = gs.take()
    return end


def _scan_unit(gs: _Graphemes, end: int) -> int:
    """Consume one unit (leading space, body, closing punctuation, trailing space)."""
    end = _take_while_space(gs, end)
    ch = gs.first_char()
    if ch is None:
        return end
    if _is_dense(ch):
        count = 0
        while (ch := gs.first_char()) is not None and _is_dense(ch) and count < DENSE_UNIT:
            end = gs.take()
            count += 1
            if ch in _CLOSING:
                break
    else:
        while (ch := gs.first_char()) is not None and not ch.isspace() and not _is_dense(ch):
            end = gs.take()
    while (ch := gs.first_char()) is not None and ch in _CLOSING:
        end = gs.take()
    return _take_while_space(gs, end)


def unit_ends(text: str, start: int, stop: int, *, final: bool) -> Iterator[int]:
    """Yield the end offsets of the complete units of ``text[start:stop]``.

    A unit is complete when a grapheme cluster is known to follow it inside ``start:stop``
    (the next cluster decides whether it still belongs to the unit), or, with ``final``, when
    it reaches ``stop``. ``start`` and ``stop`` must be grapheme boundaries.

    >>> list(unit_ends("Hello big world", 0, 15, final=False))
    [6, 10]
    """
    gs = _Graphemes(text, start, stop)
    end = start
    while gs.peek() is not None:
        end = _scan_unit(gs, end)
        if gs.peek() is None and not final:
            return
        yield end
