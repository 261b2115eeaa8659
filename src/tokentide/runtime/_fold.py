"""Folding streamed chunks into one value, and the input stream of an observed transform run.

A non-streaming step folds the stream it gets into one input; an observed run folds its output
chunks for its end event. Strings join once, message chunks and :class:`AddableDict` chunks
merge with ``+``, anything else: the last chunk wins (as LangChain).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tokentide.messages import AIMessageChunk, ChunkAccumulator

if TYPE_CHECKING:
    from ._context import RunContext

__all__ = ["NO_INPUT", "Accumulator", "AddableDict", "InputTap", "add_dicts", "fold"]


class _NoInput:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_INPUT"


#: Marks a run whose input arrives as a stream (not known when the run starts).
NO_INPUT: Any = _NoInput()


class Accumulator:
    """Folds a run's output chunks into its final output for ``on_end`` (only when listened to).

    Strings are collected in a list and joined once (linear); other values use ``+`` when the
    type supports it (message chunks merge in amortized linear time; :class:`AddableDict`
    chunks merge key by key), else the last one wins (plain dicts, as in LangChain).
    ``last_wins=True`` is for streams whose every chunk is the whole value so far.
    A stream of ``AIMessageChunk``s is folded by a ``ChunkAccumulator`` (the rules of ``+``
    without building a merged chunk per token).
    """

    __slots__ = ("_chunks", "_last_wins", "_parts", "_value")

    def __init__(self, *, last_wins: bool = False) -> None:
        self._value: Any = NO_INPUT
        self._parts: list[str] | None = None
        self._chunks: ChunkAccumulator | None = None
        self._last_wins = last_wins

    def add(self, chunk: Any) -> None:
        # The common cases first (a stream of text, a stream of message chunks); the states
        # "parts", "chunks" and "value" exclude one another, and last_wins uses only "value".
        parts = self._parts
        if parts is not None and isinstance(chunk, str):
            parts.append(chunk)
            return
        chunks = self._chunks
        if chunks is not None and type(chunk) is AIMessageChunk:
            chunks.add(chunk)
            return
        if self._last_wins:
            self._value = chunk
            return
        if chunks is not None:  # a chunk of another kind after message chunks
            self._value = chunks.result()
            self._chunks = None
        elif parts is not None:  # something else than text after text
            self._value = "".join(parts)
            self._parts = None
        value = self._value
        if value is NO_INPUT:
            if isinstance(chunk, str):
                self._parts = [chunk]
            elif type(chunk) is AIMessageChunk:
                self._chunks = ChunkAccumulator()
                self._chunks.add(chunk)
            else:
                self._value = chunk
            return
        try:
            self._value = value + chunk
        except TypeError:
            self._value = chunk

    def result(self, default: Any = None) -> Any:
        if self._chunks is not None:
            return self._chunks.result()
        if self._parts is not None:
            return "".join(self._parts)
        return default if self._value is NO_INPUT else self._value


class AddableDict(dict[str, Any]):
    """A streamed dict chunk that merges with ``+`` (the chunks of a parallel map).

    ``AddableDict(a="x") + AddableDict(a="y", b=1) == {"a": "xy", "b": 1}``.
    """

    def __add__(self, other: Any) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        return AddableDict(add_dicts(self, other))

    def __radd__(self, other: Any) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        return AddableDict(add_dicts(other, self))


def add_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Merge two streamed dict chunks: new keys are added, values of shared keys are added
    with ``+`` when they support it (else the right one wins)."""
    merged = dict(left)
    for key, value in right.items():
        if key in merged and merged[key] is not None and value is not None:
            try:
                merged[key] = merged[key] + value
            except TypeError:
                merged[key] = value
        else:
            merged[key] = value
    return merged


def fold(chunks: Sequence[Any]) -> Any:
    """Fold a streamed input into one value (how a non-streaming step sees a streamed input)."""
    acc = Accumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.result()


class InputTap:
    """The input stream of a transform run that someone listens to.

    As LangChain does, the run starts (``on_start``, without input) when its first input chunk
    arrives, and its end event carries the whole input, folded. Unobserved runs never get one.
    """

    __slots__ = ("acc", "inputs", "run", "started")

    def __init__(self, inputs: Any, run: RunContext) -> None:
        self.inputs = inputs
        self.run = run
        self.acc = Accumulator()
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.started = True
            sink = self.run.sink
            if sink is not None:
                sink.on_start(self.run, NO_INPUT)

    def __iter__(self) -> InputTap:
        return self

    def __next__(self) -> Any:
        chunk = next(self.inputs)
        if not self.started:
            self.start()
        self.acc.add(chunk)
        return chunk

    def __aiter__(self) -> InputTap:
        return self

    async def __anext__(self) -> Any:
        chunk = await self.inputs.__anext__()
        if not self.started:
            self.start()
        self.acc.add(chunk)
        return chunk
