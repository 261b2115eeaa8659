"""`CompiledStateGraph`: a graph ready to run, with LangGraph's ``invoke``/``stream`` API.

Streams are produced by a producer (a task on the loop, or a driver thread for the sync
``stream()``) and handed to the consumer through a bounded channel; leaving the loop early
cancels the producer, which closes the model streams under it.

Every shell (``invoke``, ``ainvoke``, ``stream``, ``astream``) reports the graph's run through a
:class:`~tokentide.runtime.RunObserver`, so a graph follows the runtime's one
early-exit policy: the items it yields are its chunks, its state is its output, and a consumer
that leaves early (``break``, ``aclose()``, cancellation, Ctrl-C) first stops the producer, then
the run gets its end event (marked closed early) with the state reached so far.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tokentide.errors import GraphInterrupt
from tokentide.runtime import (
    AGENT_RUN,
    CLOSED,
    TIMED_OUT,
    Channel,
    ChannelClosed,
    RunContext,
    Runnable,
    RunnableConfig,
    RunObserver,
    left_early,
)

from ._checkpointing import Saving
from ._loop import GraphRun, run_async, run_sync
from ._resume import is_resuming, prepare_resume
from ._run_options import check_run_options
from ._scheduler import GraphSpec, Scheduler
from ._state_api import ThreadState, scheduler_at
from ._stream import GraphOutput, GraphSink, task_scope

if TYPE_CHECKING:
    from tokentide.checkpoint import BaseCheckpointSaver, CheckpointTuple

__all__ = ["CompiledStateGraph"]

#: Items that may wait between the running nodes and a slow consumer.
STREAM_BUFFER = 256

_NO_OUTPUT = GraphOutput(None, ())


def _parse_modes(stream_mode: str | Sequence[str] | None) -> tuple[tuple[str, ...], bool]:
    if stream_mode is None:
        return ("updates",), False
    if isinstance(stream_mode, str):
        return (stream_mode,), False
    return tuple(stream_mode), True


#: Key of ``RunContext.extra`` holding a run's ``interrupt_before`` / ``interrupt_after``.
_RUN_OPTIONS = "tokentide.graph.run_options"


def _set_options(run: RunContext, before: Any, after: Any) -> None:
    if before or after:
        run.extra[_RUN_OPTIONS] = {"interrupt_before": before, "interrupt_after": after}


def _nested_thread(run: RunContext) -> tuple[Any, dict[str, Any], bool, dict[str, str]] | None:
    """A subgraph run by a task of a graph with a checkpointer: that checkpointer, the config
    of the subgraph's own thread (the task's namespace), and whether the task is resuming
    (the subgraph then continues from its saved state instead of starting again)."""
    scope = task_scope(run.parent)
    if scope is None or scope.saver is None:
        return None
    conf = {"configurable": {"thread_id": scope.thread_id, "checkpoint_ns": scope.ns}}
    return scope.saver, conf, scope.task.resuming, scope.parents


def _observer(run: RunContext, input: Any) -> RunObserver | None:
    """The started observer of a graph run someone listens to (``None`` otherwise). Its output
    is always given (the state), so it folds no chunks."""
    if run.sink is None:
        return None
    obs = RunObserver(run, input, own=False)
    obs.start()
    return obs


def _values(g: GraphRun | None) -> dict[str, Any] | None:
    """A graph run's state so far (``None`` before the run was prepared)."""
    return None if g is None else dict(g.sched.values)


def _fresh(input: Any) -> Any:
    """The input of a new run, or ``None`` when ``input`` continues a saved one."""
    return None if is_resuming(input) else input


