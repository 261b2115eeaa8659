"""Runtime layer: runnables, composition, run context, sinks, the run observer, the thread/loop
channel and event streams.

The public names for users live in :mod:`tokentide.runnables`, :mod:`tokentide.prompts` and
:mod:`tokentide.output_parsers`. This package's ``__all__`` is the *documented-internal*
interface of the runtime for the layers above it (models, tools, graph, server, ...): they
import these names from ``tokentide.runtime``, never from its private modules, and never a
``_private`` name. Each name is documented where it is defined:

- runs: :class:`RunContext`, :func:`new_run`, :func:`current_run`, :func:`enter_run` /
  :func:`leave_run` (user code runs under its run; ``RunToken``), :func:`set_observer`,
  :func:`handler_in_context`, ``LOCAL_TAGS_KEY``;
- reporting a run: :class:`RunSink` (:func:`may_backlog`: whether a sink can ever make a
  producer wait), :class:`RunObserver` and its early-exit policy (:func:`left_early`), the
  ``run.extra`` keys ``CLOSED_EARLY``, ``INVOKED``, ``AGENT_RUN``;
- hand-offs: :class:`Channel` (``CLOSED``, ``TIMED_OUT``, :class:`ChannelClosed`),
  :func:`stream_from_thread`, :func:`run_sync_in_thread`, :func:`aclose_if_closable`,
  :func:`wait_within` (``asyncio.wait_for`` that never loses a cancellation);
- runnables and config: :class:`Runnable`, :class:`RunnableBinding`, :class:`RunnableLambda`,
  :class:`RunnableConfig`, :func:`ensure_config`, :func:`merge_configs`, ``NO_INPUT``;
- events: ``StreamEvent``, :func:`dispatch_custom_event`, :func:`adispatch_custom_event`;
- prompts: :func:`get_buffer_string`.
"""

from ._base import NO_INPUT, Runnable, RunnableBinding, aclose_if_closable, run_sync_in_thread
from ._channel import CLOSED, TIMED_OUT, Channel, ChannelClosed, stream_from_thread
from ._compose import RunnableLambda
from ._config import RunnableConfig, ensure_config, merge_configs
from ._context import (
    LOCAL_TAGS_KEY,
    RunContext,
    RunToken,
    current_run,
    enter_run,
    handler_in_context,
    leave_run,
    new_run,
    set_observer,
)
from ._events import StreamEvent, adispatch_custom_event, dispatch_custom_event
from ._observer import RunObserver, left_early
from ._prompts import get_buffer_string
from ._sink import AGENT_RUN, CLOSED_EARLY, INVOKED, RunSink, may_backlog
from ._timeouts import wait_within

__all__ = [
    "AGENT_RUN",
    "CLOSED",
    "CLOSED_EARLY",
    "INVOKED",
    "LOCAL_TAGS_KEY",
    "NO_INPUT",
    "TIMED_OUT",
    "Channel",
    "ChannelClosed",
    "Runnable",
    "RunnableBinding",
    "RunnableConfig",
    "RunnableLambda",
    "RunContext",
    "RunObserver",
    "RunSink",
    "may_backlog",
    "RunToken",
    "StreamEvent",
    "aclose_if_closable",
    "adispatch_custom_event",
    "current_run",
    "dispatch_custom_event",
    "enter_run",
    "ensure_config",
    "get_buffer_string",
    "handler_in_context",
    "leave_run",
    "left_early",
    "merge_configs",
    "new_run",
    "run_sync_in_thread",
    "set_observer",
    "stream_from_thread",
    "wait_within",
]
