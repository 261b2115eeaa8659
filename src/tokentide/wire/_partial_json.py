"""Incremental parsing of JSON text that is still arriving.

Structured output and tool-call arguments stream in as JSON text, a few characters per token.
:class:`PartialJSONParser` consumes each delta once (a resumable state machine; it never
re-parses from the start) and can hand out, at any moment, the best-effort value of the text so
far. :func:`parse_partial_json` does the same for a whole prefix at once.

What a prefix means (the value is always a "partial" of the final value):

- an unterminated string is closed: ``{"a": "hel`` gives ``{"a": "hel"}``; an escape sequence
  that is cut short (``"ab\\u00``) is left out until it is complete, and so is a high surrogate
  until we know whether a low one follows;
- a number appears only once something ends it (``,`` ``]`` ``}`` or whitespace), because
  ``1`` may still become ``12`` or ``1.5``: ``[1, 2`` gives ``[1]``;
- ``true``, ``false`` and ``null`` appear once all their letters arrived: ``{"a": tr`` gives ``{}``;
- a key appears only when its value has started: ``{"a": 1, "b`` and ``{"a": 1, "b":``
  both give ``{"a": 1}``; ``{"a": "`` gives ``{"a": ""}`` and ``{"a": [`` gives ``{"a": []}``;
- trailing commas, colons and whitespace are ignored;
- text that can never become valid JSON (``{"a" 1``) raises ``ValueError`` as soon as it is
  seen. ``NaN`` and ``Infinity`` are refused, as in standard JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NoReturn

__all__ = ["NO_CHANGE", "PartialJSONParser", "parse_partial_json"]


class _NoChange:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_CHANGE"

    def __bool__(self) -> bool:
        return False


NO_CHANGE: Final[Any] = _NoChange()
"""Returned by :meth:`PartialJSONParser.feed` when a delta did not change the value."""

_MISSING: Final = object()

# Parser modes.
_VALUE = 0  # expecting a value (start of document, after ":" or after "," in an array)
_ARRAY_FIRST = 1  # after "[": a value or "]"
_OBJECT_FIRST = 2  # after "{": a key or "}"
_KEY = 3  # after "," in an object: a key
_COLON = 4  # after a key: ":"
_AFTER = 5  # after a value inside a container: "," or the closing bracket
_STRING = 6  # inside a string (a key or a value)
_NUMBER = 7  # inside a number
_DONE = 8  # the top-level value is complete: only whitespace may follow
_FAILED = 9  # an error was raised; the parser is unusable

_WS = re.compile(r"[ \t\n\r]*")
_STRICT_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_LAX_RUN = re.compile(r'[^"\\]*')
_NUMBER_RUN = re.compile(r"[0-9eE.+\-]*")
_NUMBER_FULL = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{0,3}")
_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: Final[dict[str, tuple[str, Any]]] = {
    "t": ("true", True),
    "f": ("false", False),
    "n": ("null", None),
}


class PartialJSONParser:
    """Resumable JSON parser that gives a best-effort value after every delta.

    Feed the text in pieces with :meth:`feed` (or :meth:`advance`, which does not build a
    value); call :meth:`close` at the end to validate the whole document with ``json.loads`` and
    get the exact final value. See the module docstring for what a partial value holds.

    Cost: every character is examined once, so :meth:`advance` costs O(len(delta)) amortized
    and a whole document O(n). A snapshot is built only when asked for and only when the value
    changed; it copies just the containers still open (the path from the root to the point of
    parsing, shallowly) and the string in progress; finished sub-values are shared, never copied.

    Snapshots are never modified by the parser after they are returned, but consecutive
    snapshots share their finished parts: treat them as read-only (``copy.deepcopy`` one before
    changing it). ``version`` counts changes of the value, to tell cheaply whether a new
    snapshot would differ from the last.

    Example::

        parser = PartialJSONParser()
        for delta in ['{"name": "Ad', 'a", "tags": ["x', '"]}']:
            value = parser.feed(delta)
            if value is not NO_CHANGE:
                print(value)   # {'name': 'Ad'}, {'name': 'Ada', 'tags': ['x']}, ...
        final = parser.close()
    """

    __slots__ = (
        "_carry",
        "_high",
        "_is_key",
        "_keys",
        "_mode",
        "_offset",
        "_pieces",
        "_root",
        "_run",
        "_snap",
        "_snap_version",
        "_stack",
        "_strict",
        "_text",
        "version",
    )

    def __init__(self, *, strict: bool = True) -> None:
        """``strict=False`` allows raw control characters inside strings, as ``json.loads``."""
        self.version = 0
        self._strict = strict
        self._run = _STRICT_RUN if strict else _LAX_RUN
        self._mode = _VALUE
        self._stack: list[dict[str, Any] | list[Any]] = []  # open containers, root first
        self._keys: list[str | None] = []  # per open container: the key being filled
        self._root: Any = _MISSING  # the finished top-level value
        self._pieces: list[str] = []  # the string or number in progress
        self._is_key = False  # the string in progress is an object key
        self._high = ""  # a high surrogate waiting to see whether a low one follows
        self._carry = ""  # an unfinished escape or literal, re-read with the next delta
        self._text: list[str] = []  # everything fed, for close()
        self._offset = 0  # position in the document of the start of the current text
        self._snap: Any = None
        self._snap_version = 0

    # ---------------------------------------------------------------------------- public API

    def feed(self, delta: str) -> Any:
        """Consume ``delta``; return the new snapshot, or :data:`NO_CHANGE` if it is unchanged."""
        version = self.version
        self.advance(delta)
        return self.snapshot() if self.version != version else NO_CHANGE

    def advance(self, delta: str) -> bool:
        """Consume ``delta`` without building a value; return whether the value changed."""
        if self._mode == _FAILED:
            raise ValueError("PartialJSONParser: closed, or the document was found invalid")
        if not delta:
            return False
        version = self.version
        self._text.append(delta)
        text = self._carry + delta if self._carry else delta
        self._offset -= len(self._carry)
        self._carry = ""
        try:
            self._consume(text)
        except ValueError:
            self._mode = _FAILED
            raise
        self._offset += len(text)
        return self.version != version

    @property
    def has_value(self) -> bool:
        """Whether the text so far holds a value (:meth:`snapshot` returns ``None`` until then)."""
        return bool(self._stack) or self._root is not _MISSING or self._in_string_value()

    def snapshot(self) -> Any:
        """Return the best-effort value of the text so far (``None`` if no value started)."""
        if self._snap_version == self.version:
            return self._snap
        child: Any = _MISSING
        if self._in_string_value():
            child = self._string_so_far()
        for depth in range(len(self._stack) - 1, -1, -1):
            container = self._stack[depth].copy()
            if child is not _MISSING:
                if type(container) is list:
                    container.append(child)
                else:
                    container[self._keys[depth]] = child  # type: ignore[index,call-overload]
            child = container
        if child is _MISSING:
            child = None if self._root is _MISSING else self._root
        self._snap = child
        self._snap_version = self.version
        return child

    def close(self) -> Any:
        """Validate the whole document with ``json.loads`` and return its exact value."""
        text = "".join(self._text)
        self._mode = _FAILED
        try:
            return json.loads(text, strict=self._strict, parse_constant=_refuse_constant)
        except ValueError as exc:
            start = text[:60] + ("..." if len(text) > 60 else "")
            raise ValueError(f"invalid JSON ({exc}) in {start!r}") from exc

    # ----------------------------------------------------------------------------- machinery

    def _consume(self, text: str) -> None:
        index, end = 0, len(text)
        while index < end:
            mode = self._mode
            if mode == _STRING:
                index = self._scan_string(text, index)
            elif mode == _NUMBER:
                index = self._scan_number(text, index)
            elif mode == _AFTER:
                index = self._after_value(text, index)
            elif mode <= _ARRAY_FIRST:
                index = self._value(text, index)
            elif mode == _DONE:
                index = _WS.match(text, index).end()  # type: ignore[union-attr]
                if index < end:
                    self._fail(text, index, "extra data after the JSON value")
            else:
                index = self._object_token(text, index)

    def _value(self, text: str, index: int) -> int:
        """Start the value at ``index`` (after whitespace); return where to continue."""
        index = _WS.match(text, index).end()  # type: ignore[union-attr]
        if index == len(text):
            return index
        char = text[index]
        if char == '"':
            self._pieces = []
            self._is_key = False
            self._mode = _STRING
            self.version += 1  # an empty string appears
            return index + 1
        if char == "{" or char == "[":
            self._stack.append({} if char == "{" else [])
            self._keys.append(None)
            self._mode = _OBJECT_FIRST if char == "{" else _ARRAY_FIRST
            self.version += 1
            return index + 1
        if char == "-" or "0" <= char <= "9":
            self._pieces = []
            self._mode = _NUMBER
            return index
        if char in _LITERALS:
            return self._literal(text, index)
        if char == "]" and self._mode == _ARRAY_FIRST:
            return self._close_container(text, index)
        self._fail(text, index, "expected a value")

    def _literal(self, text: str, index: int) -> int:
        word, value = _LITERALS[text[index]]
        got = text[index : index + len(word)]
        if got == word:
            self._add_value(value)
            self.version += 1
            return index + len(word)
        if index + len(got) == len(text) and word.startswith(got):
            self._carry = got  # wait for the rest of the word
            return len(text)
        self._fail(text, index, f"expected {word!r}")

    def _object_token(self, text: str, index: int) -> int:
        """Handle the modes between object tokens: a key (or ``}``) and the colon."""
        index = _WS.match(text, index).end()  # type: ignore[union-attr]
        if index == len(text):
            return index
        char, mode = text[index], self._mode
        if mode == _COLON:
            if char != ":":
                self._fail(text, index, "expected ':' after an object key")
            self._mode = _VALUE
            return index + 1
        if char == '"':
            self._pieces = []
            self._is_key = True
            self._mode = _STRING
            return index + 1
        if char == "}" and mode == _OBJECT_FIRST:
            return self._close_container(text, index)
        self._fail(text, index, "expected an object key in double quotes")

    def _after_value(self, text: str, index: int) -> int:
        index = _WS.match(text, index).end()  # type: ignore[union-attr]
        if index == len(text):
            return index
        char = text[index]
        if char == ",":
            self._mode = _KEY if type(self._stack[-1]) is dict else _VALUE
            return index + 1
        if char == "}" or char == "]":
            return self._close_container(text, index)
        self._fail(text, index, "expected ',' or a closing bracket")

    def _close_container(self, text: str, index: int) -> int:
        container = self._stack[-1]
        if (text[index] == "}") != (type(container) is dict):
            self._fail(text, index, "mismatched closing bracket")
        self._stack.pop()
        self._keys.pop()
        self._add_value(container)  # already visible: the version does not change
        return index + 1

    def _add_value(self, value: Any) -> None:
        """Attach a finished value to the open container (or make it the document's value)."""
        if self._stack:
            container = self._stack[-1]
            if type(container) is list:
                container.append(value)
            else:
                container[self._keys[-1]] = value  # type: ignore[index,call-overload]
            self._mode = _AFTER
        else:
            self._root = value
            self._mode = _DONE

    def _scan_number(self, text: str, index: int) -> int:
        end = _NUMBER_RUN.match(text, index).end()  # type: ignore[union-attr]
        if end > index:
            self._pieces.append(text[index:end])
        if end == len(text):
            return end  # the number may go on in the next delta
        number = "".join(self._pieces)
        match = _NUMBER_FULL.fullmatch(number)
        if match is None:
            self._fail(text, index, f"invalid number {number!r}")
        self._add_value(int(number) if match.lastindex is None else float(number))
        self.version += 1
        return end

    def _scan_string(self, text: str, index: int) -> int:
        """Consume string content; return the index after the closing quote or the text end."""
        end, run, pieces = len(text), self._run, self._pieces
        while True:
            stop = run.match(text, index).end()  # type: ignore[union-attr]
            if stop > index:
                if self._high:
                    pieces.append(self._high)
                    self._high = ""
                pieces.append(text[index:stop])
                if not self._is_key:
                    self.version += 1
            if stop == end:
                return end
            char = text[stop]
            if char == '"':
                self._finish_string()
                return stop + 1
            if char != "\\":
                self._fail(text, stop, "control character inside a string")
            index = self._escape(text, stop)
            if index == end:
                return end

    def _escape(self, text: str, index: int) -> int:
        """Decode the escape sequence at ``index`` (a backslash); return the index after it."""
        end = len(text)
        kind = text[index + 1 : index + 2]
        if kind == "u":
            digits = text[index + 2 : index + 6]
            if len(digits) < 4:
                if _HEX_PREFIX.fullmatch(digits) is None:
                    self._fail(text, index, "invalid \\u escape")
                self._carry = text[index:]  # finish it with the next delta
                return end
            if _HEX4.fullmatch(digits) is None:
                self._fail(text, index, "invalid \\u escape")
            self._add_code_point(int(digits, 16))
            return index + 6
        if not kind:
            self._carry = "\\"
            return end
        char = _ESCAPES.get(kind)
        if char is None:
            self._fail(text, index, "invalid escape")
        self._add_chars(char)
        return index + 2

    def _add_code_point(self, code: int) -> None:
        if 0xD800 <= code <= 0xDBFF:
            if self._high:
                self._add_chars("")  # the earlier high surrogate stays alone
            self._high = chr(code)
        elif 0xDC00 <= code <= 0xDFFF and self._high:
            high = ord(self._high)
            self._high = ""
            self._add_chars(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
        else:
            self._add_chars(chr(code))

    def _add_chars(self, chars: str) -> None:
        if self._high:
            self._pieces.append(self._high)
            self._high = ""
        self._pieces.append(chars)
        if not self._is_key:
            self.version += 1

    def _finish_string(self) -> None:
        if self._high:
            self._add_chars("")
        value = "".join(self._pieces)
        self._pieces = []
        if self._is_key:
            self._keys[-1] = value
            self._mode = _COLON
        else:
            self._add_value(value)

    def _in_string_value(self) -> bool:
        return self._mode == _STRING and not self._is_key

    def _string_so_far(self) -> str:
        pieces = self._pieces
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]  # later snapshots join less
        return pieces[0] if pieces else ""

    def _fail(self, text: str, index: int, reason: str) -> NoReturn:
        position = self._offset + index
        near = text[max(0, index - 20) : index + 20]
        raise ValueError(f"invalid JSON at character {position}: {reason}, near {near!r}")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


#: ``json.loads(text, strict=..., parse_constant=_refuse_constant)`` builds a decoder on every
#: call: the two kinds are made once.
_DECODERS = {
    flag: json.JSONDecoder(strict=flag, parse_constant=_refuse_constant) for flag in (True, False)
}


def parse_partial_json(text: str, *, strict: bool = True) -> Any:
    """Return the best-effort value of ``text``, a prefix of a JSON document.

    A complete document gives exactly what ``json.loads`` gives (a lone top-level number such
    as ``"12"`` is taken as complete here). A prefix holding no value yet (``""``, ``"  "``,
    ``"tr"``) gives ``None``, like the document ``null``: use
    :attr:`PartialJSONParser.has_value` to tell these apart. Raises ``ValueError`` for text that
    no continuation can make valid.

    Example::

        parse_partial_json('{"a": 1, "b": "hel')  # {'a': 1, 'b': 'hel'}
    """
    try:
        if type(text) is str and not text.startswith("\ufeff"):
            return _DECODERS[bool(strict)].decode(text)
        return json.loads(text, strict=strict, parse_constant=_refuse_constant)
    except ValueError:
        pass
    parser = PartialJSONParser(strict=strict)
    parser.advance(text)
    return parser.snapshot()
