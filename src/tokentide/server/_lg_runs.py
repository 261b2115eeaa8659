"""Agent Server runs on the runs machinery: `AgentRunManager` is a `RunManager` whose runs
stream a graph on a thread, write the Agent Server's events into the `StreamStore` (memory or
Redis: joinable and cancellable from any replica), and keep the thread's record (status,
values, interrupts) and the run's record in the `ThreadStore`.

Multitask strategies (a run started on a busy thread): ``reject`` is refused before the run
exists (``409``); ``interrupt`` and ``rollback`` cancel the thread's active runs, wherever
they run, and wait for them to stop (``rollback`` then starts from the state the first
cancelled run started from); ``enqueue`` waits for them to finish.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tokentide.runtime import aclose_if_closable

from ._lg_protocol import STREAM_MODES, EventEncoder, interrupt_json, jsonable
from ._lg_store import ACTIVE_RUN_STATUSES, ThreadStore
from ._runs import RunManager, RunRequest, RunTracker, dumps
from ._store import TERMINAL_STATUSES, StoreUnavailable, StreamStore

__all__ = ["AgentRunManager", "AgentRunRequest"]

logger = logging.getLogger("tokentide.server")

_POLL = 0.05
_STARTING = 30.0
"""Seconds a run recorded on its thread may go without a stream before it counts as lost."""


@dataclass(slots=True)
class AgentRunRequest(RunRequest):
    """A `RunRequest` of the Agent Server API: the graph to stream (with the checkpointer),
    its thread, what the client asked for and which runs must end first."""

    graph: Any = None
    thread_id: str | None = None
    stream_mode: tuple[str, ...] = ("values",)
    subgraphs: bool = False
    interrupt_before: Any = None
    interrupt_after: Any = None
    waits_for: list[str] = field(default_factory=list)
    rollback: bool = False
    #: A run without a thread of a graph with its own checkpointer runs on a thread of its
    #: own, deleted when the run ends (``on_completion: "delete"``).
    temporary_thread: str | None = None


class AgentRunManager(RunManager):
    """Starts Agent Server runs (and ``/v1/runs`` ones: other requests pass to `RunManager`).

    Example::

        manager = AgentRunManager(MemoryStreamStore(), MemoryThreadStore())
        await manager.start(request, run_id="...")   # an AgentRunRequest
    """

    def __init__(self, store: StreamStore, threads: ThreadStore, **options: Any) -> None:
        super().__init__(store, **options)
        self.threads = threads

    async def is_active(self, run: dict[str, Any]) -> bool:
        """Whether a run recorded as pending or running still is: a run whose replica was
        lost (its stream ended as ``failed``) or forgotten is recorded as ``error`` here."""
        if run.get("status") not in ACTIVE_RUN_STATUSES:
            return False
        record = await self.store.get_run(run["run_id"])
        if record is not None and record.status not in TERMINAL_STATUSES:
            return True
        if record is None and _age(run) < _STARTING:
            return True  # recorded on its thread, its stream not created yet
        current = await self.threads.get_run(run["run_id"])
        if current is None or current.get("status") not in ACTIVE_RUN_STATUSES:
            return False
        await self.threads.update_run(run["run_id"], status="error")
        if run.get("thread_id"):
            await self.threads.update_thread(run["thread_id"], status="error")
        return False

    async def _pump(self, run_id: str, request: RunRequest, tracker: RunTracker) -> None:
        if not isinstance(request, AgentRunRequest):
            await super()._pump(run_id, request, tracker)
            return
        tracker.kind = "graph"  # the run's output is the graph's last values
        thread_id = request.thread_id
        outcome = "error"
        try:
            if thread_id is not None:
                await self._wait_turn(request)
                await self._begin(run_id, request)
            await self._stream(run_id, request, tracker)
            outcome = "success"
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        finally:
            if thread_id is not None:
                await self._settle(run_id, request, outcome)
            elif request.temporary_thread is not None:
                await _forget(request.graph, request.temporary_thread)

    # ---------------------------------------------------------------- turns

    async def _wait_turn(self, request: AgentRunRequest) -> None:
        """Wait for the runs this one queued behind (or cancelled) to end."""
        first: dict[str, Any] | None = None
        for other_id in request.waits_for:
            while True:
                other = await self.threads.get_run(other_id)
                if other is None or not await self.is_active(other):
                    break
                await asyncio.sleep(_POLL)
            if first is None and other is not None:
                first = other
        if request.rollback and first is not None and not _has_checkpoint(request.config):
            before = (first.get("kwargs") or {}).get("checkpoint_before")
            configurable = dict((request.config or {}).get("configurable") or {})
            configurable["checkpoint_id"] = before
            if before is None:
                configurable.pop("checkpoint_id")
            request.config = {**(request.config or {}), "configurable": configurable}

    async def _begin(self, run_id: str, request: AgentRunRequest) -> None:
        before = None
        if request.graph is not None and request.graph.checkpointer is not None:
            snapshot = await request.graph.aget_state(_thread_config(request))
            before = (snapshot.config.get("configurable") or {}).get("checkpoint_id")
        await self.threads.update_run(
            run_id, status="running", kwargs={"checkpoint_before": before}
        )
        assert request.thread_id is not None
        await self.threads.update_thread(request.thread_id, status="busy")

    async def _settle(self, run_id: str, request: AgentRunRequest, outcome: str) -> None:
        """Record the run's end and the thread's state (values, interrupts, status)."""
        thread_id = request.thread_id
        assert thread_id is not None
        try:
            fields: dict[str, Any] = {"status": "idle" if outcome != "error" else "error"}
            graph = request.graph
            if graph is not None and graph.checkpointer is not None:
                snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
                interrupts = _interrupts_by_task(snapshot)
                fields["values"] = jsonable(snapshot.values or {})
                fields["interrupts"] = interrupts
                if outcome == "success" and (interrupts or snapshot.next):
                    fields["status"] = "interrupted"
            await self.threads.update_run(run_id, status=outcome)
            await self.threads.update_thread(thread_id, **fields)
        except Exception:
            logger.exception("run %s: the end of the run was not recorded on its thread", run_id)

    # ---------------------------------------------------------------- streaming

    async def _stream(self, run_id: str, request: AgentRunRequest, tracker: RunTracker) -> None:
        encoder = EventEncoder(request.stream_mode, subgraphs=request.subgraphs)
        modes = {STREAM_MODES[m] for m in request.stream_mode if m != "events"}
        options: dict[str, Any] = {
            "stream_mode": sorted(modes | {"values"}),
            "subgraphs": request.subgraphs,
        }
        if request.interrupt_before is not None:
            options["interrupt_before"] = request.interrupt_before
        if request.interrupt_after is not None:
            options["interrupt_after"] = request.interrupt_after
        graph = request.graph
        if "events" in request.stream_mode:
            stream = _with_events(graph.astream_events(request.input, request.config, **options))
        else:
            stream = graph.astream(request.input, request.config, **options)
        check = self._stop_check(run_id)
        try:
            async for item in stream:
                check()
                if item[0] == "events":
                    await self._append(run_id, "events", dumps(item[1]))
                    continue
                ns, mode, payload = item if len(item) == 3 else ((), *item)
                if mode == "values" and not ns:
                    tracker.observe("values", payload)
                for name, data in encoder.encode(tuple(ns), mode, payload):
                    await self._append(run_id, name, data)
            for name, data in encoder.finish():
                await self._append(run_id, name, data)
        finally:
            await aclose_if_closable(stream)

    async def _append(self, run_id: str, event: str, data: str) -> None:
        try:
            await self.store.append(run_id, event, data)
        except StoreUnavailable:
            await self._retrying(self.store.append, run_id, event, data)


async def _with_events(events: Any) -> Any:
    """``astream_events`` as stream items: the root run's ``on_chain_stream`` chunks are the
    graph's own items; every other event is an ``("events", event)`` item."""
    root: str | None = None
    try:
        async for event in events:
            if root is None:
                root = event["run_id"]
            if event["event"] == "on_chain_stream" and event["run_id"] == root:
                yield event["data"]["chunk"]
            else:
                yield "events", event
    finally:
        await aclose_if_closable(events)


