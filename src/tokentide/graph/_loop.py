"""Running a graph: one :class:`GraphRun` per call, with a sync and an async shell.

The scheduler (``_scheduler.py``) decides what runs; this module calls user code (nodes, path
functions) with the run context set, streams what the modes ask for and saves checkpoints.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast
from uuid import uuid4

from tokentide.errors import GraphBubbleUp, GraphInterrupt
from tokentide.runtime._base import run_sync_in_thread
from tokentide.runtime._context import _CURRENT, RunContext, new_run

from ._checkpointing import INTERRUPT, NULL_TASK_ID, RESUME, ROUTE
from ._interrupt import Resumes
from ._node import Branch, NodeSpec
from ._scheduler import PUSH, Scheduler, Task
from ._stream import TASK_KEY, GraphOutput, TaskScope
from ._types import START, Interrupt

if TYPE_CHECKING:
    from tokentide.runtime._sink import RunSink

    from ._checkpointing import Saving

__all__ = ["GraphRun", "run_async", "run_sync"]

#: What a node calls is its first step, as in LangGraph (where a node is a sequence of the
#: node's function, its writes and its branches).
_FIRST_STEP = ["seq:step:1"]


def _note(exc: BaseException, task: Task) -> None:
    note = f"During task with name '{task.name}' and id '{task.id}'"
    notes = getattr(exc, "__notes__", None)
    if notes is not None and note in notes:
        return
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(note)
    else:  # Python 3.10
        exc.__notes__ = [*(notes or []), note]  # type: ignore[attr-defined]


class GraphRun:
    """The state of one graph call shared by the shells: run context, output, scheduler."""

    __slots__ = (
        "after",
        "before",
        "persistent",
        "interrupts",
        "ns",
        "null_writes",
        "origin",
        "out",
        "paused",
        "resumed",
        "resumes",
        "run",
        "saving",
        "sched",
        "spec",
    )

    def __init__(
        self,
        sched: Scheduler,
        run: RunContext,
        out: GraphOutput,
        ns: tuple[str, ...],
        saving: Saving | None,
    ) -> None:
        self.sched = sched
        self.spec = sched.spec
        self.run = run
        self.out = out
        self.ns = ns
        self.saving = saving
        #: Whether the graph (or the graph running it) has a checkpointer.
        self.persistent = saving is not None
        #: The answers this run carries for interrupted tasks.
        self.resumes = Resumes()
        #: ``interrupt_before`` / ``interrupt_after``: node names, or ``"*"`` for all.
        self.before: Sequence[str] | str = ()
        self.after: Sequence[str] | str = ()
        #: What ``interrupt()`` raised in this run (reported as ``"__interrupt__"``).
        self.interrupts: list[Interrupt] = []
        #: The run stopped before its end (an interrupt, ``interrupt_before`` / ``_after``).
        self.paused = False
        #: The run continues a saved one: its first step is not stopped by interrupt_before.
        self.resumed = False
        #: The checkpoint event of the saved run this one continues (emitted first).
        self.origin: dict[str, Any] | None = None
        #: Writes of no task to save on the checkpoint first (a resuming ``Command``).
        self.null_writes: list[tuple[str, Any]] = []

    # ------------------------------------------------------------------ input

    def start(self, input: Any) -> list[Branch]:
        """Apply the input (``None`` resumes a saved run); return the START branches to
        evaluate. The input is a step of its own (the checkpoint after it is numbered one
        more than the input checkpoint, as LangGraph)."""
        if input is None:
            return []
        sched = self.sched
        sched.step += 1
        sched.limit = sched.step + self.run.recursion_limit
        if sched.start(input):
            self.emit_values()
        return self.spec.branches.get(START, [])

    def checkpointed(self, payload: dict[str, Any]) -> None:
        """A checkpoint was saved: ``"checkpoints"`` item and ``"debug"`` event."""
        out = self.out
        if out.modes:
            out.emit(self.ns, "checkpoints", payload)
            step = payload["metadata"]["step"]
            out.emit(self.ns, "debug", _debug(step, "checkpoint", payload))

    def resumed_from(self, payload: dict[str, Any] | None) -> None:
        """A resumed run starts with the state and the checkpoint it continues from."""
        if payload is not None and self.out.modes:
            self.emit_values()
            self.checkpointed(payload)

    def input_upcoming(self) -> list[tuple[str, str]]:
        return [(START, str(uuid4()))]

    def emit_values(self) -> None:
        if self.out.modes:
            self.out.emit(self.ns, "values", dict(self.sched.values))

    # ------------------------------------------------------------------ one task

    def task_run(self, task: Task) -> RunContext:
        """The run of one node: a child of the graph run carrying the task's metadata."""
        parent = self.run
        cp_ns = f"{task.name}:{task.id}"
        if self.ns:
            cp_ns = "|".join((*self.ns, cp_ns))
        metadata = {
            **parent.metadata,
            "langgraph_step": task.step,
            "langgraph_node": task.name,
            "langgraph_triggers": task.triggers,
            # A Send task's path ends with False, as LangGraph's (not a functional-API call).
            "langgraph_path": task.path if task.path[0] != PUSH else (*task.path, False),
            "langgraph_checkpoint_ns": cp_ns,
        }
        if task.node.metadata:
            metadata.update(task.node.metadata)
        run = RunContext(
            task.name,
            "chain",
            parent=parent,
            # LangGraph's step tag is the node run's own (not inherited by what it calls).
            tags=[*parent.inheritable_tags, f"graph:step:{task.step}"],
            inheritable_tags=parent.inheritable_tags,
            metadata=metadata,
            sink=parent.sink,
            configurable=parent.configurable,
            recursion_limit=parent.recursion_limit,
            max_concurrency=parent.max_concurrency,
        )
        run.extra[TASK_KEY] = TaskScope(
            task,
            self.ns,
            self.out,
            ns=cp_ns,
            checkpointed=self.persistent,
            resumes=self.resumes,
        )
        run.child_tags = _FIRST_STEP
        return run

    def args(self, task: Task, run: RunContext) -> tuple[tuple[Any, ...], dict[str, Any]]:
        node = task.node
        state = self.spec.schema.view(task.input) if task.path[0] != "__pregel_push" else task.input
        kwargs: dict[str, Any] = {}
        for name in node.injected:
            if name == "config":
                kwargs["config"] = run.as_config()
            else:
                kwargs["writer"] = run.extra[TASK_KEY].writer
        return (state,), kwargs

    def began(self, task: Task, run: RunContext) -> None:
        out = self.out
        if out.modes and out.wants(self.ns, "messages"):
            out.mark_seen(task.input)
        sink = run.sink
        if sink is not None:
            sink.on_start(run, task.input)

    def finished(self, task: Task, run: RunContext, output: Any) -> list[Branch]:
        """The node returned: record its writes; return the branches to evaluate."""
        task.state_writes(output, self.spec.schema)
        if task.node.runnable is not None and isinstance(task.update, dict):
            # A subgraph returns its whole state: only the parent's keys are its update.
            keys = self.spec.schema.keys
            task.update = {k: v for k, v in task.update.items() if k in keys}
        return self.spec.branches.get(task.name, [])

    def branch_input(self, task: Task) -> Any:
        return self.spec.schema.view(self.sched.local_values(task))

    def ended(self, task: Task, run: RunContext, output: Any) -> None:
        out = self.out
        if out.modes:
            ns = self.ns
            if out.wants(ns, "messages"):
                out.emit_messages_of(ns, task.update, dict(run.metadata))
            out.emit(ns, "updates", {task.name: task.update})
            if out.wants(ns, "debug") or out.wants(ns, "tasks"):
                payload = _task_result(task, self.spec.schema.keys)
                out.emit(ns, "tasks", payload)
                out.emit(ns, "debug", _debug(task.step, "task_result", payload))
        sink = run.sink
        if sink is not None:
            if sink.wants_chain_runs:
                sink.on_stream(run, output)  # LangGraph's on_chain_stream of the node run
            sink.on_end(run, output, task.input)

    def task_interrupted(self, task: Task, run: RunContext, exc: GraphInterrupt) -> None:
        """The node called ``interrupt()`` with no answer: it pauses (LangGraph's items: an
        ``"__interrupt__"`` update, the state with it, the task's result)."""
        found = exc.interrupts
        task.interrupts.extend(found)
        out = self.out
        if out.modes:
            ns = self.ns
            out.emit(ns, "updates", {"__interrupt__": found})
            out.emit(ns, "values", {**self.sched.values, "__interrupt__": found})
            if out.wants(ns, "debug") or out.wants(ns, "tasks"):
                payload: dict[str, Any] = {
                    "id": task.id,
                    "name": task.name,
                    "error": None,
                    "result": {},
                    "interrupts": [asdict(i) for i in found],
                }
                out.emit(ns, "tasks", payload)
                out.emit(ns, "debug", _debug(task.step, "task_result", payload))
        sink = run.sink
        if sink is not None:
            sink.on_error(run, exc)

    def failed(self, task: Task, run: RunContext, exc: BaseException) -> None:
        _note(exc, task)
        sink = run.sink
        if sink is not None:
            sink.on_error(run, exc)

    # ------------------------------------------------------------------ steps

    def step_started(self, tasks: Sequence[Task]) -> None:
        out = self.out
        if out.modes and (out.wants(self.ns, "debug") or out.wants(self.ns, "tasks")):
            for task in tasks:
                payload = {
                    "id": task.id,
                    "name": task.name,
                    "input": task.input,
                    "triggers": task.triggers,
                }
                out.emit(self.ns, "tasks", payload)
                out.emit(self.ns, "debug", _debug(task.step, "task", payload))

    def step_done(self, tasks: Sequence[Task]) -> None:
        if self.sched.commit(tasks):
            self.emit_values()

    def cached(self, tasks: Sequence[Task]) -> None:
        """A resumed step: the tasks that finished before the pause report their saved
        updates (marked cached, as LangGraph) instead of running again."""
        out = self.out
        for task in tasks:
            if task.cached and out.modes:
                update = {task.name: task.update, "__metadata__": {"cached": True}}
                out.emit(self.ns, "updates", update)

    def stops_before(self, tasks: Sequence[Task]) -> bool:
        """``interrupt_before`` names a task of this step (not on the step a run resumes)."""
        resumed, self.resumed = self.resumed, False
        if resumed or not _named(self.before, tasks):
            return False
        self.pause_static()
        return True

    def stops_after(self, tasks: Sequence[Task]) -> bool:
        """``interrupt_after`` names a task of the step that just ran and more is to come."""
        sched = self.sched
        if not (sched.pending or sched.sends) or not _named(self.after, tasks):
            return False
        self.pause_static()
        return True

    def pause_static(self) -> None:
        self.paused = True
        if self.out.modes:
            self.out.emit(self.ns, "updates", {"__interrupt__": ()})

    def step_paused(self, tasks: Sequence[Task]) -> list[tuple[str, list[tuple[str, Any]]]]:
        """Some task of the step paused: the finished tasks' writes show in the state (not
        saved as a checkpoint: the step runs again on resume); return the writes to save
        per task id."""
        self.paused = True
        saved = []
        for task in tasks:
            if task.interrupts:
                self.interrupts.extend(task.interrupts)
                writes: list[tuple[str, Any]] = [(INTERRUPT, list(task.interrupts))]
                if task.resume:
                    writes.append((RESUME, list(task.resume)))
                saved.append((task.id, writes))
            elif task.done and not task.cached:
                saved.append((task.id, [*task.writes, (ROUTE, list(task.routes))]))
        done = [t for t in tasks if t.done]
        if self.spec.schema.apply(self.sched.values, [w for t in done for w in t.writes]):
            self.emit_values()
        return saved

    def result(self) -> dict[str, Any]:
        """What ``invoke`` returns: the state, with ``"__interrupt__"`` when a node paused."""
        values = dict(self.sched.values)
        if self.interrupts:
            values["__interrupt__"] = list(self.interrupts)
        return values


