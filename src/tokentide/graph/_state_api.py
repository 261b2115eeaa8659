"""A compiled graph's thread state: ``get_state``, ``get_state_history``, ``update_state``
(and their async twins), as LangGraph's ``Pregel`` offers them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tokentide.errors import InvalidUpdateError

from ._checkpointing import NULL_TASK_ID, Saving, next_ids, saved_results
from ._scheduler import PULL, PUSH, GraphSpec, Scheduler
from ._types import START, PregelTask, Send, StateSnapshot

if TYPE_CHECKING:
    from tokentide.checkpoint import BaseCheckpointSaver, Checkpoint, CheckpointTuple

    from ._node import Branch

__all__ = ["ThreadState", "scheduler_at"]


def scheduler_at(spec: GraphSpec, found: CheckpointTuple, limit: int) -> Scheduler:
    """A scheduler holding the saved step of ``found`` (values, what runs next, task ids)."""
    cp = found.checkpoint
    sched = Scheduler(
        spec,
        dict(cp["values"]),
        step=cp["step"],
        limit=cp["step"] + limit,
        pending=cp["pending"],
        joins=cp["joins"],
        sends=[Send(node, arg) for node, arg in cp.get("sends", ())],
        ids=[tuple(k) for k in cp.get("ids", ())],
    )
    sched.ran = list(cp.get("ran", ()))
    return sched


def _default_node(spec: GraphSpec, cp: Checkpoint) -> str:
    """LangGraph's ``as_node`` when none is given: the one node that wrote last (``START``
    before any node ran); two nodes of one step make it ambiguous."""
    if len(spec.nodes) == 1:
        return next(iter(spec.nodes))
    ran = [n for n in cp.get("ran", ()) if n in spec.nodes]
    if not ran and not [n for n in cp.get("ran", ()) if n != START]:
        return START
    if len(ran) != 1:
        raise InvalidUpdateError("Ambiguous update, specify as_node")
    return ran[0]


def _with_saved_writes(
    spec: GraphSpec, found: CheckpointTuple, tasks: list[PregelTask]
) -> dict[str, Any]:
    """The checkpoint's values with the writes its paused step saved (of no task, then of
    the tasks that finished), as LangGraph's snapshot shows them."""
    if not found.pending_writes:
        return found.checkpoint["values"]
    values = dict(found.checkpoint["values"])
    null = [(ch, v) for tid, ch, v in found.pending_writes if tid == NULL_TASK_ID]
    spec.schema.apply(values, [(ch, v) for ch, v in null if ch in spec.schema.keys])
    finished = {t.id: t.result for t in tasks if t.result}
    spec.schema.apply(values, [kv for r in finished.values() for kv in r.items()])
    return values


