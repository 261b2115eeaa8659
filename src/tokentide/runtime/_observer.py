"""The life of one run, sans-I/O: what the run's sink hears, decided in one place.

Every kind of run (a runnable's ``invoke`` / ``stream``, a chat model, a completion model, a
graph, and tool runs to come) is a short sync loop and a short async loop around a
:class:`RunObserver`. The shell tells it what happened (``start``, each ``chunk``, ``finished``
or ``stopped`` with the exception that ended the loop); the observer owns the output
accumulator and makes the sink calls. It performs no I/O and never waits: an async shell asks
:attr:`RunObserver.backlogged` and awaits ``drained()`` itself.

**The early-exit policy** (one for every kind of run). The consumer of a stream *leaves early*
when it stops reading before the end: ``break`` out of a ``for`` loop (and the stream is closed
or collected), ``close()`` / ``aclose()``, cancellation of the task that reads it (an HTTP
disconnect reaches a run this way), Ctrl-C (``KeyboardInterrupt``), or the consumer of a
channel that the run writes to going away (``ChannelClosed``). Then:

1. the shell first closes what produces the chunks (so a model stops generating and settles
   the usage it knows);
2. the run is marked ``run.extra[CLOSED_EARLY] = True`` (observers mark the span cancelled);
3. the run gets its **end** event (``on_end``, never ``on_error``) whose output is what it
   produced until it stopped: the fold of the chunks so far (a model's partial message with
   the usage so far, exact or estimated; a completion's text so far; a graph's state values so
   far; ``None`` for a call that had produced nothing);
4. the exception that ended the loop goes on unchanged (a sink call that fails because its
   own consumer left too is ignored).

Any other exception is a **failure**: the run gets ``on_error`` with it (after the first chunk
of a model, a ``StreamError`` carrying the partial output), and it goes on. A run that ends
normally gets ``on_end`` with its output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._channel import ChannelClosed
from ._fold import NO_INPUT, Accumulator, InputTap
from ._sink import CLOSED_EARLY

if TYPE_CHECKING:
    from ._context import RunContext

__all__ = ["LEFT_EARLY", "Folder", "RunObserver", "left_early"]

#: The exceptions by which a consumer leaves a stream early (see the module's policy).
LEFT_EARLY: tuple[type[BaseException], ...] = (
    GeneratorExit,
    asyncio.CancelledError,
    KeyboardInterrupt,
    ChannelClosed,
)

_NOTHING: Any = object()


def left_early(exc: BaseException) -> bool:
    """Whether ``exc`` means the consumer left (rather than that the run failed)."""
    return isinstance(exc, LEFT_EARLY)


class Folder(Protocol):
    """Anything that folds a run's output chunks (``Accumulator``, ``ChunkAccumulator``)."""

    def add(self, chunk: Any, /) -> None: ...

    def result(self) -> Any: ...


class RunObserver:
    """Receives the life of one run that someone listens to and reports it to its sink.

    ``acc``: folds the output chunks (default: the runnable's accumulator); ``own=False``
    when the producer fills it already (a model's ``ChunkAccumulator``), so chunks are not
    folded twice. ``tap``: the input stream of a transform run (the run starts when its first
    input chunk arrives, and its end event carries the folded input).

    Example (a sync shell)::

        obs = RunObserver(run, input, Accumulator())
        obs.start()
        try:
            for chunk in chunks:
                obs.chunk(chunk)
                yield chunk
        except BaseException as exc:
            obs.stopped(exc)
            raise
        obs.finished()
    """

    __slots__ = ("_acc", "_tap", "fold", "input", "run", "sink")

    def __init__(
        self,
        run: RunContext,
        input: Any,
        acc: Folder | None = None,
        *,
        own: bool = True,
        tap: InputTap | None = None,
    ) -> None:
        sink = run.sink
        assert sink is not None, "a RunObserver is made only for a run someone listens to"
        self.run = run
        self.sink = sink
        self.input = input
        self._acc: Folder = Accumulator() if acc is None else acc
        #: What :meth:`chunk` does with a chunk before the sink hears it: fold it (``None``
        #: when the producer folds it already). A shell may inline :meth:`chunk` with it.
        self.fold: Callable[[Any], None] | None = self._acc.add if own else None
        self._tap = tap

    @property
    def backlogged(self) -> bool:
        """Whether an async shell should ``await drained()`` before going on."""
        return self.sink.backlogged

    async def drained(self) -> None:
        await self.sink.drained()

    def start(self) -> None:
        """The run started (a transform run starts with its first input chunk instead)."""
        if self._tap is None:
            self.sink.on_start(self.run, self.input)

    def chunk(self, chunk: Any) -> None:
        """The run produced one output chunk (O(1): fold it, start a transform run on its
        first chunk, tell the sink). The shells of ``Runnable`` inline these steps, with
        :attr:`fold` and ``sink.on_stream``."""
        fold = self.fold
        if fold is not None:
            fold(chunk)
        tap = self._tap
        if tap is not None and not tap.started:
            tap.start()
        self.sink.on_stream(self.run, chunk)

    def finished(self, output: Any = _NOTHING) -> None:
        """The run ended normally: ``output``, or the fold of its chunks."""
        self.sink.on_end(self.run, self._output(output), self._input())

    def stopped(self, exc: BaseException, output: Any = _NOTHING) -> None:
        """The loop ended with ``exc``: the consumer left (end event, output so far) or the
        run failed (error event). The caller re-raises ``exc``."""
        if not left_early(exc):
            if self._tap is not None:
                self._tap.start()
            self.sink.on_error(self.run, exc)
            return
        self.run.extra[CLOSED_EARLY] = True
        try:
            self.finished(output)
        except ChannelClosed:
            pass  # the sink's own consumer left as well: nobody is there to tell

    def _output(self, output: Any) -> Any:
        return self._acc.result() if output is _NOTHING else output

    def _input(self) -> Any:
        tap = self._tap
        if tap is None:
            return self.input
        tap.start()
        return tap.acc.result(NO_INPUT)
