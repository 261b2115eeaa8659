"""The Vercel AI SDK's chat endpoints (UI message stream ``v1``), for ``useChat`` as is.

- ``POST /api/chat`` (the path is ``ui_path``): the body ``useChat`` sends (see
  `parse_ui_request`); the served model or graph is the body's ``model``, else ``ui_model``,
  else the only one served. It starts a run (the runs API's machinery: the run lives in the
  run store, so any replica can resume or cancel it) and answers with its UI message stream.
- ``GET /api/chat/{chatId}/stream``: the chat's active run, replayed from its start and
  followed (``204`` when the chat has no active run): what ``useChat({resume: true})`` asks
  on page load.
- ``POST /api/chat/{chatId}/stop``: cancel the chat's active run now (the AI SDK's documented
  stop endpoint; ``{"activeStreamId": ...}`` in the body is honoured when given: a stale stop
  does not cancel a newer run).

Stop and reload both look the same to the server (the client closes the connection), so a
reader that leaves starts a grace period (``grace`` seconds): if no client attaches to the run
within it, on any replica, the run is cancelled and its model stops; if one does (a reload),
the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tokentide.runnables import RunnableConfig

from ._asgi import EventStream, HTTPError, Receive, Scope, Send, read_body, send_json, shorten
from ._assistants import Assistant
from ._guard import decode_json
from ._runs import RunManager, RunRequest
from ._store import TERMINAL_STATUSES, EventsExpired, RunNotFound, StoreUnavailable, StreamStore
from ._ui_approvals import paused_run, resume_command
from ._ui_chats import ChatRegistry, registry_for
from ._ui_encode import DONE_FRAME, UI_STREAM_HEADERS, UIMessageEncoder, encode_chunks
from ._ui_input import UIChatRequest, check_chat_id, parse_ui_request

__all__ = ["DEFAULT_UI_PATH", "UIChatService", "check_ui_path"]

logger = logging.getLogger("tokentide.server")

DEFAULT_UI_PATH = "/api/chat"
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
ReadJSON = Callable[[Scope, Receive], Awaitable[Any]]


def check_ui_path(path: str) -> str:
    """The chat path without a trailing slash; `ValueError` when it cannot be routed."""
    cleaned = path.rstrip("/")
    if not cleaned.startswith("/") or cleaned.startswith("/v1/") or cleaned == "/v1":
        raise ValueError(
            f"the chat path must start with '/' and lie outside /v1, e.g. /api/chat; got {path!r}"
        )
    if any(c.isspace() or c in "?#" for c in cleaned):
        raise ValueError(f"the chat path must not hold spaces, '?' or '#': {path!r}")
    return cleaned


def message_id_of(run_id: str) -> str:
    """The assistant message id of a run's UI message stream (the same on every replica)."""
    return "msg_" + run_id.removeprefix("run_")


