"""`astream_events`: LangChain "v2" event dicts for a run and every run nested in it.

A sink attached to a scope turns each run's life into event dicts and puts them into a bounded
channel; the events are handed to the consumer from that channel. The run itself executes in a
producer task that the consumer owns: leaving the ``async for`` early cancels it, which closes
every stream under it (model generation, HTTP responses).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from ._base import NO_INPUT, aclose_if_closable
from ._channel import CLOSED, TIMED_OUT, Channel, ChannelClosed
from ._config import RunnableConfig
from ._context import PARENT_KEY, RunContext, enter_run, resolve_parent
from ._sink import RunSink

if TYPE_CHECKING:
    from ._base import Runnable

__all__ = [
    "EventFilter",
    "EventStreamSink",
    "StreamEvent",
    "adispatch_custom_event",
    "dispatch_custom_event",
    "stream_events",
]

#: How many events may wait for a slow consumer before producers are paused.
EVENT_BUFFER = 1024


class StreamEvent(TypedDict, total=False):
    """One event of ``astream_events(version="v2")`` (same keys as LangChain's)."""

    event: str
    data: dict[str, Any]
    run_id: str
    name: str
    tags: list[str]
    metadata: dict[str, Any]
    parent_ids: list[str]


@dataclass(frozen=True)
class EventFilter:
    """Which runs' events to keep (LangChain's include/exclude semantics)."""

    include_names: frozenset[str] | None = None
    include_types: frozenset[str] | None = None
    include_tags: frozenset[str] | None = None
    exclude_names: frozenset[str] | None = None
    exclude_types: frozenset[str] | None = None
    exclude_tags: frozenset[str] | None = None

    @classmethod
    def make(cls, *lists: Sequence[str] | None) -> EventFilter | None:
        if not any(lists):
            return None
        for values in lists:
            if isinstance(values, str):
                raise TypeError(f"event filters take lists of strings, got the string {values!r}")
        sets = [frozenset(v) if v else None for v in lists]
        return cls(*sets)

    def allows(self, name: str, run_type: str, tags: Sequence[str]) -> bool:
        include = True
        if self.include_names or self.include_types or self.include_tags:
            include = bool(
                (self.include_names and name in self.include_names)
                or (self.include_types and run_type in self.include_types)
                or (self.include_tags and not self.include_tags.isdisjoint(tags))
            )
        if not include:
            return False
        if self.exclude_names and name in self.exclude_names:
            return False
        if self.exclude_types and run_type in self.exclude_types:
            return False
        return not (self.exclude_tags and not self.exclude_tags.isdisjoint(tags))


_NAMES: dict[str, tuple[str, str, str]] = {}


def _names(run_type: str) -> tuple[str, str, str]:
    names = _NAMES.get(run_type)
    if names is None:
        names = _NAMES[run_type] = (
            f"on_{run_type}_start",
            f"on_{run_type}_stream",
            f"on_{run_type}_end",
        )
    return names


class EventStreamSink(RunSink):
    """Builds v2 event dicts and puts them into a bounded channel."""

    __slots__ = ("channel", "filter")
    streams_tokens = True

    def __init__(self, channel: Channel[StreamEvent], event_filter: EventFilter | None) -> None:
        self.channel = channel
        self.filter = event_filter

    @property
    def backlogged(self) -> bool:
        return self.channel.full

    async def drained(self) -> None:
        await self.channel.wait_room()

    def _visible(self, run: RunContext) -> bool:
        state = run.sink_state
        if state is None:
            state = self._first_sight(run)
        return state is not False

    def _first_sight(self, run: RunContext) -> StreamEvent | bool:
        """This sink's state of ``run`` (``run.sink_state``), made on the run's first event:
        ``False`` if the filter hides the run, else the template of its stream events (all
        but ``data``), so that each chunk costs one dict copy."""
        flt = self.filter
        state: StreamEvent | bool = False
        if flt is None or flt.allows(run.name, run.run_type, run.tags):
            state = self._event(run, _names(run.run_type)[1], {})
        run.sink_state = state
        return state

    def _event(self, run: RunContext, event: str, data: dict[str, Any]) -> StreamEvent:
        return {
            "event": event,
            "data": data,
            "run_id": run.run_id,
            "name": run.name,
            "tags": run.tags,
            "metadata": run.metadata,
            "parent_ids": run.parent_ids,
        }

    def on_start(self, run: RunContext, input: Any) -> None:
        if self._visible(run):
            data = {} if input is NO_INPUT else {"input": input}
            self.channel.put(self._event(run, _names(run.run_type)[0], data))

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        template = run.sink_state
        if template is None:
            template = self._first_sight(run)
        if template is not False:
            event = template.copy()
            event["data"] = {"chunk": chunk}
            self.channel.put(event)

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        if self._visible(run):
            data = {"output": output} if input is NO_INPUT else {"output": output, "input": input}
            self.channel.put(self._event(run, _names(run.run_type)[2], data))

    def on_error(self, run: RunContext, error: BaseException) -> None:
        # As LangChain v2: only tool runs report their errors as events (``on_tool_error``).
        if run.run_type == "tool" and self._visible(run):
            data = {
                "error": error,
                "input": run.extra.get("tool_input"),
                "tool_call_id": run.extra.get("tool_call_id"),
            }
            self.channel.put(self._event(run, "on_tool_error", data))

    def on_custom(self, run: RunContext, name: str, data: Any) -> None:
        flt = self.filter
        if flt is None or flt.allows(name, "custom", run.tags):
            event = self._event(run, "on_custom_event", data)
            event["name"] = name
            self.channel.put(event)


async def stream_events(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None,
    version: str,
    event_filter: EventFilter | None,
    kwargs: dict[str, Any],
) -> AsyncIterator[StreamEvent]:
    """Run ``runnable.astream`` in a producer task and yield the events its runs emit."""
    if version not in ("v2", "v1"):
        raise ValueError(
            f"astream_events supports version='v2' and the older 'v1' (got {version!r})"
        )
    v1 = version == "v1"
    if config and PARENT_KEY in config:
        config = {k: v for k, v in config.items() if k != PARENT_KEY}  # type: ignore[assignment]
    channel: Channel[StreamEvent] = Channel(EVENT_BUFFER)
    sink = EventStreamSink(channel, event_filter)
    scope = RunContext("", "scope", sink=sink)

    async def produce() -> None:
        enter_run(scope)  # this task's own context copy
        stream = runnable.astream(input, config, **kwargs)
        try:
            async for _ in stream:
                pass
        except ChannelClosed:
            pass
        except BaseException as exc:
            channel.close(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            channel.close()
        finally:
            await aclose_if_closable(stream)

    task = asyncio.ensure_future(produce())
    first_run: str | None = None
    try:
        while (batch := await channel.atake()) is not CLOSED:
            assert batch is not TIMED_OUT
            for event in batch:
                # As LangChain: the first event shown carries the input given to
                # astream_events (a model called directly reports "hello", not its messages),
                # and the end event of that run carries no input (the first event has it).
                if first_run is None:
                    first_run = event["run_id"]
                    if isinstance(event["data"], dict):
                        event["data"] = {**event["data"], "input": input}
                elif event["run_id"] == first_run and event["event"].endswith("_end"):
                    event["data"].pop("input", None)
                yield _as_v1(event, first_run) if v1 else event
    finally:
        if not task.done():
            channel.cancel()
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise


def _as_v1(event: StreamEvent, root: str) -> StreamEvent:
    """A v2 event in LangChain's "v1" shape: no ``parent_ids``; a nested model's end output is
    an ``LLMResult`` dict (a chat model's with one ``ChatGenerationChunk``); the root
    completion model's end output is its text."""
    event["parent_ids"] = []
    kind = event["event"]
    if kind == "on_chat_model_end" and event["run_id"] != root:
        data = event["data"]
        data["output"] = _chat_result_v1(data["output"])
    elif kind == "on_llm_end":
        data = event["data"]
        output = data["output"]
        if event["run_id"] == root:
            data["output"] = output["generations"][0][0]["text"]
        else:
            data["output"] = {**output, "run": None, "type": "LLMResult"}
    return event


def _chat_result_v1(message: Any) -> dict[str, Any]:
    content = getattr(message, "content", "")
    generation = {
        "text": content if isinstance(content, str) else "",
        "generation_info": dict(getattr(message, "response_metadata", None) or {}) or None,
        "type": "ChatGenerationChunk",
        "message": message,
    }
    return {"generations": [[generation]], "llm_output": None, "run": None, "type": "LLMResult"}


def _custom_target(config: RunnableConfig | None) -> RunContext:
    run = resolve_parent(config)
    if run is None or run.run_type == "scope":
        raise RuntimeError(
            "dispatch_custom_event() must be called from code running inside a runnable "
            "(a RunnableLambda, a graph node, a tool); no current run was found"
        )
    return run


def dispatch_custom_event(name: str, data: Any, *, config: RunnableConfig | None = None) -> None:
    """Send a custom event to whoever streams the enclosing run (``on_custom_event``).

    No ``config`` is needed, in sync or async code, on every supported Python version.

    Example::

        def step(x):
            dispatch_custom_event("progress", {"done": 0.5})
            return x
    """
    run = _custom_target(config)
    sink = run.sink
    if sink is not None:
        sink.on_custom(run, name, data)


async def adispatch_custom_event(
    name: str, data: Any, *, config: RunnableConfig | None = None
) -> None:
    """Async :func:`dispatch_custom_event` (waits if the consumer is behind)."""
    run = _custom_target(config)
    sink = run.sink
    if sink is not None:
        sink.on_custom(run, name, data)
        if sink.backlogged:
            await sink.drained()