class ThreadState:
    """The state methods of :class:`CompiledStateGraph` (mixed into it)."""

    spec: GraphSpec
    checkpointer: BaseCheckpointSaver | None

    def _subgraph_nodes(self) -> frozenset[str]:
        raise NotImplementedError

    def _saver(self) -> BaseCheckpointSaver:
        if self.checkpointer is None:
            raise ValueError("No checkpointer set: compile(checkpointer=MemorySaver())")
        return self.checkpointer

    def _snapshot(
        self, config: Any, found: CheckpointTuple | None, subgraphs: bool = False
    ) -> StateSnapshot:
        if found is None:
            return StateSnapshot({}, (), dict(config or {}))
        cp = found.checkpoint
        names = list(cp["next"]) if "next" in cp else sorted(cp["pending"])
        done, paused = saved_results(found)
        tasks = []
        sends = len(cp.get("sends", ()))
        for index, (name, tid) in enumerate(zip(names, next_ids(cp), strict=False)):
            path: tuple[Any, ...] = (PUSH, index, False) if index < sends else (PULL, name)
            tasks.append(
                PregelTask(
                    tid,
                    name,
                    path,
                    interrupts=() if tid in done else tuple(paused.get(tid, ())),
                    state=self._task_state(found, name, tid, subgraphs),
                    result=done.get(tid),
                )
            )
        return StateSnapshot(
            values=_with_saved_writes(self.spec, found, tasks),
            next=tuple(t.name for t in tasks if t.result is None),
            config=found.config,
            metadata=found.metadata,
            created_at=cp["ts"],
            parent_config=found.parent_config,
            tasks=tuple(tasks),
            interrupts=tuple(i for t in tasks for i in t.interrupts),
        )

    def _task_state(
        self, found: CheckpointTuple, name: str, task_id: str, subgraphs: bool = False
    ) -> Any:
        """A subgraph task's own state: its config, or (``subgraphs=True``) its snapshot."""
        if name not in self._subgraph_nodes():
            return None
        conf = found.config["configurable"]
        ns = f"{name}:{task_id}"
        if conf.get("checkpoint_ns"):
            ns = f"{conf['checkpoint_ns']}|{ns}"
        config = {"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": ns}}
        sub = self.spec.nodes[name].runnable
        if not subgraphs or self.checkpointer is None or not isinstance(sub, ThreadState):
            return config
        inner = self.checkpointer.get_tuple(config)
        return sub._snapshot(config, inner, True) if inner is not None else config

    # ------------------------------------------------------------------ reading

    def get_state(self, config: Mapping[str, Any], *, subgraphs: bool = False) -> StateSnapshot:
        """The saved state of the thread in ``config["configurable"]["thread_id"]``: the
        latest, or the one its ``checkpoint_id`` names. ``next`` names the nodes that run
        next, ``tasks`` their :class:`PregelTask` (with the interrupts of paused ones),
        ``interrupts`` every pending :class:`Interrupt`. With ``subgraphs=True`` a subgraph
        task's ``state`` is the subgraph's own snapshot (else the config naming it)."""
        saver = self._saver()
        return self._snapshot(config, saver.get_tuple(Saving.thread_config(config)), subgraphs)

    async def aget_state(
        self, config: Mapping[str, Any], *, subgraphs: bool = False
    ) -> StateSnapshot:
        """Async :meth:`get_state`."""
        saver = self._saver()
        found = await saver.aget_tuple(Saving.thread_config(config))
        return await self._asnapshot(config, found, subgraphs)

    async def _asnapshot(
        self, config: Any, found: CheckpointTuple | None, subgraphs: bool
    ) -> StateSnapshot:
        """`_snapshot` reading subgraph snapshots with the saver's async methods (an async
        saver such as `AsyncPostgresSaver` has no sync ones)."""
        snapshot = self._snapshot(config, found, False)
        if not subgraphs or found is None or self.checkpointer is None:
            return snapshot
        tasks = []
        for task in snapshot.tasks:
            sub = self.spec.nodes[task.name].runnable if task.name in self.spec.nodes else None
            if isinstance(sub, ThreadState) and isinstance(task.state, dict):
                inner = await self.checkpointer.aget_tuple(task.state)
                if inner is not None:
                    task = task._replace(state=await sub._asnapshot(task.state, inner, True))
            tasks.append(task)
        return snapshot._replace(tasks=tuple(tasks))

    def get_state_history(
        self, config: Mapping[str, Any], *, limit: int | None = None, **kwargs: Any
    ) -> Iterator[StateSnapshot]:
        """Every saved state of the thread, newest first (pass one's ``config`` to
        ``invoke(None, config)`` to run again from there: time travel)."""
        saver = self._saver()
        for found in saver.list(Saving.thread_config(config), limit=limit):
            yield self._snapshot(config, found)

    async def aget_state_history(
        self, config: Mapping[str, Any], *, limit: int | None = None, **kwargs: Any
    ) -> AsyncIterator[StateSnapshot]:
        """Async :meth:`get_state_history`."""
        saver = self._saver()
        async for found in saver.alist(Saving.thread_config(config), limit=limit):
            yield self._snapshot(config, found)

    # ------------------------------------------------------------------ writing

    def _updated(
        self, found: CheckpointTuple | None, values: Any, as_node: str | None
    ) -> tuple[Scheduler, str, list[Branch]]:
        if found is None:
            sched = Scheduler(self.spec, self.spec.schema.initial(), step=-1)
            node = as_node or START
        else:
            sched = scheduler_at(self.spec, found, 25)
            sched.forget_ids()  # a new checkpoint: its tasks get new ids (as LangGraph)
            node = as_node or _default_node(self.spec, found.checkpoint)
        if node != START and node not in self.spec.nodes:
            raise InvalidUpdateError(f"Node {node} does not exist")
        writes = [] if values is None else list(self.spec.schema.coerce_input(values).items())
        sched.update_as(node, writes)
        sched.step += 1
        return sched, node, self.spec.branches.get(node, [])

    def _save_update(self, saving: Saving, sched: Scheduler) -> tuple[Checkpoint, dict[str, Any]]:
        return saving._make(sched, "update", sched.upcoming())

    def update_state(
        self, config: Mapping[str, Any], values: Any, as_node: str | None = None
    ) -> dict[str, Any]:
        """Change the thread's state as if node ``as_node`` had returned ``values`` (by
        default the node that ran last): its reducers apply, the nodes after it run next.
        Saves a new checkpoint (``metadata["source"] == "update"``) and returns its config;
        continue with ``invoke(None, config)``."""
        saver = self._saver()
        saving, found = Saving.open(saver, config)
        sched, node, branches = self._updated(found, values, as_node)
        for branch in branches:
            state = self.spec.schema.view(sched.values)
            result = branch.path(state, {}) if branch.wants_config else branch.path(state)
            sched.route_to(sched.resolve(branch, result), node)
        checkpoint, metadata = self._save_update(saving, sched)
        return saver.put(saving.config, checkpoint, metadata)

    async def aupdate_state(
        self, config: Mapping[str, Any], values: Any, as_node: str | None = None
    ) -> dict[str, Any]:
        """Async :meth:`update_state` (an async path function of the node's conditional
        edges is awaited)."""
        saver = self._saver()
        saving, found = await Saving.aopen(saver, config)
        sched, node, branches = self._updated(found, values, as_node)
        for branch in branches:
            state = self.spec.schema.view(sched.values)
            result = branch.path(state, {}) if branch.wants_config else branch.path(state)
            if branch.is_async:
                result = await result
            sched.route_to(sched.resolve(branch, result), node)
        checkpoint, metadata = self._save_update(saving, sched)
        return await saver.aput(saving.config, checkpoint, metadata)
