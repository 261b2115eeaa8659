"""Sinks: who listens to runs.

A sink is attached to a scope; every run under that scope reports its life to it with typed
calls. A sink never calls back into the producer: it builds what its consumer wants (event
dicts, ``(chunk, metadata)`` tuples) and puts it into a bounded channel
(:class:`~tokentide.runtime._channel.Channel`, the runtime's one hand-off, re-exported here
as ``Channel`` and, for thread-to-thread use, ``SyncChannel``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._channel import Channel, ChannelClosed

if TYPE_CHECKING:
    from ._context import RunContext

__all__ = [
    "AGENT_RUN",
    "CLOSED_EARLY",
    "INVOKED",
    "Channel",
    "ChannelClosed",
    "RunSink",
    "SyncChannel",
    "may_backlog",
]

#: ``run.extra`` key set (to ``True``) on a run whose consumer left before it finished
#: (``break``, ``aclose()``, cancellation), before its ``on_end``: observers mark it cancelled.
CLOSED_EARLY = "tokentide.closed_early"
#: ``run.extra`` key set on a model run made by ``invoke`` (not ``stream``), when listened to.
INVOKED = "tokentide.invoked"
#: ``run.extra`` key set on the run of a graph (an agent): observers give it an agent span.
AGENT_RUN = "tokentide.agent_run"

#: The thread-to-thread hand-off: the same :class:`Channel` (its blocking ``take`` returns a
#: list of items, ``CLOSED`` or ``TIMED_OUT``).
SyncChannel = Channel


class RunSink:
    """Receives the life of every run under the scope it is attached to. All no-ops here.

    Producers on the event loop check :attr:`backlogged` after a call and ``await
    drained()`` when it is true; producers on other threads are blocked inside the call.
    """

    __slots__ = ()

    @property
    def streams_tokens(self) -> bool:
        """Whether this sink (or one behind it) hands a model's tokens to a consumer: then a
        model's ``invoke`` reports its tokens to callback handlers too (LangChain streams a
        model called inside ``astream_events`` or a graph's ``messages`` mode)."""
        return False

    @property
    def wants_chain_runs(self) -> bool:
        """Whether this sink (or one behind it) reports chain runs: the runs that exist only
        to be reported (a graph's conditional edge, an agent's inner function, as LangGraph
        reports them) are made only then, never for a sink that watches models alone."""
        return True

    @property
    def backlogged(self) -> bool:
        return False

    async def drained(self) -> None:
        return None

    def on_start(self, run: RunContext, input: Any) -> None:
        """A run started; ``input`` is ``NO_INPUT`` when it arrives as a stream."""

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        """A run produced one output chunk."""

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        """A run finished (or was closed early: ``output`` is then what it produced so far)."""

    def on_error(self, run: RunContext, error: BaseException) -> None:
        """A run raised."""

    def on_custom(self, run: RunContext, name: str, data: Any) -> None:
        """User code dispatched a custom event."""


def may_backlog(sink: Any) -> bool:
    """Whether ``sink`` can ever be `RunSink.backlogged` (its class overrides the property):
    a per-token loop asks once, then skips the check for the sinks that never backlog."""
    return getattr(type(sink), "backlogged", None) is not RunSink.backlogged
