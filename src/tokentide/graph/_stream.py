"""Stream modes: how a graph run's items reach its consumer.

:class:`GraphOutput` formats items (``chunk``, ``(mode, chunk)``, ``(ns, chunk)`` or
``(ns, mode, chunk)``) and puts them into the run's bounded channel. :class:`GraphSink` is the
sink attached to the graph run: every chat model called anywhere inside a node reports its
chunks to it through the run context, and it turns them into ``"messages"`` items. A node's
``writer`` (and :func:`get_stream_writer`) produce ``"custom"`` items.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tokentide.messages import AIMessageChunk, BaseMessage
from tokentide.messages._ids import fast_uuid4
from tokentide.runtime import Channel, RunContext, RunnableConfig, RunSink, current_run

if TYPE_CHECKING:
    from ._scheduler import Task

__all__ = [
    "TASK_KEY",
    "GraphOutput",
    "GraphSink",
    "TaskScope",
    "get_config",
    "get_stream_writer",
    "task_scope",
]

#: Key of ``RunContext.extra`` under which a node's run carries its :class:`TaskScope`.
TASK_KEY = "tokentide.graph.task"

ALL_MODES = ("values", "updates", "messages", "custom", "debug", "tasks", "tools", "checkpoints")


def _noop_writer(data: Any) -> None:
    return None


class GraphOutput:
    """Formats and hands out the items of one (root) graph stream."""

    __slots__ = ("achan", "modes", "multi", "put", "seen", "subgraphs")

    def __init__(
        self,
        put: Callable[[Any], None] | None,
        modes: Sequence[str],
        *,
        multi: bool = False,
        subgraphs: bool = False,
        achan: Channel[Any] | None = None,
    ) -> None:
        for mode in modes:
            if mode not in ALL_MODES:
                raise ValueError(f"unknown stream_mode {mode!r}: expected one of {ALL_MODES}")
        self.put = put
        self.modes = frozenset(modes) if put is not None else frozenset()
        self.multi = multi
        self.subgraphs = subgraphs
        self.seen: set[str | None] = set()
        #: The async channel (on-loop producers wait for room when it is full).
        self.achan = achan

    def wants(self, ns: tuple[str, ...], mode: str) -> bool:
        return mode in self.modes and (not ns or self.subgraphs)

    def emit(self, ns: tuple[str, ...], mode: str, payload: Any) -> None:
        if mode not in self.modes or (ns and not self.subgraphs):
            return
        assert self.put is not None
        if self.multi:
            self.put((ns, mode, payload) if self.subgraphs else (mode, payload))
        else:
            self.put((ns, payload) if self.subgraphs else payload)

    def emit_messages_of(self, ns: tuple[str, ...], value: Any, meta: dict[str, Any]) -> None:
        """Emit the messages in a node's output that nobody streamed yet (once, whole).

        A message without an id gets one here, before it is handed out (kept by
        ``add_messages``), as LangGraph: the consumer may read it before or after the state
        reducer runs and sees the same id, and two id-less messages (tool results of parallel
        calls) are both emitted."""
        for msg in _messages_in(value):
            if msg.id is None:
                msg.id = fast_uuid4()
            if msg.id not in self.seen:
                self.seen.add(msg.id)
                self.emit(ns, "messages", (msg, meta))

    def mark_seen(self, value: Any) -> None:
        for msg in _messages_in(value):
            if msg.id is not None:
                self.seen.add(msg.id)


def _messages_in(value: Any) -> list[BaseMessage]:
    found: list[BaseMessage] = []
    if isinstance(value, dict):
        items: Any = value.values()
    else:
        items = [value]
    for item in items:
        if isinstance(item, BaseMessage):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            found.extend(m for m in item if isinstance(m, BaseMessage))
    return found


class TaskScope:
    """What code running inside one task needs: the task, its namespace, where to stream, and
    what ``interrupt()`` needs (its checkpoint namespace, the run's answers)."""

    __slots__ = (
        "checkpointed",
        "graph_ns",
        "lock",
        "ns",
        "out",
        "parents",
        "resumes",
        "saver",
        "task",
        "thread_id",
        "writer",
    )

    def __init__(
        self,
        task: Task,
        graph_ns: tuple[str, ...],
        out: GraphOutput,
        *,
        ns: str = "",
        checkpointed: bool = False,
        resumes: Any = None,
        saver: Any = None,
        thread_id: str | None = None,
        parents: dict[str, str] | None = None,
    ) -> None:
        self.task = task
        self.graph_ns = graph_ns
        self.out = out
        #: The task's checkpoint namespace (``node:task_id``, nested ones joined by ``|``).
        self.ns = ns
        #: Whether the graph saves its state (``interrupt()`` needs it).
        self.checkpointed = checkpointed
        #: The answers of the run (an ``_interrupt.Resumes``), shared with subgraphs.
        self.resumes = resumes
        #: The checkpointer and thread of the root graph: a subgraph run by this task saves
        #: its own state there, under the task's namespace.
        self.saver = saver
        self.thread_id = thread_id
        #: Namespace -> checkpoint id of the graphs saving above the task (its subgraph's
        #: ``metadata["parents"]``).
        self.parents = parents or {}
        self.lock = threading.Lock()
        if out.wants(graph_ns, "custom"):
            self.writer: Callable[[Any], None] = self._write
        else:
            self.writer = _noop_writer

    def _write(self, data: Any) -> None:
        self.out.emit(self.graph_ns, "custom", data)


def task_scope(run: RunContext | None) -> TaskScope | None:
    """The task that ``run`` belongs to (the nearest enclosing node run), if any."""
    while run is not None:
        scope = run.extra.get(TASK_KEY)
        if scope is not None:
            return scope  # type: ignore[no-any-return]
        run = run.parent
    return None


def get_stream_writer() -> Callable[[Any], None]:
    """The ``"custom"`` stream writer of the node running now (a no-op outside a graph or
    when ``"custom"`` mode is off). Works in sync and async nodes without passing ``config``.

    Example::

        def node(state):
            write = get_stream_writer()
            write({"progress": 0.5})
            return {}
    """
    scope = task_scope(current_run())
    return scope.writer if scope is not None else _noop_writer


def get_config() -> RunnableConfig:
    """The config of the node (or runnable) running now, as LangGraph's ``get_config()``.

    Raises ``RuntimeError`` outside a running graph node or runnable.

    Example::

        def node(state):
            thread = get_config()["configurable"].get("thread_id")
            return {}
    """
    run = current_run()
    if run is None or run.run_type == "scope":
        raise RuntimeError("get_config() was called outside of a runnable context (a graph node)")
    return run.as_config()


def _model_metadata(run: RunContext) -> dict[str, Any]:
    """LangGraph's metadata of a model's chunks: the run's metadata (``checkpoint_ns``, the
    top-level task's namespace, right after ``langgraph_checkpoint_ns``) and the run's tags
    (without the ``seq:step:N`` position tags; none when no tag is left, as LangGraph)."""
    meta: dict[str, Any] = {}
    for key, value in run.metadata.items():
        meta[key] = value
        if key == "langgraph_checkpoint_ns":
            meta["checkpoint_ns"] = value.split("|", 1)[0]  # the outermost task, as LangGraph
    tags = [t for t in run.tags if not t.startswith("seq:step")]
    if tags:
        meta["tags"] = tags
    return meta


class _ModelStream:
    """What the sink knows about one streamed model run: namespace, metadata, and (for the
    plain ``(chunk, metadata)`` item shape) the channel's ``put`` to call directly."""

    __slots__ = ("meta", "ns", "put")

    def __init__(
        self, ns: tuple[str, ...], meta: dict[str, Any], put: Callable[[Any], None] | None
    ) -> None:
        self.ns = ns
        self.meta = meta
        self.put = put


_NO_STREAM = _ModelStream((), {}, None)
#: Runs whose chunks become ``"messages"`` items (a completion model's ``str`` chunks are
#: turned into ``AIMessageChunk``s).
_MODEL_RUNS = frozenset({"chat_model", "llm"})


class GraphSink(RunSink):
    """Turns chat- and completion-model runs under a graph run into ``"messages"`` items and
    tool runs into ``"tools"`` items; forwards every call to the sink that was attached before
    (``astream_events``), if any."""

    __slots__ = (
        "_cached_run",
        "_cached_stream",
        "_key",
        "_last_id",
        "_queued",
        "_room",
        "_tool_key",
        "outer",
        "out",
        "partials",
    )
    streams_tokens = True

    def __init__(self, out: GraphOutput, outer: RunSink | None) -> None:
        self.out = out
        self.outer = outer
        # The model run that streamed last, and what the sink knows about it.
        self._cached_run: RunContext | None = None
        self._cached_stream = _NO_STREAM
        self._last_id: Any = None
        self._key = f"tokentide.graph.sink.{id(self)}"
        #: When the graph saves its state: the chunks so far of each model run not yet
        #: ended (kept in the thread if the run fails or is cancelled).
        self.partials: dict[RunContext, Any] | None = None
        self._tool_key = f"tokentide.graph.tool.{id(self)}"
        # What `backlogged` reads after every token (``Channel.full`` without its two calls).
        chan = out.achan
        self._queued = chan.queued if chan is not None else None
        self._room = chan.maxsize if chan is not None else 0

    @property
    def wants_chain_runs(self) -> bool:
        return self.outer is not None and self.outer.wants_chain_runs

    @property
    def backlogged(self) -> bool:
        queued = self._queued
        if queued is not None and len(queued) >= self._room:
            return True
        outer = self.outer
        return outer is not None and outer.backlogged

    async def drained(self) -> None:
        chan = self.out.achan
        if chan is not None:
            await chan.wait_room()
        if self.outer is not None and self.outer.backlogged:
            await self.outer.drained()

    def on_start(self, run: RunContext, input: Any) -> None:
        if self.outer is not None:
            self.outer.on_start(run, input)
        if run.run_type == "tool":
            self._tool_started(run)
            return
        if run.run_type not in _MODEL_RUNS or "messages" not in self.out.modes:
            return
        scope = task_scope(run.parent)
        if (
            scope is None
            or "nostream" in run.tags
            or not self.out.wants(scope.graph_ns, "messages")
        ):
            return
        out = self.out
        put = out.put if not out.multi and not out.subgraphs else None
        run.extra[self._key] = _ModelStream(scope.graph_ns, _model_metadata(run), put)

    def _stream_of(self, run: RunContext) -> _ModelStream:
        state: _ModelStream | None = run.extra.get(self._key)
        if state is None:
            state = _NO_STREAM
        self._cached_run = run
        self._cached_stream = state
        return state

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_stream(run, chunk)
        state = self._cached_stream if self._cached_run is run else self._stream_of(run)
        if state is _NO_STREAM:
            if run.run_type == "tool":
                self._tool_event(run, "tool-output-delta", "delta", chunk)
            return
        if type(chunk) is not AIMessageChunk and isinstance(chunk, str):
            # A completion model's text: an AIMessageChunk, one id per run.
            chunk = AIMessageChunk(chunk, id=f"lc_run--{run.run_id}")
        cid = chunk.id
        if cid != self._last_id:
            self._last_id = cid
            self.out.seen.add(cid)
        partials = self.partials
        if partials is not None:
            so_far = partials.get(run)
            partials[run] = chunk if so_far is None else so_far + chunk
        put = state.put
        if put is not None:
            put((chunk, state.meta))
        else:
            self.out.emit(state.ns, "messages", (chunk, state.meta))

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        if self.outer is not None:
            self.outer.on_end(run, output, input)
        if run.run_type == "tool":
            self._tool_event(run, "tool-finished", "output", output)
            return
        if run.run_type == "chat_model":
            if self.partials is not None and run in self.partials:
                self.partials[run] = output  # ended (early, when cancelled): keep its output
            state = run.extra.get(self._key)
            if state is not None and isinstance(output, BaseMessage):
                self.out.emit_messages_of(state.ns, output, state.meta)

    def on_error(self, run: RunContext, error: BaseException) -> None:
        if self.outer is not None:
            self.outer.on_error(run, error)
        if run.run_type == "tool":
            self._tool_event(run, "tool-error", "message", str(error))

    # ------------------------------------------------------------------ "tools" mode

    def _tool_started(self, run: RunContext) -> None:
        """A tool run inside a node: open its ``tool-*`` items (LangGraph 1.2's payloads)."""
        out = self.out
        if "tools" not in out.modes or "nostream" in run.tags:
            return
        scope = task_scope(run.parent)
        if scope is None or not out.wants(scope.graph_ns, "tools"):
            return
        call_id = run.extra.get("tool_call_id") or run.run_id
        run.extra[self._tool_key] = (scope.graph_ns, call_id)
        payload: dict[str, Any] = {
            "event": "tool-started",
            "tool_call_id": call_id,
            "tool_name": run.name,
        }
        if "tool_input" in run.extra:
            payload["input"] = run.extra["tool_input"]
        out.emit(scope.graph_ns, "tools", payload)

    def _tool_event(self, run: RunContext, event: str, key: str, value: Any) -> None:
        found = run.extra.get(self._tool_key)
        if found is None:
            return
        ns, call_id = found
        self.out.emit(ns, "tools", {"event": event, "tool_call_id": call_id, key: value})

    def on_custom(self, run: RunContext, name: str, data: Any) -> None:
        if self.outer is not None:
            self.outer.on_custom(run, name, data)
