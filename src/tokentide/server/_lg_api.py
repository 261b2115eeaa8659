"""The LangGraph Agent Server API on ``tokentide serve``: the subset that ``langgraph_sdk``,
``@langchain/langgraph-sdk`` (``Client``, ``useStream``) and Agent Chat UI use.

Routes (with an API key set, send it as ``x-api-key`` as the SDKs do, or as ``Authorization:
Bearer``):

- ``POST /assistants/search``, ``GET /assistants/{id}``: each served graph or model.
- ``POST /threads``, ``POST /threads/search``, ``GET`` / ``DELETE /threads/{id}``.
- ``GET /threads/{id}/state[/{checkpoint_id}]``, ``POST /threads/{id}/state`` (update),
  ``POST /threads/{id}/history``.
- ``POST /threads/{id}/runs/stream``, ``POST /runs/stream`` (no thread), ``POST
  /threads/{id}/runs/wait``, ``POST /runs/wait``, ``POST /threads/{id}/runs`` (background),
  ``GET /threads/{id}/runs``.
- ``GET /threads/{id}/runs/{run_id}``, ``GET .../{run_id}/stream`` (join; resumes after
  ``Last-Event-ID``), ``GET .../{run_id}/join``, ``POST .../{run_id}/cancel``.

Errors are ``{"detail": "..."}`` with the status the Agent Server uses (``422`` for an invalid
request, ``404``, ``409`` for a busy thread with ``multitask_strategy: "reject"``).
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._asgi import (
    EventStream,
    HTTPError,
    Receive,
    Scope,
    Send,
    send_json,
    shorten,
    watch_disconnect,
)
from ._assistants import Assistant
from ._lg_http import (
    Handler,
    by_method,
    event_filter,
    flag,
    frame,
    last_event_id,
    query_of,
    run_input,
    run_record,
    takes,
)
from ._lg_protocol import AgentServerError, RunSpec, error_event, invalid, parse_run
from ._lg_resources import (
    Graphs,
    create_thread,
    graph_input,
    history,
    new_thread,
    search_assistants,
    search_threads,
    valid_thread_id,
)
from ._lg_runs import AgentRunManager, AgentRunRequest
from ._lg_store import ThreadStore, thread_store_for
from ._runs_http import reader_error, request_cancel_quietly
from ._store import EventsExpired, RunNotFound, StoreUnavailable, StreamStore

__all__ = ["AgentServerAPI", "is_agent_server_path"]

JsonReader = Callable[[Scope, Receive], Awaitable[Any]]

_THREAD = re.compile(
    r"^/threads/([^/]+)(?:/(state|history|runs)(?:/([^/]+)(?:/(stream|cancel|join))?)?)?$"
)
_PREFIXES = ("/assistants", "/threads", "/runs")
_NOT_AGENT_SERVER = frozenset({"interrupt"})


def is_agent_server_path(path: str) -> bool:
    """Whether ``path`` belongs to the Agent Server API."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in _PREFIXES)


