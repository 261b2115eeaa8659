"""Output parsers: turn a model's streamed reply into text or into JSON values as it arrives.

Parsers are runnables of run type ``"parser"`` that transform their input stream chunk by chunk,
so ``prompt | model | StrOutputParser()`` streams text and ``... | JsonOutputParser()`` streams
partial objects while the model is still writing them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from tokentide.messages import BaseMessage
from tokentide.wire import NO_CHANGE, PartialJSONParser

from ._base import Accumulator, Runnable
from ._context import RunContext

__all__ = [
    "BaseOutputParser",
    "JsonOutputParser",
    "OutputParserException",
    "StrOutputParser",
]

#: How much of a bad reply an error message quotes.
_QUOTE = 200


class OutputParserException(ValueError):
    """The model's output could not be parsed. ``llm_output`` holds (the start of) that output.

    Example::

        try:
            data = (model | JsonOutputParser()).invoke("Reply in JSON")
        except OutputParserException as exc:
            print("bad reply:", exc.llm_output)
    """

    def __init__(self, message: str, *, llm_output: str | None = None) -> None:
        super().__init__(message)
        self.llm_output = llm_output


def text_of(value: Any, owner: str) -> str:
    """The text of a parser's input: a message's content, or a string."""
    if isinstance(value, BaseMessage):
        return value.content
    if isinstance(value, str):
        return value
    raise TypeError(
        f"{owner} expects a message or a string as input, got {type(value).__name__}: {value!r:.60}"
    )


class BaseOutputParser(Runnable[Any, Any]):
    """Base of output parsers: subclass and implement :meth:`parse` (whole text to value).

    A parser that can work on a stream overrides ``_transform``/``_atransform`` too; one that
    does not gets the whole reply, collected first.

    Example::

        class Upper(BaseOutputParser):
            def parse(self, text: str) -> str:
                return text.upper()

        (model | Upper()).invoke("hi")
    """

    run_type = "parser"

    def parse(self, text: str) -> Any:
        raise NotImplementedError(f"{type(self).__name__} implements no parse()")

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return self.parse(text_of(input, self.get_name()))

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return self._call(input, run, **kwargs)  # CPU-only and quick: no worker thread


class StrOutputParser(BaseOutputParser):
    """The text of each chunk: a message chunk gives its ``.content``, a string itself.

    Example::

        chain = prompt | model | StrOutputParser()
        for text in chain.stream({"topic": "cats"}):
            print(text, end="", flush=True)
    """

    def parse(self, text: str) -> str:
        return text

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[str]:
        yield text_of(input, "StrOutputParser")

    def _transform(self, inputs: Iterator[Any], run: RunContext, **kwargs: Any) -> Iterator[str]:
        for chunk in inputs:
            yield text_of(chunk, "StrOutputParser")

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[str]:
        async for chunk in inputs:
            yield text_of(chunk, "StrOutputParser")


# ---------------------------------------------------------------------------------- JSON

_START, _BODY, _PROSE = 0, 1, 2
_STRIP = " \t\r\n`"
_VALUE_START = frozenset('{["-0123456789')
_MAX_FENCE_HEADER = 64


class JsonTextStream:
    """Sans-I/O core of :class:`JsonOutputParser`: feeds model text to an incremental JSON
    parser, skipping a Markdown fence (```` ```json ... ``` ````) around the JSON.

    Every character is looked at a bounded number of times, so a whole reply costs O(n).
    Text before a fence is skipped; without a fence, the whole text must be JSON (trailing
    whitespace and backticks are ignored, as LangChain does).
    """

    __slots__ = ("_buffer", "_head", "_held", "_mode", "_prose", "_tail", "parser")

    def __init__(self) -> None:
        self.parser = PartialJSONParser()
        self._mode = _START
        self._buffer = ""  # START: the fence header so far (no leading whitespace)
        self._held: list[str] = []  # BODY: trailing whitespace/backticks not fed yet
        self._prose: list[str] = []  # PROSE: all text, in case no fence ever comes
        self._tail = ""  # PROSE: the last two characters, to find a fence split in two
        self._head: list[str] = []  # the start of the reply, for error messages

    def feed(self, text: str) -> Any:
        """Consume ``text``; return the new value, or ``NO_CHANGE``."""
        if len(self._head) < _QUOTE and text:
            self._head.append(text)
        try:
            return self._feed(text)
        except ValueError as exc:
            raise self._error(exc) from exc

    def close(self) -> Any:
        """The exact final value; raises :class:`OutputParserException` if it is not JSON."""
        try:
            if self._mode == _PROSE:
                self.parser = PartialJSONParser()
                self.parser.advance("".join(self._prose).strip(_STRIP))
            elif self._mode == _START:
                raise ValueError("the reply holds no JSON")
            return self.parser.close()
        except ValueError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: ValueError) -> OutputParserException:
        head = "".join(self._head)
        quote = head[:_QUOTE] + ("..." if len(head) > _QUOTE else "")
        return OutputParserException(f"Invalid json output ({exc}): {quote!r}", llm_output=head)

    def _feed(self, text: str) -> Any:
        if self._mode == _BODY:
            return self._body(text)
        if self._mode == _PROSE:
            return self._prose_text(text)
        return self._start(text)

    def _start(self, text: str) -> Any:
        buffer = (self._buffer + text).lstrip(" \t\r\n") if self._buffer else text.lstrip()
        self._buffer = buffer
        if not buffer:
            return NO_CHANGE
        if buffer[0] in _VALUE_START:
            self._mode, self._buffer = _BODY, ""
            return self._body(buffer)
        if not buffer.startswith("```"[: len(buffer)]):
            self._mode, self._buffer = _PROSE, ""
            return self._prose_text(buffer)
        if len(buffer) < 3:
            return NO_CHANGE
        rest = buffer[3:]
        newline = rest.find("\n")
        brace = next((i for i, c in enumerate(rest) if c in "{["), -1)
        if newline < 0 and brace < 0:
            if len(rest) > _MAX_FENCE_HEADER:  # not a fence header: read on as prose
                self._mode, self._buffer = _PROSE, ""
                return self._prose_text(rest)
            return NO_CHANGE  # the info string (```json) is still arriving
        cut = newline + 1 if newline >= 0 and (brace < 0 or newline < brace) else brace
        self._mode, self._buffer = _BODY, ""
        return self._body(rest[cut:])

    def _body(self, text: str) -> Any:
        stripped = text.rstrip(_STRIP)
        if not stripped:
            if text:
                self._held.append(text)
            return NO_CHANGE
        trailing = text[len(stripped) :]
        if self._held:
            stripped = "".join(self._held) + stripped
            self._held.clear()
        if trailing:
            self._held.append(trailing)
        return self.parser.feed(stripped)

    def _prose_text(self, text: str) -> Any:
        self._prose.append(text)
        window = self._tail + text
        at = window.find("```")
        if at < 0:
            self._tail = window[-2:]
            return NO_CHANGE
        # A fence opens: parse what follows it.
        self._mode, self._tail, self._prose = _START, "", []
        return self._start(window[at:])


class JsonOutputParser(BaseOutputParser):
    """Parse a JSON reply, streaming the partial value as it grows.

    While the model writes ``{"name": "Ada", "langs": ["en", "fr"]}``, ``stream`` yields
    ``{}``, ``{"name": ""}``, ``{"name": "Ad"}``, ... : a new value only when it changed. Each
    chunk of text is parsed once (total work linear in the reply). A reply wrapped in a
    Markdown code fence is unwrapped. ``invoke`` returns the final value; a reply that is not
    valid JSON raises :class:`OutputParserException` (when streaming: at the first bad
    character, or at the end if the JSON is unfinished).

    Yielded values share their finished parts with later ones: treat them as read-only.

    Example::

        chain = prompt | model | JsonOutputParser()
        for partial in chain.stream({"topic": "cats"}):
            print(partial)
    """

    def __init__(self, *, diff: bool = False, name: str | None = None) -> None:
        if diff:
            raise ValueError("JsonOutputParser(diff=True) is not supported; use diff=False")
        self.diff = diff
        self.name = name

    def parse(self, text: str) -> Any:
        stream = JsonTextStream()
        stream.feed(text)
        return stream.close()

    def _output_accumulator(self) -> Accumulator:
        # Each chunk is the whole value so far: the run's output is the last one.
        return Accumulator(last_wins=True)

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[Any]:
        yield self.parse(text_of(input, self.get_name()))

    def _transform(self, inputs: Iterator[Any], run: RunContext, **kwargs: Any) -> Iterator[Any]:
        stream = JsonTextStream()
        last: Any = NO_CHANGE
        for chunk in inputs:
            value = stream.feed(text_of(chunk, self.get_name()))
            if value is not NO_CHANGE and value is not None:
                last = value
                yield value
        final = stream.close()
        if last is NO_CHANGE or final != last:
            yield final

    async def _atransform(
        self, inputs: AsyncIterator[Any], run: RunContext, **kwargs: Any
    ) -> AsyncIterator[Any]:
        stream = JsonTextStream()
        last: Any = NO_CHANGE
        async for chunk in inputs:
            value = stream.feed(text_of(chunk, self.get_name()))
            if value is not NO_CHANGE and value is not None:
                last = value
                yield value
        final = stream.close()
        if last is NO_CHANGE or final != last:
            yield final
