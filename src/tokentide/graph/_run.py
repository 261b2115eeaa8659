"""One graph call's state and what it reports: :class:`GraphRun`, shared by the sync and async
shells of ``_loop.py`` (task runs, stream items for each mode, pauses, checkpoint events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from tokentide.errors import GraphInterrupt, InvalidUpdateError, ParentCommand
from tokentide.runtime import RunContext

from ._checkpointing import INTERRUPT, RESUME, ROUTE
from ._interrupt import Resumes
from ._node import Branch
from ._scheduler import PUSH, Scheduler, Task
from ._stream import TASK_KEY, GraphOutput, GraphSink, TaskScope
from ._types import START, Command, Interrupt

if TYPE_CHECKING:
    from ._checkpointing import Saving

__all__ = ["GraphRun", "debug_event"]
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
        "fork",
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
        #: Time travel: the run starts by saving a fork of the checkpoint it replays.
        self.fork = False

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
            out.emit(self.ns, "debug", debug_event(step, "checkpoint", payload))

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
        saving = self.saving
        saved: dict[str, Any] = {}
        if saving is not None:
            saved = {
                "saver": saving.saver,
                "thread_id": saving.config["configurable"]["thread_id"],
                "parents": saving.checkpoint_map(),
            }
        scope = TaskScope(
            task,
            self.ns,
            self.out,
            ns=cp_ns,
            checkpointed=self.persistent,
            resumes=self.resumes,
            **saved,
        )
        run.extra[TASK_KEY] = scope
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
        if isinstance(output, Command) and output.graph == Command.PARENT:
            if not self.ns:
                raise InvalidUpdateError(
                    f"Node {task.name!r} returned Command(graph=Command.PARENT) but its graph "
                    "has no parent graph: it is not run as a subgraph"
                )
            raise ParentCommand(output)
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
                out.emit(ns, "debug", debug_event(task.step, "task_result", payload))
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
                out.emit(ns, "debug", debug_event(task.step, "task_result", payload))
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
                out.emit(self.ns, "debug", debug_event(task.step, "task", payload))

    def step_done(self, tasks: Sequence[Task]) -> None:
        sink = self.run.sink
        if isinstance(sink, GraphSink) and sink.partials:
            sink.partials.clear()  # what a finished step produced is in its writes
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
        """``interrupt_after`` names a task of the step that just ran."""
        if not _named(self.after, tasks):
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
                writes = [*task.writes, (ROUTE, list(task.routes))]
                if task.earlier:  # answered: its interrupts stay listed with its result
                    writes.append((INTERRUPT, list(task.earlier)))
                saved.append((task.id, writes))
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


def debug_event(step: int, kind: str, payload: Any) -> dict[str, Any]:
    stamp = datetime.now(timezone.utc).isoformat()
    return {"step": step, "timestamp": stamp, "type": kind, "payload": payload}