class UIChatService:
    """The chat endpoints of one app, over its runs and run store.

    Example::

        service = UIChatService(runs, assistants, read_json, path="/api/chat", grace=2.0)
        handler = service.route("POST", "/api/chat", scope)  # None: not a chat path
    """

    def __init__(
        self,
        runs: RunManager,
        assistants: Mapping[str, Assistant],
        read_json: ReadJSON,
        *,
        path: str = DEFAULT_UI_PATH,
        model: str | None = None,
        grace: float = 2.0,
        heartbeat: float | None = 15.0,
        max_body_bytes: int = 4 * 1024 * 1024,
        chats: ChatRegistry | None = None,
    ) -> None:
        if grace < 0:
            raise ValueError(f"the resume grace period must be >= 0 seconds, got {grace}")
        if model is not None and model not in assistants:
            served = ", ".join(sorted(assistants)) or "none"
            raise ValueError(f"ui_model {model!r} is not served (served: {served})")
        self.runs = runs
        self.store: StreamStore = runs.store
        self.assistants = assistants
        self.read_json = read_json
        self.path = check_ui_path(path)
        self.model = model
        self.grace = grace
        self.heartbeat = heartbeat
        self.max_body_bytes = max_body_bytes
        self.chats = chats if chats is not None else registry_for(self.store)
        self._timers: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ routing

    def route(self, method: str, path: str, scope: Scope) -> Handler | None:
        """The handler of a chat path (`HTTPError` 405 for a wrong method); ``None`` when
        ``path`` is not one of the chat paths."""
        if path == self.path:
            return _only(method, "POST", self.chat, path)
        prefix = self.path + "/"
        if not path.startswith(prefix):
            return None
        rest = path[len(prefix) :]
        for suffix, verb, handler in (
            ("/stream", "GET", self.resume),
            ("/stop", "POST", self.stop),
        ):
            if rest.endswith(suffix) and len(rest) > len(suffix):
                scope["chat_id"] = rest[: -len(suffix)]
                return _only(method, verb, handler, path)
        return None

    def _assistant(self, name: str | None) -> Assistant:
        name = name or self.model
        if name is None:
            if len(self.assistants) == 1:
                return next(iter(self.assistants.values()))
            served = ", ".join(sorted(self.assistants)) or "none"
            raise HTTPError(
                400,
                "several models and graphs are served: send 'model' in the request body "
                f"(useChat's body option) or start the server with --ui-model (served: {served})",
                param="model",
            )
        assistant = self.assistants.get(name)
        if assistant is None:
            raise HTTPError(
                404,
                f"The model {shorten(name)} does not exist; see GET /v1/models",
                param="model",
                code="model_not_found",
            )
        return assistant

    # ------------------------------------------------------------------ POST /api/chat

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = parse_ui_request(await self.read_json(scope, receive))
        if request.approvals:
            await self._resume_approved(request, send, receive)
            return
        assistant = self._assistant(request.model)
        if assistant.kind == "model":
            value: Any = request.messages
            modes: tuple[str, ...] = ("messages",)
        else:
            value = {"messages": request.messages}
            modes = ("messages", "custom")
        # A graph with a checkpointer (one that can pause for approvals) runs on a new thread
        # per answer: the page sends the whole conversation each time.
        thread_id = f"thread_{uuid.uuid4().hex}" if _keeps_threads(assistant) else None
        run_id = await self._start(assistant, value, modes, request, thread_id)
        await self._stream(run_id, send, receive)

    async def _start(
        self,
        assistant: Assistant,
        value: Any,
        modes: tuple[str, ...],
        request: UIChatRequest,
        thread_id: str | None,
        context: dict[str, Any] | None = None,
    ) -> str:
        """Start the run and make it the chat's active one (its reading context first, so
        that no reader on any replica sees the run without it)."""
        metadata = {"chat_id": request.chat_id, "ui_trigger": request.trigger}
        config = RunnableConfig(metadata=metadata)
        if thread_id is not None:
            config["configurable"] = {"thread_id": thread_id}
        run = RunRequest(assistant, value, modes, config, "continue", True, thread_id)
        run_id = await self.runs.start(run)
        if context:
            await self.chats.set_context(run_id, context)
        await self.chats.set_active(request.chat_id, run_id)
        return run_id

    async def _resume_approved(self, request: UIChatRequest, send: Send, receive: Receive) -> None:
        """Continue the run that paused for these approvals, on its thread, and stream the
        rest into the page's message."""
        paused = await paused_run(self.store, request.approvals)
        assistant = self._assistant(paused.assistant)
        try:
            value = resume_command(paused, request.approvals)
        except ValueError as exc:
            raise HTTPError(400, str(exc), param="messages") from None
        denied = [a.tool_call_id for a in request.approvals if not a.approved]
        context: dict[str, Any] = {"skip_calls": request.page_calls, "denied_calls": denied}
        if request.page_message_id:
            context["message_id"] = request.page_message_id  # the page's message goes on
        modes = ("messages", "custom")
        run_id = await self._start(assistant, value, modes, request, paused.thread_id, context)
        await self._stream(run_id, send, receive)

    # ------------------------------------------------------------------ resume and stop

    async def resume(self, scope: Scope, receive: Receive, send: Send) -> None:
        chat_id = check_chat_id(scope["chat_id"])
        run_id = await self._active_run(chat_id)
        if run_id is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self._stream(run_id, send, receive)

    async def stop(self, scope: Scope, receive: Receive, send: Send) -> None:
        chat_id = check_chat_id(scope["chat_id"])
        raw = await read_body(scope, receive, self.max_body_bytes)
        body = decode_json(raw) if raw.strip() else {}
        wanted = body.get("activeStreamId") if isinstance(body, dict) else None
        run_id = await self._active_run(chat_id)
        cancelled = False
        if run_id is not None and (not isinstance(wanted, str) or wanted == run_id):
            record = await self.runs.cancel(run_id)
            cancelled = record is not None and record.status == "cancelled"
            await self.chats.clear(chat_id, run_id)
        await send_json(send, 200, {"success": True, "cancelled": cancelled, "runId": run_id})

    async def _active_run(self, chat_id: str) -> str | None:
        run_id = await self.chats.active(chat_id)
        if run_id is None:
            return None
        record = await self.store.get_run(run_id)
        if record is None or record.status in TERMINAL_STATUSES:
            return None
        return run_id

    # ------------------------------------------------------------------ the stream

    async def _stream(self, run_id: str, send: Send, receive: Receive) -> None:
        generation = await self.chats.attach(run_id)
        context = await self.chats.context(run_id) or {}
        encoder = UIMessageEncoder(
            str(context.get("message_id") or message_id_of(run_id)),
            skip_calls=frozenset(context.get("skip_calls", ())),
            denied_calls=frozenset(context.get("denied_calls", ())),
        )
        store = self.store

        async def produce(events: EventStream) -> None:
            await events.start()
            reader = store.read(run_id, 0)
            try:
                async for event in reader:
                    chunks = encoder.feed(event.event, event.data)
                    if chunks:
                        await events.send(encode_chunks(chunks))
            except (EventsExpired, RunNotFound, StoreUnavailable) as exc:
                text = f"the run's stream cannot be read: {type(exc).__name__}: {exc}"
                await events.send(encode_chunks(encoder.error(text)))
            finally:
                await reader.aclose()  # type: ignore[attr-defined]
            await events.send(DONE_FRAME)

        headers = [*UI_STREAM_HEADERS, (b"x-run-id", run_id.encode())]
        stream = EventStream(send, receive, heartbeat=self.heartbeat, headers=headers)
        if await stream.run(produce):
            self._start_grace(run_id, generation)

    def _start_grace(self, run_id: str, generation: int) -> None:
        task = asyncio.create_task(self._grace(run_id, generation))
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _grace(self, run_id: str, generation: int) -> None:
        """Cancel the run unless a reader attached within the grace period."""
        try:
            if self.grace > 0:
                await asyncio.sleep(self.grace)
            if await self.chats.generation(run_id) == generation:
                await self.store.request_cancel(run_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store went away: the run goes on; say so
            logger.warning("run %s: not cancelled after its chat client left: %s", run_id, exc)

    async def aclose(self) -> None:
        """Stop the grace timers (the app cancels its runs itself)."""
        for task in list(self._timers):
            task.cancel()
        if self._timers:
            await asyncio.wait(list(self._timers), timeout=1)


def _keeps_threads(assistant: Assistant) -> bool:
    return assistant.kind == "graph" and getattr(assistant.target, "checkpointer", None) is not None


def _only(method: str, allowed: str, handler: Handler, path: str) -> Handler:
    if method != allowed:
        raise HTTPError(
            405,
            f"{method} is not allowed on {path} (allowed: {allowed})",
            code="method_not_allowed",
            headers=[(b"allow", allowed.encode())],
        )
    return handler
