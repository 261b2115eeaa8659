"""The superstep scheduler: sans-I/O. Given the state and a step's writes, which tasks run next.

The shells (sync and async, in ``_loop.py``) call user code; this module never does. One step:

1. :meth:`Scheduler.prepare` turns the triggers written in the previous step into tasks
   (sorted by path, like LangGraph), or raises ``GraphRecursionError`` past the limit;
2. the shell runs the tasks; each finished task is fed to :meth:`Scheduler.record`
   (its state writes and where it routes to);
3. :meth:`Scheduler.commit` applies all writes of the step in task order and collects the
   triggers of the next step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tokentide.errors import GraphRecursionError, InvalidUpdateError
from tokentide.messages._ids import fast_uuid4

from ._node import Branch, NodeSpec
from ._state import StateSchema
from ._types import END, START, Command, Send

__all__ = ["GraphSpec", "Scheduler", "Task"]

PUSH = "__pregel_push"
PULL = "__pregel_pull"


@dataclass
class GraphSpec:
    """The compiled shape of a graph (immutable after ``compile()``)."""

    schema: StateSchema
    nodes: dict[str, NodeSpec]
    edges: dict[str, list[str]]
    joins: list[tuple[tuple[str, ...], str]]
    branches: dict[str, list[Branch]]
    #: node -> the trigger channels reported for its tasks (``branch:to:<node>`` and joins).
    triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.nodes:
            joins = [f"join:{'+'.join(src)}:{name}" for src, target in self.joins if target == name]
            self.triggers[name] = tuple(sorted([f"branch:to:{name}", *joins]))


@dataclass(eq=False)
class Task:
    """One node run within one step."""

    name: str
    node: NodeSpec
    input: Any
    triggers: tuple[str, ...]
    path: tuple[Any, ...]
    step: int
    id: str = field(default_factory=fast_uuid4)
    writes: list[tuple[str, Any]] = field(default_factory=list)
    routes: list[str | Send] = field(default_factory=list)
    update: Any = None
    done: bool = False
    #: The state when the step began (what a ``Send`` task may read besides its argument).
    state: Any = None
    #: What ``interrupt()`` raised in this run of the task (it paused).
    interrupts: list[Any] = field(default_factory=list)
    #: The answers to the task's ``interrupt()`` calls, in call order (a resumed task).
    resume: list[Any] = field(default_factory=list)
    #: How many ``interrupt()`` calls the running task made so far.
    asked: int = 0
    #: Finished before the run paused: its saved writes are applied, it does not run again.
    cached: bool = False
    #: Paused in the saved step and runs again: a subgraph it runs continues where it stopped.
    resuming: bool = False
    #: The interrupts it raised in the saved step (kept with its writes when it finishes).
    earlier: list[Any] = field(default_factory=list)
    #: The state as this task alone left it (made for its conditional edges; the state after
    #: the step when it is the step's only task).
    local: dict[str, Any] | None = None

    def state_writes(self, output: Any, schema: StateSchema) -> None:
        """Turn what the node returned into state writes and routes (``Command``, dict,
        ``None``, or a list of ``Command``s)."""
        self.update = output
        if output is None:
            return
        if type(output) is dict:  # the common case: a plain update
            self.writes.extend(output.items())
            return
        commands = output if isinstance(output, (list, tuple)) else [output]
        if commands and all(isinstance(c, Command) for c in commands):
            for command in commands:
                if command.graph is not None:
                    raise InvalidUpdateError(
                        f"Command(graph={command.graph!r}) from node {self.name!r}: only "
                        "Command.PARENT, from a node of a subgraph, is supported"
                    )
                if command.update is not None:
                    self.writes.extend(_pairs(command.update, schema))
                self.routes.extend(command.gotos())
            if len(commands) == 1:
                self.update = commands[0].update
            return
        self.writes.extend(_pairs(output, schema))


def _pairs(update: Any, schema: StateSchema) -> list[tuple[str, Any]]:
    if isinstance(update, (list, tuple)) and all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in update
    ):
        return list(update)
    return list(schema.coerce_input(update).items())


def _uid() -> str:
    return fast_uuid4()


class Scheduler:
    """The state of one run between steps: values, pending triggers, join barriers."""

    __slots__ = (
        "_ids",
        "answers",
        "asked",
        "done",
        "joins",
        "limit",
        "paused",
        "pending",
        "ran",
        "seed",
        "sends",
        "spec",
        "step",
        "values",
    )

    def __init__(
        self,
        spec: GraphSpec,
        values: dict[str, Any],
        *,
        step: int = 0,
        limit: int = 25,
        pending: Mapping[str, Iterable[str]] | None = None,
        joins: Mapping[str, Iterable[str]] | None = None,
        sends: Iterable[Send] = (),
        ids: Iterable[tuple[Any, ...]] = (),
    ) -> None:
        self.spec = spec
        self.values = values
        self.step = step
        self.limit = limit
        self.pending: dict[str, set[str]] = {k: set(v) for k, v in (pending or {}).items()}
        self.joins: dict[str, set[str]] = {k: set(v) for k, v in (joins or {}).items()}
        self.sends: list[Send] = list(sends)
        #: Ids promised to the next step's tasks (by :meth:`upcoming`, for checkpoints).
        self._ids: dict[tuple[Any, ...], str] = {(k[0], k[1]): k[2] for k in ids}
        #: Task id -> (state writes, routes) of tasks that finished before a pause.
        self.done: dict[str, tuple[list[tuple[str, Any]], list[str | Send]]] = {}
        #: Task id -> the answers its interrupts received so far.
        self.answers: dict[str, list[Any]] = {}
        #: Ids of the tasks that paused in the saved step (they run again, resuming).
        self.paused: set[str] = set()
        #: Task id -> the interrupts it raised in the saved step.
        self.asked: dict[str, list[Any]] = {}
        #: When set (a subgraph), task ids derive from it, the step and the task's path, so
        #: that a subgraph run again after a pause gives its tasks the same ids.
        self.seed: str | None = None
        #: The nodes whose writes made the current values (``update_state``'s default node).
        self.ran: list[str] = []

    # ------------------------------------------------------------------ input

    def start(self, input: Any) -> set[str]:
        """Apply the graph input and trigger the nodes after ``START``; return the keys
        written."""
        writes = list(self.spec.schema.coerce_input(input).items())
        updated = self.spec.schema.apply(self.values, writes)
        self._route_edges(START)
        self.ran = [START]
        return updated

    def start_routes(self, branch: Branch, result: Any) -> None:
        """Routes of a conditional edge from ``START`` (evaluated by the shell on the input)."""
        self._route_to(self.resolve(branch, result), START)

    # ------------------------------------------------------------------ one step

    def prepare(self) -> list[Task]:
        """The tasks of the next step (empty when the run is over)."""
        pending, sends = self.pending, self.sends
        if not pending and not sends:
            return []
        step = self.step + 1
        if step > self.limit:
            raise GraphRecursionError(
                f"Recursion limit of {self.limit} reached without hitting a stop condition. "
                "You can increase the limit by setting the `recursion_limit` config key."
            )
        self.step = step
        snapshot = dict(self.values)
        nodes = self.spec.nodes
        ids = self._ids
        tasks = [
            Task(
                s.node,
                nodes[s.node],
                s.arg,
                (PUSH,),
                (PUSH, i),
                step,
                ids.get((PUSH, i)) or self._new_id(step, (PUSH, i)),
                state=snapshot,
            )
            for i, s in enumerate(sends)
        ]
        tasks.extend(
            Task(
                name,
                nodes[name],
                snapshot,
                self.spec.triggers[name],
                (PULL, name),
                step,
                ids.get((PULL, name)) or self._new_id(step, (PULL, name)),
            )
            for name in sorted(pending)
        )
        self.pending, self.sends, self._ids = {}, [], {}
        if self.done or self.answers or self.paused or self.asked:
            self._restore(tasks)
        return tasks

    def _restore(self, tasks: list[Task]) -> None:
        """A resumed step: tasks that finished before the pause keep their saved writes;
        interrupted ones get the answers they already had."""
        for task in tasks:
            found = self.done.pop(task.id, None)
            if found is not None:
                task.writes, task.routes = list(found[0]), list(found[1])
                task.update = dict(found[0])
                task.cached = task.done = True
            task.resume = list(self.answers.pop(task.id, ()))
            task.resuming = task.id in self.paused
            task.earlier = list(self.asked.pop(task.id, ()))
        self.done.clear()
        self.answers.clear()
        self.paused.clear()
        self.asked.clear()

    def forget_ids(self) -> None:
        """Give the next step's tasks new ids (a fork or an update of a saved step)."""
        self._ids = {}

    def saved_ids(self) -> list[tuple[Any, ...]]:
        """The promised task ids, for a checkpoint (restored by the ``ids`` argument)."""
        return [(*key, tid) for key, tid in self._ids.items()]

    def upcoming(self) -> list[tuple[str, str]]:
        """``(name, id)`` of the tasks the next :meth:`prepare` will make, in the same order
        (``Send`` tasks first, in send order; then the triggered nodes by name)."""
        keys: list[tuple[tuple[Any, ...], str]] = [
            ((PUSH, i), s.node) for i, s in enumerate(self.sends)
        ]
        keys.extend(((PULL, name), name) for name in sorted(self.pending))
        ids, step = self._ids, self.step + 1
        return [
            (name, ids.get(key) or ids.setdefault(key, self._new_id(step, key)))
            for key, name in keys
        ]

    def _new_id(self, step: int, key: tuple[Any, ...]) -> str:
        if self.seed is None:
            return _uid()
        digest = hashlib.blake2b(f"{self.seed}|{step}|{key[0]}|{key[1]}".encode(), digest_size=16)
        return str(UUID(bytes=digest.digest()))

    def local_values(self, task: Task) -> dict[str, Any]:
        """The state as ``task`` alone left it (what its conditional edges see): a new dict
        each call, whose reduced values are copies (what an edge does to them stays its own)."""
        local = task.local
        if local is None:
            local = task.local = dict(self.values)
            self.spec.schema.apply(local, task.writes)
        values = dict(local)
        reducers = self.spec.schema.reducers
        for key, _ in task.writes:
            if key in reducers:
                value: Any = values.get(key)
                kind = type(value)
                if kind is list or kind is dict or kind is set:
                    values[key] = kind(value)
        return values

    def resolve(self, branch: Branch, result: Any) -> list[str | Send]:
        """Map a path function's result to destinations (validating unknown names)."""
        items: Sequence[Any] = result if isinstance(result, (list, tuple)) else [result]
        out: list[str | Send] = []
        for item in items:
            if isinstance(item, Send):
                out.append(item)
                continue
            dest = item
            if branch.path_map is not None:
                hashable = type(item) is str or isinstance(item, Hashable)
                if not hashable or item not in branch.path_map:
                    raise InvalidUpdateError(
                        f"At {branch.source!r} node, {branch.name!r} branch returned {item!r}, "
                        f"which is not in its path_map {list(branch.path_map)}"
                    )
                dest = branch.path_map[item]
            out.append(dest)
        return out

    def record(self, task: Task, routes: Iterable[str | Send] = ()) -> None:
        """A task finished: keep its routes (from ``Command.goto`` and conditional edges)."""
        task.routes.extend(routes)
        task.done = True

    def commit(self, tasks: Sequence[Task]) -> set[str]:
        """Apply the step's writes in task order; collect the next step's triggers."""
        local = tasks[0].local if len(tasks) == 1 else None
        if local is not None:  # the step's only task: its edges saw the state after the step
            keys = self.spec.schema.keys
            updated = {k for k, _ in tasks[0].writes if k in keys}
            values = self.values
            values.clear()
            values.update(local)
        else:
            writes = [w for task in tasks for w in task.writes]
            updated = self.spec.schema.apply(self.values, writes)
        for task in tasks:
            if task.path[0] == PULL:
                self._consume_joins(task.name)
            self._route_edges(task.name)
            self._route_to(task.routes, task.name)
        self.ran = sorted({task.name for task in tasks})
        return updated

    def update_as(self, node: str, writes: list[tuple[str, Any]]) -> None:
        """``update_state(..., as_node=node)``: apply ``writes`` as if ``node`` had just run
        (it no longer waits to run; what follows it is triggered). The shell adds the routes
        of the node's conditional edges."""
        self.spec.schema.apply(self.values, writes)
        self.pending.pop(node, None)
        if node != START:
            self._consume_joins(node)
        self._route_edges(node)
        self.ran = [node]

    # ------------------------------------------------------------------ routing

    def _route_edges(self, source: str) -> None:
        for target in self.spec.edges.get(source, ()):
            if target != END:
                self._trigger(target, f"branch:to:{target}")
        for sources, target in self.spec.joins:
            if source in sources:
                channel = f"join:{'+'.join(sources)}:{target}"
                seen = self.joins.setdefault(channel, set())
                seen.add(source)
                if seen.issuperset(sources) and target != END:
                    self._trigger(target, channel)

    def _consume_joins(self, target: str) -> None:
        for sources, join_target in self.spec.joins:
            if join_target == target:
                channel = f"join:{'+'.join(sources)}:{target}"
                seen = self.joins.get(channel)
                if seen is not None and seen.issuperset(sources):
                    del self.joins[channel]

    def _route_to(self, routes: Iterable[str | Send], source: str) -> None:
        for dest in routes:
            if isinstance(dest, Send):
                self._check_node(dest.node, source)
                self.sends.append(dest)
            elif dest != END:
                self._check_node(dest, source)
                self._trigger(dest, f"branch:to:{dest}")

    def route_to(self, routes: Iterable[str | Send], source: str) -> None:
        """Trigger ``routes`` for the next step (a resuming ``Command(goto=...)``)."""
        self._route_to(routes, source)

    def _check_node(self, name: str, source: str) -> None:
        if name not in self.spec.nodes:
            raise InvalidUpdateError(f"Node {source!r} routed to unknown node {name!r}")

    def _trigger(self, node: str, channel: str) -> None:
        self.pending.setdefault(node, set()).add(channel)