def _interrupts_of(state: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A ``ThreadState``'s pending interrupts by task id (the ``Thread.interrupts`` shape)."""
    return {task["id"]: task["interrupts"] for task in state["tasks"] if task["interrupts"]}


class AgentServerAPI:
    """The Agent Server routes of a `TokentideApp` (``app.agent_server``)."""

    def __init__(
        self,
        assistants: dict[str, Assistant],
        store: StreamStore,
        read_json: JsonReader,
        *,
        api_key: str | None = None,
        checkpointer: Any = None,
        threads: ThreadStore | None = None,
        heartbeat: float | None = 15.0,
        cancel_wait: float = 2.0,
    ) -> None:
        self.graphs = Graphs(assistants, checkpointer)
        self.threads = threads if threads is not None else thread_store_for(self.graphs.savers())
        self.store = store
        self.runs = AgentRunManager(store, self.threads, cancel_wait=cancel_wait)
        self.read_json = read_json
        self.api_key = api_key
        self.heartbeat = heartbeat

    async def aclose(self) -> None:
        await self.runs.aclose()
        await self.threads.aclose()

    # ---------------------------------------------------------------- routing

    def route(self, method: str, path: str, scope: Scope) -> Handler:
        self._authenticate(scope)
        handler = self._find(method, path, scope)

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await handler(scope, receive, send)
            except AgentServerError:
                raise
            except HTTPError as error:  # body limits, content type: in the Agent Server shape
                raise AgentServerError(error.status, error.message, headers=error.headers) from None
            except StoreUnavailable as exc:
                raise AgentServerError(
                    503,
                    f"the run store is unavailable; try again in {exc.retry_after} s",
                    headers=[(b"retry-after", str(exc.retry_after).encode())],
                ) from None

        return guarded

    def _find(self, method: str, path: str, scope: Scope) -> Handler:
        fixed: dict[str, dict[str, Handler]] = {
            "/assistants/search": {"POST": self._search_assistants},
            "/threads": {"POST": self._create_thread},
            "/threads/search": {"POST": self._search_threads},
            "/runs/stream": {"POST": self._stream_run},
            "/runs/wait": {"POST": self._wait_run},
        }
        if path in fixed:
            return by_method(fixed[path], method, path)
        if path.startswith("/assistants/") and path.count("/") == 2:
            scope["lg_id"] = path.rsplit("/", 1)[1]
            return by_method({"GET": self._get_assistant}, method, path)
        match = _THREAD.match(path)
        if match is None:
            raise AgentServerError(404, f"no route {path!r} in the Agent Server API")
        thread_id, part, item, action = match.groups()
        if not valid_thread_id(thread_id):  # no such thread can exist
            raise AgentServerError(404, f"thread {shorten(thread_id)} not found")
        scope["lg_thread"], scope["lg_item"] = thread_id, item
        table: Mapping[str, Handler]
        if part is None:
            table = {"GET": self._get_thread, "DELETE": self._delete_thread}
        elif part == "state" and item == "checkpoint":
            table = {"POST": self._state_at}
        elif part == "state":
            table = {"GET": self._get_state} if item else self._state_table()
        elif part == "history" and item is None:
            table = {"POST": self._history}
        elif item is None:
            table = {"POST": self._create_run, "GET": self._list_runs}
        elif action is None and item in ("stream", "wait"):
            table = {"POST": self._stream_run if item == "stream" else self._wait_run}
        else:
            table = {
                None: {"GET": self._get_run},
                "stream": {"GET": self._join_stream},
                "join": {"GET": self._join},
                "cancel": {"POST": self._cancel},
            }[action]
        return by_method(table, method, path)

    def _state_table(self) -> dict[str, Handler]:
        return {"GET": self._get_state, "POST": self._update_state}

    def _authenticate(self, scope: Scope) -> None:
        if self.api_key is None:
            return
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"x-api-key":
                given = value.strip()
            elif name == b"authorization" and not given:
                scheme, _, token = value.strip().partition(b" ")
                given = token.strip() if scheme.lower() == b"bearer" else b""
        if not hmac.compare_digest(given, self.api_key.encode()):
            what = "no API key was given" if not given else "the API key is not valid"
            raise AgentServerError(
                401, f"{what}: send it in the 'x-api-key' header (langgraph_sdk: api_key=...)"
            )

    async def _body(self, scope: Scope, receive: Receive) -> Any:
        return await self.read_json(scope, receive)

    async def _thread(self, scope: Scope) -> dict[str, Any]:
        thread_id = scope["lg_thread"]
        thread = await self.threads.get_thread(thread_id)
        if thread is None:
            raise AgentServerError(404, f"thread {thread_id!r} not found")
        return thread

    # ---------------------------------------------------------------- assistants, threads

    async def _search_assistants(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, search_assistants(self.graphs, await self._body(scope, receive)))

    async def _get_assistant(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.graphs.assistant(scope["lg_id"])
        await send_json(send, 200, self.graphs.json(scope["lg_id"]))

    async def _create_thread(self, scope: Scope, receive: Receive, send: Send) -> None:
        thread = await create_thread(self.threads, await self._body(scope, receive))
        await send_json(send, 200, thread)

    async def _search_threads(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = await search_threads(self.threads, await self._body(scope, receive))
        await send_json(send, 200, found)

    async def _get_thread(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, await self._thread(scope))

    async def _delete_thread(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Cancel the thread's runs, then delete it: its record, runs and checkpoints."""
        thread = await self._thread(scope)
        for run in await self.threads.list_runs(thread["thread_id"]):
            if await self.runs.is_active(run):
                await self.runs.cancel(run["run_id"])
        graph = self.graphs.graph_of(thread)
        if graph is not None:
            await graph.checkpointer.adelete_thread(thread["thread_id"])
        await self.threads.delete_thread(thread["thread_id"])
        await send(
            {"type": "http.response.start", "status": 204, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})

    async def _get_state(self, scope: Scope, receive: Receive, send: Send) -> None:
        thread = await self._thread(scope)
        await send_json(send, 200, await self.graphs.state(thread, scope["lg_item"]))

    async def _state_at(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /threads/{id}/state/checkpoint``: the state at ``body.checkpoint``."""
        thread = await self._thread(scope)
        body = await self._body(scope, receive)
        checkpoint = body.get("checkpoint") if isinstance(body, dict) else None
        if not isinstance(checkpoint, dict):
            raise invalid("'checkpoint' is required: {\"checkpoint_id\": ...}")
        state = await self.graphs.state(thread, checkpoint.get("checkpoint_id"))
        await send_json(send, 200, state)

    async def _update_state(self, scope: Scope, receive: Receive, send: Send) -> None:
        thread = await self._thread(scope)
        body = await self._body(scope, receive)
        allowed = {"values", "as_node", "checkpoint", "checkpoint_id"}
        if not isinstance(body, dict) or set(body) - allowed:
            raise invalid(f"a state update takes the fields {', '.join(sorted(allowed))}")
        graph = self.graphs.graph_of(thread)
        if graph is None:
            raise invalid(
                "this thread has no graph yet: run an assistant on it first, or create it "
                "with metadata {'graph_id': ...}"
            )
        update = getattr(graph, "aupdate_state", None)
        if update is None:
            raise AgentServerError(501, "this version of tokentide cannot update graph state")
        configurable: dict[str, Any] = {"thread_id": thread["thread_id"]}
        checkpoint_id = (body.get("checkpoint") or {}).get("checkpoint_id") or body.get(
            "checkpoint_id"
        )
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        values = graph_input(body.get("values"))
        config = await update({"configurable": configurable}, values, as_node=body.get("as_node"))
        state = await self.graphs.state(thread)
        fields: dict[str, Any] = {"values": state["values"]}
        if thread.get("status") != "busy":
            fields["status"] = "interrupted" if state["next"] else "idle"
            fields["interrupts"] = _interrupts_of(state)
        await self.threads.update_thread(thread["thread_id"], **fields)
        conf = (config or {}).get("configurable") or {}
        checkpoint = {
            "thread_id": thread["thread_id"],
            "checkpoint_ns": conf.get("checkpoint_ns", ""),
            "checkpoint_id": conf.get("checkpoint_id"),
            "checkpoint_map": None,
        }
        await send_json(send, 200, {"checkpoint": checkpoint})

    async def _history(self, scope: Scope, receive: Receive, send: Send) -> None:
        thread = await self._thread(scope)
        states = await history(self.graphs, thread, await self._body(scope, receive))
        await send_json(send, 200, states)

    # ---------------------------------------------------------------- starting runs

    async def _start(
        self, spec: RunSpec, thread_id: str | None, *, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        """Validate, apply the multitask strategy, and start the run; its record."""
        assistant = self.graphs.assistant(spec.assistant_id)
        value = run_input(spec)
        run_id = str(uuid.uuid4())
        graph, config = self._graph_config(spec, thread_id, run_id)
        temporary = None
        if thread_id is None and graph.checkpointer is not None and spec.on_completion == "delete":
            temporary = config["configurable"]["thread_id"]
        if thread_id is not None:
            await self._thread_for_run(thread_id, spec)
        run = run_record(run_id, thread_id, spec)
        active = await self._begin(run, spec) if thread_id is not None else []
        request = AgentRunRequest(
            assistant,
            value,
            spec.stream_mode,
            config,  # type: ignore[arg-type]
            spec.on_disconnect,  # type: ignore[arg-type]
            stream,
            graph=graph,
            thread_id=thread_id,
            stream_mode=spec.stream_mode,
            subgraphs=spec.stream_subgraphs,
            interrupt_before=spec.interrupt_before,
            interrupt_after=spec.interrupt_after,
            waits_for=[r["run_id"] for r in active],
            rollback=spec.multitask_strategy == "rollback",
            temporary_thread=temporary,
        )
        try:
            await self.runs.start(request, run_id=run_id)
        except BaseException:
            if thread_id is not None:
                await self.threads.update_run(run_id, status="error")
            raise
        return run_id, run

    def _graph_config(
        self, spec: RunSpec, thread_id: str | None, run_id: str
    ) -> tuple[Any, dict[str, Any]]:
        """The graph that runs (with the checkpointer on a thread, as compiled without one)
        and its config."""
        config: dict[str, Any] = dict(spec.config)
        configurable = dict(config.get("configurable") or {})
        if thread_id is not None:
            graph = self.graphs.threaded[spec.assistant_id]
            configurable["thread_id"] = thread_id
            if spec.checkpoint_id:
                configurable["checkpoint_id"] = spec.checkpoint_id
        else:
            graph = self.graphs.stateless[spec.assistant_id]
            if graph.checkpointer is not None:
                configurable["thread_id"] = str(uuid.uuid4())
        for key in ("interrupt_before", "interrupt_after"):
            if getattr(spec, key) is not None and not takes(graph.astream, key):
                raise invalid(f"'{key}': the graph {spec.assistant_id!r} cannot pause at nodes")
        configurable.setdefault("run_id", run_id)
        config["configurable"] = configurable
        return graph, config

    async def _thread_for_run(self, thread_id: str, spec: RunSpec) -> None:
        thread = await self.threads.get_thread(thread_id)
        if thread is None:
            if spec.if_not_exists != "create":
                raise AgentServerError(
                    404, f"thread {thread_id!r} not found (pass if_not_exists='create')"
                )
            thread = new_thread(thread_id, {})
            await self.threads.create_thread(thread)
        metadata = thread.get("metadata") or {}
        before = metadata.get("graph_id")
        if before == spec.assistant_id:
            return
        previous = self.graphs.threaded.get(before) if isinstance(before, str) else None
        graph = self.graphs.threaded[spec.assistant_id]
        if previous is not None and previous.checkpointer is not graph.checkpointer:
            raise AgentServerError(
                409,
                f"thread {thread_id!r} holds the state of assistant {before!r}, whose "
                f"checkpointer is not {spec.assistant_id!r}'s: start it on a new thread "
                "(or serve both with one --checkpointer)",
            )
        metadata = {**metadata, "graph_id": spec.assistant_id, "assistant_id": spec.assistant_id}
        await self.threads.update_thread(thread_id, metadata=metadata)

    async def _begin(self, run: dict[str, Any], spec: RunSpec) -> list[dict[str, Any]]:
        reject = spec.multitask_strategy == "reject"
        for _ in range(2):
            added, active = await self.threads.begin_run(run, reject_if_busy=reject)
            live = [r for r in active if await self.runs.is_active(r)]
            if added or not live:
                if added:
                    break
                continue  # the runs that kept the thread busy were lost: try again
            busy = ", ".join(r["run_id"] for r in live)
            raise AgentServerError(
                409,
                f"thread {run['thread_id']!r} is busy with run {busy}; wait for it, or pass "
                "multitask_strategy 'interrupt', 'rollback' or 'enqueue'",
            )
        else:
            raise AgentServerError(409, f"thread {run['thread_id']!r} is busy")
        if spec.multitask_strategy in ("interrupt", "rollback"):
            for other in live:
                await request_cancel_quietly(self.store, other["run_id"])
        return live

    # ---------------------------------------------------------------- run endpoints

    async def _stream_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._new_run(scope, receive, send, stream=True)

    async def _wait_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._new_run(scope, receive, send, stream=False)

    async def _new_run(self, scope: Scope, receive: Receive, send: Send, *, stream: bool) -> None:
        """``POST .../runs/stream`` or ``.../runs/wait``: on the thread of the path, or
        stateless (``/runs/...``, no thread)."""
        spec = parse_run(await self._body(scope, receive), stream=stream)
        thread_id: str | None = scope.get("lg_thread")
        run_id, _ = await self._start(spec, thread_id, stream=stream)
        where = f"/threads/{thread_id}/runs/{run_id}" if thread_id else f"/runs/{run_id}"
        headers = [(b"content-location", where.encode())]
        if thread_id is not None and (spec.stream_resumable or not stream):
            headers.append((b"location", f"{where}/{'stream' if stream else 'join'}".encode()))
        if stream:
            await self._send_events(send, receive, run_id, 0, spec.on_disconnect, headers)
        else:
            await self._send_result(send, receive, run_id, thread_id, spec.on_disconnect, headers)

    async def _create_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._body(scope, receive)
        spec = parse_run(body, stream=True)
        run_id, run = await self._start(spec, scope["lg_thread"], stream=False)
        where = f"/threads/{scope['lg_thread']}/runs/{run_id}"
        await send_json(send, 200, run, [(b"content-location", where.encode())])

    async def _list_runs(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._thread(scope)
        runs = await self.threads.list_runs(scope["lg_thread"])
        query = query_of(scope)
        try:
            limit = int(query.get("limit", ["10"])[-1])
            offset = int(query.get("offset", ["0"])[-1])
        except ValueError:
            raise invalid("'limit' and 'offset' must be integers") from None
        await send_json(send, 200, runs[offset : offset + limit])

    async def _run(self, scope: Scope) -> dict[str, Any]:
        run_id = scope["lg_item"]
        run = await self.threads.get_run(run_id)
        if run is None or run.get("thread_id") != scope["lg_thread"]:
            raise AgentServerError(
                404, f"run {run_id!r} not found on thread {scope['lg_thread']!r}"
            )
        if run["status"] in ("pending", "running") and not await self.runs.is_active(run):
            run = await self.threads.get_run(run_id) or run
        return run

    async def _get_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, await self._run(scope))

    async def _cancel(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = await self._run(scope)
        query = query_of(scope)
        action = query.get("action", ["interrupt"])[-1]
        if action not in ("interrupt", "rollback"):
            raise invalid("'action' must be 'interrupt' or 'rollback'")
        if flag(query, "wait"):
            await self.runs.cancel(run["run_id"])
            await send_json(send, 200, await self._run(scope))
            return
        await self.store.request_cancel(run["run_id"])
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _join_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = await self._run(scope)
        query = query_of(scope)
        after = last_event_id(scope)
        on_disconnect = "cancel" if flag(query, "cancel_on_disconnect") else "continue"
        modes = query.get("stream_mode")
        headers = [
            (b"location", f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream".encode())
        ]
        await self._send_events(
            send, receive, run["run_id"], after, on_disconnect, headers, modes=modes
        )

    async def _join(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = await self._run(scope)
        on_disconnect = "cancel" if flag(query_of(scope), "cancel_on_disconnect") else "continue"
        await self._send_result(send, receive, run["run_id"], run["thread_id"], on_disconnect, [])

    # ---------------------------------------------------------------- responses

    async def _send_events(
        self,
        send: Send,
        receive: Receive,
        run_id: str,
        after: int,
        on_disconnect: str,
        headers: list[tuple[bytes, bytes]],
        *,
        modes: list[str] | None = None,
    ) -> None:
        store = self.store
        wanted = event_filter(modes)

        async def produce(events: EventStream) -> None:
            await events.start()
            reader = store.read(run_id, after)
            try:
                async for event in reader:
                    name, data = event.event, event.data
                    if name in _NOT_AGENT_SERVER:
                        continue  # the /v1/runs protocol's own events
                    if wanted is not None and name.split("|", 1)[0] not in wanted:
                        continue
                    if name == "error":
                        data = error_event(data)
                    await events.send(frame(name, event.id, data))
            except (EventsExpired, RunNotFound, StoreUnavailable) as exc:
                payload = reader_error(exc)
                payload["error"] = payload["type"]
                await events.send(frame("error", None, json.dumps(payload)))
            finally:
                await reader.aclose()  # type: ignore[attr-defined]

        stream = EventStream(send, receive, heartbeat=self.heartbeat, headers=headers)
        disconnected = await stream.run(produce)
        if disconnected and on_disconnect == "cancel":
            await request_cancel_quietly(store, run_id)

    async def _send_result(
        self,
        send: Send,
        receive: Receive,
        run_id: str,
        thread_id: str | None,
        on_disconnect: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        async def finished() -> None:
            reader = self.store.read(run_id, 0)
            try:
                async for _ in reader:
                    pass
            finally:
                await reader.aclose()  # type: ignore[attr-defined]

        disconnected, _ = await watch_disconnect(receive, finished())
        if disconnected:
            if on_disconnect == "cancel":
                await request_cancel_quietly(self.store, run_id)
            return
        await send_json(send, 200, await self._result(run_id, thread_id), headers)

    async def _result(self, run_id: str, thread_id: str | None) -> Any:
        """What ``runs.wait`` answers: the final values (with ``__interrupt__`` when the
        thread stopped at an interrupt), or ``{"__error__": {"error", "message"}}``."""
        record = await self.store.get_run(run_id)
        if record is None:
            raise AgentServerError(404, f"run {run_id!r} expired")
        if record.error is not None:
            error = {"error": record.error.get("type"), "message": record.error.get("message")}
            return {"__error__": error}
        output = record.output
        if thread_id is not None:
            thread = await self.threads.get_thread(thread_id)
            interrupts = (thread or {}).get("interrupts") or {}
            if interrupts and isinstance(output, dict) and "__interrupt__" not in output:
                output = {**output, "__interrupt__": [i for v in interrupts.values() for i in v]}
        return output
