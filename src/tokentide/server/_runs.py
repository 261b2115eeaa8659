"""Runs: executing an assistant in the background, into a `StreamStore`.

A run is started by ``POST /v1/runs``; its task writes every streamed item into the store as an
event (``metadata`` first, then ``messages`` / ``values`` / ``updates`` / ``custom`` items, then
``end`` or ``error``) and keeps the run record (status, output, usage, error) up to date. Readers
(the response of ``POST /v1/runs``, any number of ``GET /v1/runs/{id}/stream``) read the store
at their own pace, so a slow or departed reader never holds the run up, and a reader can resume
from any event id.

A graph compiled with a checkpointer runs on a thread (``thread_id``, given or new); a run
whose graph pauses ends with status ``interrupted`` and an ``interrupt`` event before ``end``,
and ``POST /v1/runs`` with the ``thread_id`` and ``command: {"resume": ...}`` continues it
(see ``_runs_threads``).

A cancel request (``POST /v1/runs/{id}/cancel``, on any replica sharing the store) reaches the
run through ``StreamStore.wait_cancel``; the run task is cancelled, which closes the model
stream (the upstream HTTP response, the local model's generation loop). A cancelled run keeps
what it produced: its record holds the merged output and the usage counted so far.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    UsageMetadata,
    add_usage,
    message_chunk_to_message,
)
from tokentide.runnables import RunnableConfig
from tokentide.runtime import aclose_if_closable

from ._asgi import HTTPError
from ._assistants import Assistant, Ticket
from ._openai_api import error_payload
from ._runs_threads import interrupts_in, parse_thread
from ._store import (
    TERMINAL_STATUSES,
    RunNotFound,
    RunRecord,
    RunStatus,
    StoreUnavailable,
    StreamStore,
)

__all__ = ["OnDisconnect", "RunManager", "RunRequest", "RunTracker", "dumps", "parse_run_request"]

OnDisconnect = Literal["cancel", "continue"]
_T = TypeVar("_T")
logger = logging.getLogger("tokentide.server")
_CONFIG_KEYS = frozenset({"tags", "metadata", "configurable", "recursion_limit", "run_name"})


def _default(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return value.model_dump()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)
dumps = _encoder.encode
"""Compact one-line JSON of a streamed item (messages as their ``model_dump()`` dicts)."""


@dataclass(slots=True)
class RunRequest:
    """A validated ``POST /v1/runs`` body."""

    assistant: Assistant
    input: Any
    modes: tuple[str, ...]
    config: RunnableConfig | None
    on_disconnect: OnDisconnect
    stream: bool
    #: The graph thread (a graph compiled with a checkpointer): given, or a new one.
    thread_id: str | None = None


def _bad(message: str, param: str | None = None) -> HTTPError:
    return HTTPError(400, message, param=param)


def parse_run_request(body: Any, assistants: Mapping[str, Assistant]) -> RunRequest:
    """Validate a decoded body; 400 says what is wrong, 404 names an unknown assistant."""
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object, got {type(body).__name__}")
    name = body.get("assistant")
    if not isinstance(name, str) or not name:
        raise _bad("'assistant' is required and must be a non-empty string", "assistant")
    assistant = assistants.get(name)
    if assistant is None:
        raise HTTPError(
            404,
            f"no assistant named {name!r}; see GET /v1/models",
            param="assistant",
            code="assistant_not_found",
        )
    thread_id, command = parse_thread(body, name, assistant.target, assistant.kind)
    if command is not None:
        value = command
    elif "input" not in body:
        raise _bad("'input' is required", "input")
    else:
        try:
            value = assistant.parse_input(body["input"])
        except (TypeError, ValueError, KeyError) as exc:
            raise _bad(f"invalid 'input' for {name!r}: {exc}", "input") from None
    modes = _modes(body.get("stream_mode"), assistant)
    on_disconnect = body.get("on_disconnect", "cancel")
    if on_disconnect not in ("cancel", "continue"):
        raise _bad("'on_disconnect' must be 'cancel' or 'continue'", "on_disconnect")
    stream = body.get("stream", True)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")
    config = _config(body.get("config"))
    if thread_id is not None:
        config = config or RunnableConfig()
        config["configurable"] = {**config.get("configurable", {}), "thread_id": thread_id}
    return RunRequest(assistant, value, modes, config, on_disconnect, stream, thread_id)


def _modes(raw: Any, assistant: Assistant) -> tuple[str, ...]:
    if raw is None:
        return assistant.default_modes
    modes = [raw] if isinstance(raw, str) else raw
    if not isinstance(modes, list) or not modes or not all(isinstance(m, str) for m in modes):
        raise _bad("'stream_mode' must be a string or a non-empty array of strings", "stream_mode")
    for mode in modes:
        if mode not in assistant.modes:
            allowed = ", ".join(sorted(assistant.modes))
            raise _bad(
                f"stream_mode {mode!r} is not available for {assistant.name!r} "
                f"(a {assistant.kind}); use: {allowed}",
                "stream_mode",
            )
    return tuple(dict.fromkeys(modes))


def _config(raw: Any) -> RunnableConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("'config' must be an object", "config")
    unknown = set(raw) - _CONFIG_KEYS
    if unknown:
        raise _bad(
            f"unknown 'config' keys: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(_CONFIG_KEYS))})",
            "config",
        )
    for key, (kind, what) in _CONFIG_TYPES.items():
        if key in raw and not _is(raw[key], kind):
            raise _bad(
                f"'config.{key}' must be {what}, got {type(raw[key]).__name__}", f"config.{key}"
            )
    return RunnableConfig(**raw)  # type: ignore[typeddict-item]


_CONFIG_TYPES: dict[str, tuple[str, str]] = {
    "tags": ("tags", "an array of strings"),
    "metadata": ("object", "an object"),
    "configurable": ("object", "an object"),
    "recursion_limit": ("limit", "a positive integer"),
    "run_name": ("str", "a string"),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "tags":
        return isinstance(value, list) and all(isinstance(tag, str) for tag in value)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "limit":
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    return isinstance(value, str)


class RunTracker:
    """Folds a run's items into its output and usage (kept also when the run is cancelled).

    Messages are merged per message id; a message whose usage never arrived (cut short) counts
    one output token per streamed text chunk.
    """

    __slots__ = ("kind", "messages", "counts", "values", "interrupts")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.messages: dict[str, ChunkAccumulator | AIMessage] = {}
        self.counts: dict[str, int] = {}
        self.values: Any = None
        #: The interrupts the graph paused with (``[{"value", "id"}]``), if it paused.
        self.interrupts: list[dict[str, Any]] | None = None

    def observe(self, mode: str, payload: Any) -> None:
        if mode == "values":
            found = interrupts_in(payload, dumps)
            if found is None:
                self.values = payload
            else:
                self.interrupts = (self.interrupts or []) + found
            return
        if mode != "messages":
            return
        message = payload[0] if isinstance(payload, tuple) else payload
        if isinstance(message, AIMessageChunk):
            key = message.id or ""
            acc = self.messages.get(key)
            if not isinstance(acc, ChunkAccumulator):
                acc = self.messages[key] = ChunkAccumulator()
            acc.add(message)
            if message.content:
                self.counts[key] = self.counts.get(key, 0) + 1
        elif isinstance(message, AIMessage):
            self.messages.setdefault(message.id or "", message)

    def merged(self) -> list[AIMessage]:
        out: list[AIMessage] = []
        for item in self.messages.values():
            out.append(
                message_chunk_to_message(item.result())
                if isinstance(item, ChunkAccumulator)
                else item
            )
        return out

    def partial(self) -> AIMessageChunk | None:
        last = next(reversed(self.messages.values()), None)
        return last.result() if isinstance(last, ChunkAccumulator) else None

    def usage(self) -> UsageMetadata | None:
        total: UsageMetadata | None = None
        for key, item in self.messages.items():
            usage = item.usage_metadata
            if usage is None and key in self.counts:
                n = self.counts[key]
                usage = {"input_tokens": 0, "output_tokens": n, "total_tokens": n}
            total = add_usage(total, usage)
        return total

    def output(self) -> Any:
        if self.kind == "model":
            merged = self.merged()
            return merged[-1].to_dict() if merged else None
        if self.values is not None:
            return json.loads(dumps(self.values))
        return {"messages": [m.model_dump() for m in self.merged()]}


class _Active:
    __slots__ = ("stop", "task", "watcher")

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.watcher: asyncio.Task[None] | None = None
        #: Set with the run task's cancellation: the run also stops at its next event, should
        #: a client library swallow the cancellation (redis-py's ``asyncio.wait_for`` on
        #: Python < 3.12 loses one that arrives as its write completes).
        self.stop = False

    def cancel(self) -> None:
        """Ask the run to stop: its task is cancelled, and its next event raises (`check`)."""
        self.stop = True
        if self.task is not None:
            self.task.cancel()

    def check(self) -> None:
        """Raise `asyncio.CancelledError` if the run was asked to stop."""
        if self.stop:
            raise asyncio.CancelledError


class RunManager:
    """Starts runs on this replica and cancels them on request from any replica.

    ``cancel_wait``: how long :meth:`cancel` waits for the run to stop. ``store_grace``: how
    long a run rides out an unavailable store (Redis restarting): its next event, then its
    final record, are retried with backoff for that long before the run gives up (its
    generation is stopped; whatever could not be written is lost).

    Example::

        manager = RunManager(MemoryStreamStore())
        run_id = await manager.start(request)   # a RunRequest from parse_run_request
        async for event in manager.store.read(run_id):
            print(event.id, event.event, event.data)
    """

    def __init__(
        self, store: StreamStore, *, cancel_wait: float = 2.0, store_grace: float = 30.0
    ) -> None:
        self.store = store
        self.cancel_wait = cancel_wait
        self.store_grace = store_grace
        self._active: dict[str, _Active] = {}
        #: Every run task and cancel watcher until it is done (a run leaves ``_active`` before
        #: it records its end): `aclose` waits for them before the store closes.
        self._tasks: set[asyncio.Task[None]] = set()
        #: Called with each run's record once it reached its final status (server metrics).
        self.on_finish: Callable[[RunRecord], None] | None = None

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._active

    async def start(self, request: RunRequest, run_id: str | None = None) -> str:
        """Create the run (``run_id``: a new id chosen by the caller, else one is made),
        write its ``metadata`` event, and start its task."""
        gate = request.assistant.gate
        ticket = gate.reserve() if gate is not None else None  # 503 before anything exists
        run_id = run_id or f"run_{uuid.uuid4().hex}"
        try:
            record = RunRecord(
                run_id=run_id,
                assistant=request.assistant.name,
                metadata={
                    "stream_mode": list(request.modes),
                    "on_disconnect": request.on_disconnect,
                },
                thread_id=request.thread_id,
            )
            await self.store.create_run(record)
            meta = {
                "run_id": run_id,
                "assistant": record.assistant,
                "stream_mode": list(request.modes),
            }
            if request.thread_id is not None:
                meta["thread_id"] = request.thread_id
            await self.store.append(run_id, "metadata", dumps(meta))
        except BaseException:
            if ticket is not None:
                ticket.release()
            raise
        active = self._active[run_id] = _Active()
        active.task = asyncio.create_task(self._run(record, request, ticket))
        active.watcher = asyncio.create_task(self._watch_cancel(run_id, active))
        for task in (active.task, active.watcher):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return run_id

    async def _watch_cancel(self, run_id: str, active: _Active) -> None:
        try:
            await self.store.wait_cancel(run_id)
        except RunNotFound:
            return  # the run's own writes report it
        except Exception:
            logger.exception("run %s: cancel requests can no longer reach it", run_id)
            return
        if self._active.get(run_id) is active:  # (not once it is recording its end)
            active.cancel()

    async def _run(self, record: RunRecord, request: RunRequest, ticket: Ticket | None) -> None:
        run_id = record.run_id
        tracker = RunTracker(request.assistant.kind)
        status: RunStatus = "success"
        error: dict[str, Any] | None = None
        try:
            if ticket is not None:
                await ticket.wait()
            record.status = "running"
            await self._retrying(self.store.update_run, record)
            await self._pump(run_id, request, tracker)
        except asyncio.CancelledError:
            status = "cancelled"
        except Exception as exc:
            status = "error"
            error = error_payload(exc, tracker.partial())
            logger.error("run %s of %r failed", run_id, request.assistant.name, exc_info=exc)
        finally:
            if ticket is not None:
                ticket.release()
            active = self._active.pop(run_id, None)
            if active is not None and active.watcher is not None:
                active.watcher.cancel()
        try:
            await self._finish(record, tracker, status, error)
        except (RunNotFound, RuntimeError) as exc:
            # Expired or evicted, or ended by another replica (this one lost its lease).
            logger.warning("run %s: its end was not recorded: %s", run_id, exc)
        except StoreUnavailable as exc:
            logger.error("run %s: its end was not recorded, the store stayed away: %s", run_id, exc)
        except Exception:
            logger.exception("run %s: its end was not recorded", run_id)

    async def _retrying(self, call: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """``await call(*args)``, retried with backoff while the store is unavailable, for up
        to ``store_grace`` seconds."""
        deadline = time.monotonic() + self.store_grace
        pause = 0.1
        while True:
            try:
                return await call(*args)
            except StoreUnavailable:
                if time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def _pump(self, run_id: str, request: RunRequest, tracker: RunTracker) -> None:
        wanted = request.modes
        modes = wanted
        if request.assistant.kind == "graph":
            modes = tuple(dict.fromkeys((*wanted, "messages", "values")))
        append = self.store.append
        check = self._stop_check(run_id)
        stream = request.assistant.astream(request.input, request.config, modes)
        try:
            async for mode, payload in stream:
                check()
                tracker.observe(mode, payload)
                if mode in wanted:
                    data = dumps(payload)
                    try:
                        await append(run_id, mode, data)
                    except StoreUnavailable:
                        await self._retrying(append, run_id, mode, data)
        finally:
            await aclose_if_closable(stream)

    def _stop_check(self, run_id: str) -> Callable[[], None]:
        """What the run's event loop calls per event: raises `asyncio.CancelledError` once
        the run was asked to stop (see `_Active.stop`). The run is active while it streams."""
        return self._active[run_id].check

    async def _finish(
        self,
        record: RunRecord,
        tracker: RunTracker,
        status: RunStatus,
        error: dict[str, Any] | None,
    ) -> None:
        run_id = record.run_id
        if status == "success" and tracker.interrupts:
            status = "interrupted"
            record.interrupts = tracker.interrupts
        record.status = status
        record.output = tracker.output()
        usage = tracker.usage()
        record.usage = dict(usage) if usage is not None else None
        record.error = error
        record.updated_at = time.time()
        if self.on_finish is not None:
            self.on_finish(record)
        try:
            await self._retrying(self.store.update_run, record)
            if error is not None:
                await self._retrying(self.store.append, run_id, "error", dumps(error))
            else:
                if record.interrupts:
                    paused = {
                        "run_id": run_id,
                        "thread_id": record.thread_id,
                        "interrupts": record.interrupts,
                    }
                    await self._retrying(self.store.append, run_id, "interrupt", dumps(paused))
                end = {"run_id": run_id, "status": status, "usage": record.usage}
                await self._retrying(self.store.append, run_id, "end", dumps(end))
        finally:
            await self._retrying(self.store.end_stream, run_id)

    async def cancel(self, run_id: str) -> RunRecord | None:
        """Ask the run to stop (wherever it runs) and wait up to ``cancel_wait`` seconds for it
        to reach a terminal status; the record as it then is (``None``: unknown run)."""
        await self.store.request_cancel(run_id)
        active = self._active.get(run_id)
        if active is not None and active.task is not None:
            await asyncio.wait((active.task,), timeout=self.cancel_wait)
        else:
            deadline = time.monotonic() + self.cancel_wait
            while time.monotonic() < deadline:
                record = await self.store.get_run(run_id)
                if record is None or record.status in TERMINAL_STATUSES:
                    return record
                await asyncio.sleep(0.02)
        return await self.store.get_run(run_id)

    async def aclose(self) -> None:
        """Cancel every run of this replica and wait for them to record their end (and for
        the runs already recording theirs), so that none writes to a closed store."""
        for active in self._active.values():
            active.cancel()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:  # still recording their end in an unavailable store
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
