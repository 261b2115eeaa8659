"""Running a graph: one :class:`GraphRun` per call, with a sync and an async shell.

The scheduler (``_scheduler.py``) decides what runs; this module calls user code (nodes, path
functions) with the run context set, streams what the modes ask for and saves checkpoints.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from tokentide.errors import GraphBubbleUp, GraphInterrupt, ParentCommand
from tokentide.runtime import RunContext, enter_run, leave_run, new_run, run_sync_in_thread

from ._checkpointing import NULL_TASK_ID
from ._node import Branch, NodeSpec
from ._partial import kept_checkpoint
from ._run import GraphRun
from ._scheduler import Task

if TYPE_CHECKING:
    from tokentide.runtime import RunSink


__all__ = ["GraphRun", "run_async", "run_sync"]

# ---------------------------------------------------------------------------------- sync shell


def _call_sync(node: NodeSpec, run: RunContext, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    if node.runnable is not None:
        return node.runnable.invoke(args[0], run.child_config())
    if node.is_async:
        raise TypeError(
            f"node {node.name!r} is an async function: run the graph with ainvoke()/astream()"
        )
    token = enter_run(run)
    try:
        return node.action(*args, **kw)
    finally:
        leave_run(token)


def _call_path_sync(branch: Branch, state: Any, run: RunContext) -> Any:
    token = enter_run(run)
    try:
        if branch.wants_config:
            return branch.path(state, run.as_config())
        return branch.path(state)
    finally:
        leave_run(token)


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
    if g.out.modes or run.sink is not None:  # else began/ended do nothing
        g.began(task, run)
    try:
        args, kw = g.args(task, run)
        try:
            node = task.node
            if node.retry is None:
                output = _call_sync(node, run, args, kw)
            else:
                output = _retry_sync(node, run, args, kw)
        except ParentCommand as exc:  # a node of the subgraph this node runs sent it here
            output = replace(exc.command, graph=None)
        branches = g.finished(task, run, output)
        routes = []
        for index, branch in enumerate(branches):
            state = g.branch_input(task)
            if run.sink is None:  # no run of its own to report
                result = _call_path_sync(branch, state, run)
            else:
                result = _route_sync(branch, state, run, index)
            routes.extend(g.sched.resolve(branch, result))
        g.sched.record(task, routes)
    except GraphInterrupt as exc:
        g.task_interrupted(task, run, exc)
        return
    except BaseException as exc:
        g.failed(task, run, exc)
        raise
    if g.out.modes or run.sink is not None:
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
    if g.fork and g.saving is not None:
        g.emit_values()
        g.checkpointed(g.saving.save(g.sched, "fork", g.sched.upcoming()))
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
        if (g.resumed or g.before) and g.stops_before(tasks):
            yield
            return
        if g.out.modes:  # nothing to report otherwise
            g.step_started(tasks)
            g.cached(tasks)
        try:
            _run_tasks_sync(g, [t for t in tasks if not t.cached])
        except BaseException as exc:
            kept = kept_checkpoint(g, exc)
            if kept is not None and g.saving is not None:
                g.saving.saver.put(g.saving.config, *kept)
            raise
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
        if g.after and g.stops_after(tasks):
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
    token = enter_run(run)
    try:
        return await (node.afunc or node.action)(*args, **kw)
    finally:
        leave_run(token)


async def _call_path_async(branch: Branch, state: Any, run: RunContext) -> Any:
    result = _call_path_sync(branch, state, run)
    if branch.is_async:
        token = enter_run(run)
        try:
            result = await result
        finally:
            leave_run(token)
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
        try:
            output = await _retry_async(task.node, run, args, kw)
        except ParentCommand as exc:  # a node of the subgraph this node runs sent it here
            output = replace(exc.command, graph=None)
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
    if g.fork and g.saving is not None:
        g.emit_values()
        g.checkpointed(await g.saving.asave(g.sched, "fork", g.sched.upcoming()))
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
        try:
            await _run_tasks_async(g, [t for t in tasks if not t.cached])
        except BaseException as exc:
            kept = kept_checkpoint(g, exc)
            if kept is not None and g.saving is not None:
                await g.saving.saver.aput(g.saving.config, *kept)
            raise
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