class CompiledStateGraph(ThreadState, Runnable[Any, dict[str, Any]]):
    """A compiled :class:`StateGraph`: run it with ``invoke``/``ainvoke``, stream it with
    ``stream``/``astream`` (``stream_mode`` ``"values"``, ``"updates"``, ``"messages"``,
    ``"custom"``, ``"debug"``, ``"tasks"``, ``"tools"`` or a list of them), observe it with
    ``astream_events``. Use it as a node of another graph to make a subgraph.

    Example::

        graph = StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()
        for chunk, metadata in graph.stream({"messages": [("user", "hi")]},
                                            stream_mode="messages"):
            print(chunk.content, end="", flush=True)
    """

    def __init__(
        self,
        spec: GraphSpec,
        *,
        checkpointer: BaseCheckpointSaver | None = None,
        name: str = "LangGraph",
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
    ) -> None:
        self.spec = spec
        self.checkpointer = checkpointer
        self.name = name
        #: Stop before / after these nodes run (``"*"``: every node); resume with ``None``.
        self.interrupt_before_nodes: Sequence[str] | str = interrupt_before or ()
        self.interrupt_after_nodes: Sequence[str] | str = interrupt_after or ()
        #: The :class:`StateGraph` this graph was compiled from (as LangGraph's ``builder``).
        self.builder: Any = None

    @property
    def nodes(self) -> dict[str, Any]:
        return {name: node.action for name, node in self.spec.nodes.items()}

    # ------------------------------------------------------------------ preparing a run

    def _new_run(self, config: RunnableConfig | None) -> RunContext:
        run = super()._new_run(config)
        if run.sink is not None:
            run.extra[AGENT_RUN] = True  # observers see a graph run as an agent run
        return run

    def _nesting(self, run: RunContext) -> tuple[GraphOutput, tuple[str, ...]] | None:
        """When called from a node of another graph: that graph's output and our namespace."""
        scope = task_scope(run.parent)
        if scope is None:
            return None
        task = scope.task
        return scope.out, (*scope.graph_ns, f"{task.name}:{task.id}")

    def _scheduler(
        self, run: RunContext, latest: CheckpointTuple | None, resume: bool
    ) -> Scheduler:
        # A new turn starts with the input checkpoint, one step after the thread's last one
        # (-1 on a new thread); a resumed run continues at the saved step.
        if latest is None:
            step = -1 if not resume else 0
            return Scheduler(
                self.spec, self.spec.schema.initial(), step=step, limit=run.recursion_limit
            )
        if resume:
            return scheduler_at(self.spec, latest, run.recursion_limit)
        cp = latest.checkpoint
        step = cp["step"] + 1
        return Scheduler(self.spec, dict(cp["values"]), step=step, limit=step + run.recursion_limit)

    def _prepare(
        self, run: RunContext, input: Any, out: GraphOutput, ns: tuple[str, ...], config: Any
    ) -> GraphRun:
        saving, latest = None, None
        if self.checkpointer is not None and not ns:
            saving, latest = Saving.open(self.checkpointer, config)
        elif ns and (nested := _nested_thread(run)) is not None:
            saving, latest = Saving.open(nested[0], nested[1])
            saving.parents = nested[3]
            input, latest = (None, latest) if nested[2] else (input, None)
        if saving is not None:
            saving.subgraphs = self._subgraph_nodes()
        return self._graph_run(run, input, out, ns, saving, latest)

    async def _aprepare(
        self, run: RunContext, input: Any, out: GraphOutput, ns: tuple[str, ...], config: Any
    ) -> GraphRun:
        saving, latest = None, None
        if self.checkpointer is not None and not ns:
            saving, latest = await Saving.aopen(self.checkpointer, config)
        elif ns and (nested := _nested_thread(run)) is not None:
            saving, latest = await Saving.aopen(nested[0], nested[1])
            saving.parents = nested[3]
            input, latest = (None, latest) if nested[2] else (input, None)
        if saving is not None:
            saving.subgraphs = self._subgraph_nodes()
        return self._graph_run(run, input, out, ns, saving, latest)

    def _graph_run(
        self,
        run: RunContext,
        input: Any,
        out: GraphOutput,
        ns: tuple[str, ...],
        saving: Saving | None,
        latest: CheckpointTuple | None,
    ) -> GraphRun:
        resuming = is_resuming(input)
        sched = self._scheduler(run, latest, resuming)
        if ns:
            sched.seed = "|".join(ns)  # a subgraph's task ids are stable across its re-runs
        g = GraphRun(sched, run, out, ns, saving)
        if saving is not None and isinstance(run.sink, GraphSink) and run.sink.partials is None:
            run.sink.partials = {}  # a stopped step keeps its models' partial messages
        opts = run.extra.get(_RUN_OPTIONS) or {}
        g.before = opts.get("interrupt_before") or self.interrupt_before_nodes
        g.after = opts.get("interrupt_after") or self.interrupt_after_nodes
        addressed = saving is not None and saving.addressed
        prepare_resume(g, input, latest, task_scope(run.parent) if ns else None, addressed)
        return g

    def _subgraph_nodes(self) -> frozenset[str]:
        nodes = self.spec.nodes.items()
        return frozenset(n for n, node in nodes if isinstance(node.runnable, CompiledStateGraph))

    # ------------------------------------------------------------------ invoke

    def invoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run to the end (or to a pause) and return the state; when a node called
        ``interrupt()``, the state has an ``"__interrupt__"`` list of :class:`Interrupt`.

        ``input`` is the graph's input, or ``Command(resume=...)`` / ``None`` to continue a
        paused thread; ``interrupt_before`` / ``interrupt_after`` override the compiled ones
        for this run."""
        if kwargs:
            check_run_options("invoke", kwargs)
        run = self._new_run(config)
        _set_options(run, interrupt_before, interrupt_after)
        out, ns = self._nesting(run) or (_NO_OUTPUT, ())
        obs = _observer(run, input)
        prepared: GraphRun | None = None
        try:
            g = prepared = self._prepare(run, input, out, ns, config)
            for _ in run_sync(g, None if g.resumed else _fresh(input)):
                pass
        except BaseException as exc:
            if obs is not None:
                obs.stopped(exc, _values(prepared))
            raise
        if g.interrupts and ns:
            raise GraphInterrupt(g.interrupts)  # the parent graph's task pauses too
        result = g.result()
        if obs is not None:
            obs.finished(result)
        return result

    async def ainvoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Async :meth:`invoke`."""
        if kwargs:
            check_run_options("ainvoke", kwargs)
        run = self._new_run(config)
        _set_options(run, interrupt_before, interrupt_after)
        out, ns = self._nesting(run) or (_NO_OUTPUT, ())
        obs = _observer(run, input)
        prepared: GraphRun | None = None
        try:
            g = prepared = await self._aprepare(run, input, out, ns, config)
            await run_async(g, None if g.resumed else _fresh(input))
        except BaseException as exc:
            if obs is not None:
                obs.stopped(exc, _values(prepared))
            raise
        if g.interrupts and ns:
            raise GraphInterrupt(g.interrupts)  # the parent graph's task pauses too
        result = g.result()
        if obs is not None:
            obs.finished(result)
            if obs.backlogged:
                await obs.drained()
        return result

    # ------------------------------------------------------------------ stream

    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: str | Sequence[str] | None = None,
        subgraphs: bool = False,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Yield what ``stream_mode`` asks for while the graph runs (default ``"updates"``).

        With a list of modes each item is ``(mode, chunk)``; with ``subgraphs=True`` each item
        is prefixed by the namespace of the graph that produced it. ``break`` stops the run.
        """
        if kwargs:
            check_run_options("stream", kwargs)
        modes, multi = _parse_modes(stream_mode)
        run = self._new_run(config)
        _set_options(run, interrupt_before, interrupt_after)
        if "messages" in modes or "custom" in modes or "tools" in modes:
            return self._stream_threaded(run, input, config, modes, multi, subgraphs)
        return self._stream_inline(run, input, config, modes, multi, subgraphs)

    def _stream_inline(
        self,
        run: RunContext,
        input: Any,
        config: Any,
        modes: tuple[str, ...],
        multi: bool,
        subgraphs: bool,
    ) -> Iterator[Any]:
        buf: deque[Any] = deque()
        out = GraphOutput(buf.append, modes, multi=multi, subgraphs=subgraphs)
        obs = _observer(run, input)
        prepared: GraphRun | None = None
        steps: Iterator[None] | None = None
        try:
            g = prepared = self._prepare(run, input, out, (), config)
            steps = run_sync(g, None if g.resumed else _fresh(input))
            for _ in steps:
                while buf:
                    item = buf.popleft()
                    if obs is not None:
                        obs.chunk(item)
                    yield item
        except BaseException as exc:
            if left_early(exc) and steps is not None:
                steps.close()  # type: ignore[attr-defined]  # first: the state it reached
            if obs is not None:
                obs.stopped(exc, _values(prepared))
            raise
        if obs is not None:
            obs.finished(dict(g.sched.values))

    def _stream_threaded(
        self,
        run: RunContext,
        input: Any,
        config: Any,
        modes: tuple[str, ...],
        multi: bool,
        subgraphs: bool,
    ) -> Iterator[Any]:
        chan: Channel[Any] = Channel(STREAM_BUFFER)
        out = GraphOutput(chan.put, modes, multi=multi, subgraphs=subgraphs)
        obs = _observer(run, input)  # reports to the sink attached before GraphSink
        if "messages" in modes or "tools" in modes:
            run.sink = GraphSink(out, run.sink)
        try:
            g = self._prepare(run, input, out, (), config)
        except BaseException as exc:
            if obs is not None:
                obs.stopped(exc, None)
            raise

        def drive() -> None:
            try:
                for _ in run_sync(g, None if g.resumed else _fresh(input)):
                    if chan.cancelled:
                        return
            except ChannelClosed:
                chan.close()
            except BaseException as exc:
                chan.close(exc)
            else:
                chan.close()

        # A daemon: after Ctrl-C the consumer does not wait for a node that is still running
        # user code (a thread cannot be stopped); the graph stops at its next step.
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(drive,),
            name="tokentide-graph",
            daemon=True,
        )
        thread.start()
        interrupted = False
        try:
            while (batch := chan.take()) is not CLOSED:
                assert batch is not TIMED_OUT
                for item in batch:
                    if obs is not None:
                        obs.chunk(item)
                    yield item
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            if left_early(exc):
                chan.cancel()  # first: the driver stops, and its state is what it reached
                if not interrupted:
                    thread.join()
            if obs is not None:
                obs.stopped(exc, dict(g.sched.values))
            raise
        finally:
            chan.cancel()
            if not interrupted:
                thread.join()
        if obs is not None:
            obs.finished(dict(g.sched.values))

    async def astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: str | Sequence[str] | None = None,
        subgraphs: bool = False,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        """Async :meth:`stream`: the graph runs in a producer task; leaving the loop early
        (``break``, ``aclose()``, cancellation) cancels it and the model streams under it."""
        if kwargs:
            check_run_options("astream", kwargs)
        modes, multi = _parse_modes(stream_mode)
        run = self._new_run(config)
        _set_options(run, interrupt_before, interrupt_after)
        chan: Channel[Any] = Channel(STREAM_BUFFER)
        out = GraphOutput(chan.put, modes, multi=multi, subgraphs=subgraphs, achan=chan)
        obs = _observer(run, input)  # reports to the sink attached before GraphSink
        if "messages" in modes or "tools" in modes:
            run.sink = GraphSink(out, run.sink)
        box: list[GraphRun] = []

        async def produce() -> None:
            try:
                g = await self._aprepare(run, input, out, (), config)
                box.append(g)
                await run_async(g, None if g.resumed else _fresh(input))
            except ChannelClosed:
                chan.close()
            except BaseException as exc:
                chan.close(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                chan.close()

        async def stop() -> None:
            if not task.done():
                chan.cancel()
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise

        task = asyncio.ensure_future(produce())
        try:
            while (batch := await chan.atake()) is not CLOSED:
                assert batch is not TIMED_OUT
                for item in batch:
                    if obs is not None:
                        obs.chunk(item)
                        if obs.backlogged:
                            await obs.drained()
                    yield item
        except BaseException as exc:
            if left_early(exc):
                await stop()  # first: the producer stops, and its state is what it reached
            if obs is not None:
                obs.stopped(exc, _values(box[0] if box else None))
            raise
        finally:
            await stop()
        if obs is not None:
            obs.finished(_values(box[0] if box else None))

    # ------------------------------------------------------------------ runnable hooks

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> dict[str, Any]:
        return self.invoke(input, run.child_config())

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> dict[str, Any]:
        return await self.ainvoke(input, run.child_config())