def _age(run: dict[str, Any]) -> float:
    try:
        created = datetime.fromisoformat(run["created_at"])
    except (KeyError, TypeError, ValueError):
        return float("inf")
    return (datetime.now(timezone.utc) - created).total_seconds()


async def _forget(graph: Any, thread_id: str) -> None:
    try:
        await graph.checkpointer.adelete_thread(thread_id)
    except Exception:
        logger.exception("the checkpoints of a run without a thread were not deleted")


def _has_checkpoint(config: Any) -> bool:
    return bool(((config or {}).get("configurable") or {}).get("checkpoint_id"))


def _thread_config(request: AgentRunRequest) -> dict[str, Any]:
    configurable = dict((request.config or {}).get("configurable") or {})
    return {"configurable": {"thread_id": request.thread_id, **configurable}}


def _interrupts_by_task(snapshot: Any) -> dict[str, list[dict[str, Any]]]:
    """A thread's pending interrupts, by the id of the task that raised them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for task in getattr(snapshot, "tasks", ()) or ():
        task_interrupts = getattr(task, "interrupts", ()) or ()
        if task_interrupts:
            found[str(getattr(task, "id", ""))] = [interrupt_json(i) for i in task_interrupts]
    if not found:
        for item in getattr(snapshot, "interrupts", ()) or ():
            found.setdefault(str(getattr(item, "id", "")), []).append(interrupt_json(item))
    return found