def _named(names: Sequence[str] | str, tasks: Sequence[Task]) -> bool:
    if not names:
        return False
    return names == "*" or any(t.name in names for t in tasks)


def _task_result(task: Task, keys: Sequence[str]) -> dict[str, Any]:
    result = {k: v for k, v in task.writes if k in keys}
    return {"id": task.id, "name": task.name, "error": None, "result": result, "interrupts": []}


def _debug(step: int, kind: str, payload: Any) -> dict[str, Any]:
    stamp = datetime.now(timezone.utc).isoformat()
    return {"step": step, "timestamp": stamp, "type": kind, "payload": payload}


# ---------------------------------------------------------------------------------- sync shell


def _call_sync(node: NodeSpec, run: RunContext, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    if node.runnable is not None:
        return node.runnable.invoke(args[0], run.child_config())
    if node.is_async:
        raise TypeError(
            f"node {node.name!r} is an async function: run the graph with ainvoke()/astream()"
        )
    token = _CURRENT.set(run)
    try:
        return node.action(*args, **kw)
    finally:
        _CURRENT.reset(token)


def _call_path_sync(branch: Branch, state: Any, run: RunContext) -> Any:
    token = _CURRENT.set(run)
    try:
        if branch.wants_config:
            return branch.path(state, run.as_config())
        return branch.path(state)
    finally:
        _CURRENT.reset(token)


def _branch_run(branch: Branch, run: RunContext, index: int, state: Any) -> RunContext | None:
    """The run LangGraph reports for a conditional edge taken after a node: a chain run named
    after the path function, inside the node's run (tagged as the node's third step, after the
    node's function and its writes), made only when someone listens to the node's run."""
    sink = run.sink
    if sink is None or not branch.traced or not sink.wants_chain_runs:
        return None
    child = new_run(branch.name, "chain", run.child_config(local_tags=[f"seq:step:{index + 3}"]))
    sink.on_start(child, state)
    return child


def _route_sync(branch: Branch, state: Any, run: RunContext, index: int) -> Any:
    """Evaluate a node's conditional edge (as a run of its own when someone listens)."""
    child = _branch_run(branch, run, index, state)
    if child is None:
        return _call_path_sync(branch, state, run)
    sink = cast("RunSink", child.sink)
    try:
        result = _call_path_sync(branch, state, child)
    except BaseException as exc:
        sink.on_error(child, exc)
        raise
    sink.on_end(child, result, state)
    return result


async def _route_async(branch: Branch, state: Any, run: RunContext, index: int) -> Any:
    """`_route_sync` on the event loop (an async path function is awaited)."""
    child = _branch_run(branch, run, index, state)
    if child is None:
        return await _call_path_async(branch, state, run)
    sink = cast("RunSink", child.sink)
    try:
        result = await _call_path_async(branch, state, child)
    except BaseException as exc:
        sink.on_error(child, exc)
        raise
    sink.on_end(child, result, state)
    return result


def _retry_sync(node: NodeSpec, run: RunContext, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    policy, attempt = node.retry, 1
    while True:
        try:
            return _call_sync(node, run, args, kw)
        except GraphBubbleUp:
            raise
        except Exception as exc:
            if policy is None or not policy.should_retry(exc, attempt):
                raise
            time.sleep(policy.wait(attempt))
            attempt += 1


def execute_sync(g: GraphRun, task: Task) -> None:
    """Run one task to completion (in the calling thread)."""
    run = g.task_run(task)
    g.began(task, run)
    try:
        args, kw = g.args(task, run)
        output = _retry_sync(task.node, run, args, kw)
        branches = g.finished(task, run, output)
        routes = []
        for index, branch in enumerate(branches):
            result = _route_sync(branch, g.branch_input(task), run, index)
            routes.extend(g.sched.resolve(branch, result))
        g.sched.record(task, routes)
    except GraphInterrupt as exc:
        g.task_interrupted(task, run, exc)
        return
    except BaseException as exc:
        g.failed(task, run, exc)
        raise
    g.ended(task, run, output)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_IN_POOL = threading.local()


def _shared_pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="tokentide-node")
        return _POOL


def _in_worker(g: GraphRun, task: Task) -> None:
    _IN_POOL.active = True
    try:
        execute_sync(g, task)
    finally:
        _IN_POOL.active = False


def _run_tasks_sync(g: GraphRun, tasks: list[Task]) -> None:
    """Run a step's tasks: one inline; several in worker threads, started in task order (as
    LangGraph: ``Send`` tasks start in send order, so quick ones report in send order).

    The shared pool serves top-level graphs; a graph running inside a pool worker (a
    subgraph fanning out) gets a pool of its own so that nested steps cannot starve.
    """
    if len(tasks) == 1:
        execute_sync(g, tasks[0])
        return
    own: ThreadPoolExecutor | None = None
    if getattr(_IN_POOL, "active", False):
        pool = own = ThreadPoolExecutor(max_workers=min(16, len(tasks)))
    else:
        pool = _shared_pool()
    error: BaseException | None = None
    try:
        futures = [pool.submit(contextvars.copy_context().run, _in_worker, g, t) for t in tasks]
        for future in futures:
            try:
                future.result()
            except BaseException as exc:
                error = error or exc
    finally:
        if own is not None:
            own.shutdown(wait=False)
    if error is not None:
        raise error


def run_sync(g: GraphRun, input: Any) -> Iterator[None]:
    """The sync shell: yields after the input and after every step."""
    saving = g.saving if input is not None else None
    if g.null_writes and g.saving is not None:
        g.saving.put_writes(NULL_TASK_ID, g.null_writes)
    g.resumed_from(g.origin)
    if saving is not None:
        g.checkpointed(saving.save(g.sched, "input", g.input_upcoming()))
    for branch in g.start(input):
        g.sched.start_routes(
            branch, _call_path_sync(branch, g.spec.schema.view(g.sched.values), g.run)
        )
    if saving is not None:
        g.checkpointed(saving.save(g.sched, "loop", g.sched.upcoming()))
    yield
    while True:
        tasks = g.sched.prepare()
        if not tasks:
            return
        if g.stops_before(tasks):
            yield
            return
        g.step_started(tasks)
        g.cached(tasks)
        _run_tasks_sync(g, [t for t in tasks if not t.cached])
        if any(t.interrupts for t in tasks):
            for task_id, writes in g.step_paused(tasks):
                if g.saving is not None:
                    g.saving.put_writes(task_id, writes)
            yield
            return
        g.step_done(tasks)
        if g.saving is not None:
            g.checkpointed(g.saving.save(g.sched, "loop", g.sched.upcoming()))
        yield
        if g.stops_after(tasks):
            yield
            return


# ---------------------------------------------------------------------------------- async shell


async def _call_async(
    node: NodeSpec, run: RunContext, args: tuple[Any, ...], kw: dict[str, Any]
) -> Any:
    if node.runnable is not None:
        return await node.runnable.ainvoke(args[0], run.child_config())
    if not node.is_async and node.afunc is None:
        return await run_sync_in_thread(_call_sync, node, run, args, kw)
    token = _CURRENT.set(run)
    try:
        return await (node.afunc or node.action)(*args, **kw)
    finally:
        _CURRENT.reset(token)


async def _call_path_async(branch: Branch, state: Any, run: RunContext) -> Any:
    result = _call_path_sync(branch, state, run)
    if branch.is_async:
        token = _CURRENT.set(run)
        try:
            result = await result
        finally:
            _CURRENT.reset(token)
    return result


async def _retry_async(
    node: NodeSpec, run: RunContext, args: tuple[Any, ...], kw: dict[str, Any]
) -> Any:
    policy, attempt = node.retry, 1
    while True:
        try:
            return await _call_async(node, run, args, kw)
        except GraphBubbleUp:
            raise
        except Exception as exc:
            if policy is None or not policy.should_retry(exc, attempt):
                raise
            await asyncio.sleep(policy.wait(attempt))
            attempt += 1


async def execute_async(g: GraphRun, task: Task) -> None:
    """Run one task to completion on the event loop (sync nodes in a worker thread)."""
    run = g.task_run(task)
    g.began(task, run)
    try:
        args, kw = g.args(task, run)
        output = await _retry_async(task.node, run, args, kw)
        branches = g.finished(task, run, output)
        routes = []
        for index, branch in enumerate(branches):
            result = await _route_async(branch, g.branch_input(task), run, index)
            routes.extend(g.sched.resolve(branch, result))
        g.sched.record(task, routes)
    except GraphInterrupt as exc:
        g.task_interrupted(task, run, exc)
        return
    except BaseException as exc:
        g.failed(task, run, exc)
        raise
    g.ended(task, run, output)


async def _run_tasks_async(g: GraphRun, tasks: list[Task]) -> None:
    if not tasks:
        return
    if len(tasks) == 1:
        await execute_async(g, tasks[0])
        return
    running = [asyncio.ensure_future(execute_async(g, t)) for t in tasks]
    try:
        done, pending = await asyncio.wait(running, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for fut in running:
            fut.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    for fut in running:  # the first failure in task order
        if fut.done() and not fut.cancelled() and fut.exception() is not None:
            raise fut.exception()  # type: ignore[misc]


async def run_async(g: GraphRun, input: Any) -> None:
    """The async shell: runs every step; backpressure comes from the output channel."""
    saving = g.saving if input is not None else None
    if g.null_writes and g.saving is not None:
        await g.saving.aput_writes(NULL_TASK_ID, g.null_writes)
    g.resumed_from(g.origin)
    if saving is not None:
        g.checkpointed(await saving.asave(g.sched, "input", g.input_upcoming()))
    for branch in g.start(input):
        result = await _call_path_async(branch, g.spec.schema.view(g.sched.values), g.run)
        g.sched.start_routes(branch, result)
    if saving is not None:
        g.checkpointed(await saving.asave(g.sched, "loop", g.sched.upcoming()))
    out = g.out
    while True:
        if out.achan is not None and out.achan.full:
            await out.achan.wait_room()
        tasks = g.sched.prepare()
        if not tasks or g.stops_before(tasks):
            return
        g.step_started(tasks)
        g.cached(tasks)
        await _run_tasks_async(g, [t for t in tasks if not t.cached])
        if any(t.interrupts for t in tasks):
            for task_id, writes in g.step_paused(tasks):
                if g.saving is not None:
                    await g.saving.aput_writes(task_id, writes)
            return
        g.step_done(tasks)
        if g.saving is not None:
            g.checkpointed(await g.saving.asave(g.sched, "loop", g.sched.upcoming()))
        if g.stops_after(tasks):
            return
