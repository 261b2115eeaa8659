"""The ASGI application: routing, authentication, request limits, and the runs endpoints.

Routes (all under ``/v1`` need ``Authorization: Bearer <api_key>`` when an API key is set):

- ``POST /v1/chat/completions``: OpenAI-compatible, streamed or not.
- ``POST /v1/completions``: OpenAI-compatible text completion, streamed or not.
- ``GET /v1/models``: the models and graphs served.
- ``POST /v1/runs``: start a run; answers with its SSE stream (``"stream": false``: with its
  record, the run going on in the background).
- ``GET /v1/runs/{id}``: status, output, usage, error.
- ``GET /v1/runs/{id}/stream``: the run's events after ``Last-Event-ID`` (header or
  ``?last_event_id=``), then live ones until it ends.
- ``POST /v1/runs/{id}/cancel``: stop it.
- ``POST /v1/responses``: the OpenAI Responses API (``GET /v1/responses/{id}``, with
  ``?stream=true&starting_after=N`` to resume a background one, ``POST .../{id}/cancel``).
- ``POST /v1/messages``: the Anthropic Messages API (key in ``x-api-key``), and
  ``POST /v1/messages/count_tokens``.
- ``GET /``: the web chat page, when ``web=True`` and ``static/index.html`` exists.
- ``POST /api/chat`` (``ui_path``), ``GET /api/chat/{chatId}/stream``,
  ``POST /api/chat/{chatId}/stop``: the Vercel AI SDK's ``useChat`` (UI message stream v1).

Before routing and authentication every request passes the `RequestGuard` (allowed ``Host``,
allowed ``Origin``; CORS preflights of allowed origins are answered here); JSON bodies must be
``application/json`` and are decoded with the limits of `decode_json`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tokentide.checkpoint import BaseCheckpointSaver
from tokentide.models import BaseChatModel, BaseLLM
from tokentide.models._http import HTTPTransport

from ._anthropic_api import (
    AnthropicHTTPError,
    as_anthropic,
    check_api_key,
    count_tokens,
    create_message,
    parse_messages_request,
    stream_messages,
)
from ._asgi import (
    ClientDisconnected,
    EventStream,
    HTTPError,
    Receive,
    Scope,
    Send,
    read_body,
    send_error,
    send_json,
    shorten,
)
from ._assistants import Assistant, build_assistants
from ._completions_api import completion, parse_completion_request, stream_completion
from ._guard import RequestGuard, decode_json, preflight_headers, require_json, with_cors
from ._lg_api import AgentServerAPI, is_agent_server_path
from ._openai_api import chat_completion, models_list, parse_chat_request, stream_chat_completion
from ._responses_api import ResponsesService
from ._runs import RunManager, parse_run_request
from ._runs_http import check_position, reader_error, request_cancel_quietly, store_unavailable
from ._store import EventsExpired, MemoryStreamStore, RunNotFound, StoreUnavailable, StreamStore
from ._ui_api import DEFAULT_UI_PATH, UIChatService

__all__ = ["TokentideApp", "create_app"]


STATIC_DIR = Path(__file__).with_name("static")
_RESPONSE_PATH = re.compile(r"^/v1/responses/([A-Za-z0-9_\-]{1,100})(/cancel)?$")
_RUN_PATH = re.compile(r"^/v1/runs/([A-Za-z0-9_\-]{1,100})(/stream|/cancel)?$")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokentideApp:
    """The tokentide server as a plain ASGI application (build it with :func:`create_app`).

    Example::

        import uvicorn
        from tokentide.models import FakeChatModel
        from tokentide.server import create_app

        app = create_app(models={"fake": FakeChatModel(["Hello!"])})
        uvicorn.run(app, host="127.0.0.1", port=8000)
    """

    def __init__(
        self,
        assistants: dict[str, Assistant],
        store: StreamStore,
        *,
        api_key: str | None = None,
        max_body_bytes: int = 4 * 1024 * 1024,
        heartbeat: float | None = 15.0,
        web: bool = False,
        cancel_wait: float = 2.0,
        allowed_hosts: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
        body_timeout: float | None = 60.0,
        checkpointer: Any = None,
        ui_path: str = DEFAULT_UI_PATH,
        ui_model: str | None = None,
        ui_resume_grace: float = 2.0,
    ) -> None:
        if api_key is not None and (not api_key.strip() or api_key != api_key.strip()):
            raise ValueError("api_key must not be empty or start or end with whitespace")
        self.assistants = assistants
        self.store = store
        self.runs = RunManager(store, cancel_wait=cancel_wait)
        self.responses = ResponsesService(store, heartbeat=heartbeat, cancel_wait=cancel_wait)
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.heartbeat = heartbeat
        self.web = web
        self.guard = RequestGuard(allowed_hosts, cors_origins)
        self.body_timeout = body_timeout
        #: Where the graphs keep their threads (``create_app(checkpointer=...)``), or None.
        self.checkpointer = checkpointer
        #: The LangGraph Agent Server API (``/assistants``, ``/threads``, ``/runs``).
        self.agent_server = AgentServerAPI(
            assistants,
            store,
            self._json,
            api_key=api_key,
            checkpointer=checkpointer,
            heartbeat=heartbeat,
            cancel_wait=cancel_wait,
        )
        self.ui = UIChatService(
            self.runs,
            assistants,
            self._json,
            path=ui_path,
            model=ui_model,
            grace=ui_resume_grace,
            heartbeat=heartbeat,
            max_body_bytes=max_body_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Cancel this replica's runs, close the store and the upstream connections of the
        HTTP models (their kept-alive pool; a model opens new ones if used again)."""
        await self.ui.aclose()
        await self.runs.aclose()
        await self.agent_server.aclose()
        await self.responses.aclose()
        await self.store.aclose()
        close_checkpointer = getattr(self.checkpointer, "aclose", None)
        if close_checkpointer is not None:
            await close_checkpointer()
        for assistant in self.assistants.values():
            transport = getattr(assistant.target, "_transport", None)
            if isinstance(transport, HTTPTransport):
                await transport.aclose()

    # ---------------------------------------------------------------- routing

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            cross_origin = self.guard.check(scope)
            if cross_origin is not None:
                if scope["method"] == "OPTIONS":
                    await _preflight(send, cross_origin, scope)
                    return
                send = with_cors(send, cross_origin)
            handler = self._route(scope["method"], scope["path"], scope)
            await handler(scope, receive, send)
        except HTTPError as error:
            await send_error(send, error)
        except StoreUnavailable as exc:
            await send_error(send, store_unavailable(exc))
        except ClientDisconnected:
            return

    def _route(self, method: str, path: str, scope: Scope) -> Handler:
        if path == "/" and self.web:
            return self._web
        if is_agent_server_path(path):
            return self.agent_server.route(method, path, scope)
        ui_handler = self.ui.route(method, path, scope)
        if ui_handler is not None:
            self._authenticate(scope)
            return ui_handler
        if not path.startswith("/v1/"):
            raise HTTPError(404, f"no route {shorten(path)}", code="not_found")
        if path in ("/v1/messages", "/v1/messages/count_tokens"):
            return _method({"POST": self._messages}, method, path)  # checks x-api-key
        self._authenticate(scope)
        routes: dict[str, dict[str, Handler]] = {
            "/v1/chat/completions": {"POST": self._chat},
            "/v1/completions": {"POST": self._completions},
            "/v1/models": {"GET": self._models},
            "/v1/runs": {"POST": self._create_run},
            "/v1/responses": {"POST": self._create_response},
        }
        if path in routes:
            return _method(routes[path], method, path)
        found = _RESPONSE_PATH.match(path)
        if found is not None:
            scope["response_id"] = found.group(1)
            if found.group(2):
                return _method({"POST": self._cancel_response}, method, path)
            return _method({"GET": self._get_response}, method, path)
        match = _RUN_PATH.match(path)
        if match is None:
            raise HTTPError(404, f"no route {shorten(path)}", code="not_found")
        scope["run_id"] = match.group(1)
        suffix = match.group(2) or ""
        table: dict[str, dict[str, Handler]] = {
            "": {"GET": self._get_run},
            "/stream": {"GET": self._join_run},
            "/cancel": {"POST": self._cancel_run},
        }
        return _method(table[suffix], method, path)

    def _authenticate(self, scope: Scope) -> None:
        if self.api_key is None:
            return
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = value
                break
        scheme, _, token = given.strip().partition(b" ")
        expected = self.api_key.encode()
        valid = hmac.compare_digest(token.strip(), expected)
        if not (valid and scheme.lower() == b"bearer"):
            what = "no API key was given" if not given else "the API key is not valid"
            raise HTTPError(
                401,
                f"Incorrect API key provided: {what}. Send 'Authorization: Bearer <key>'.",
                code="invalid_api_key",
                headers=[(b"www-authenticate", b"Bearer")],
            )

    async def _json(self, scope: Scope, receive: Receive) -> Any:
        require_json(scope)
        body = await read_body(scope, receive, self.max_body_bytes, self.body_timeout)
        if not body:
            raise HTTPError(400, "the request body is empty: expected a JSON object")
        return decode_json(body)

    def _assistant(self, name: str) -> Assistant:
        assistant = self.assistants.get(name)
        if assistant is None:
            raise HTTPError(
                404,
                f"The model {shorten(name)} does not exist; see GET /v1/models",
                param="model",
                code="model_not_found",
            )
        return assistant

    # ---------------------------------------------------------------- OpenAI-compatible

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = parse_chat_request(await self._json(scope, receive))
        assistant = self._assistant(request.model)
        if request.stream:
            await stream_chat_completion(
                assistant, request, send, receive, heartbeat=self.heartbeat
            )
        else:
            await chat_completion(assistant, request, send, receive)

    async def _completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = parse_completion_request(await self._json(scope, receive))
        assistant = self._assistant(request.model)
        if request.stream:
            await stream_completion(assistant, request, send, receive, heartbeat=self.heartbeat)
        else:
            await completion(assistant, request, send, receive)

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, models_list(self.assistants))

    # ---------------------------------------------------------------- Responses API

    async def _create_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._json(scope, receive)
        await self.responses.create(self._assistant, body, send, receive)

    async def _get_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        await self.responses.get(scope["response_id"], query, send, receive)

    async def _cancel_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.responses.cancel(scope["response_id"], send)

    # ---------------------------------------------------------------- Anthropic Messages API

    async def _messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            check_api_key(scope, self.api_key)
            counting = scope["path"].endswith("/count_tokens")
            request = parse_messages_request(await self._json(scope, receive), count_only=counting)
            assistant = self.assistants.get(request.model)
            if assistant is None:
                raise AnthropicHTTPError(
                    404, f"model: {request.model!r} does not exist; see GET /v1/models"
                )
            if counting:
                await count_tokens(assistant, request, send)
            elif request.stream:
                await stream_messages(assistant, request, send, receive, heartbeat=self.heartbeat)
            else:
                await create_message(assistant, request, send, receive)
        except HTTPError as error:
            await send_error(send, as_anthropic(error))

    # ---------------------------------------------------------------- runs

    async def _create_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = parse_run_request(await self._json(scope, receive), self.assistants)
        run_id = await self.runs.start(request)
        headers = [
            (b"content-location", f"/v1/runs/{run_id}".encode()),
            (b"x-run-id", run_id.encode()),
        ]
        if not request.stream:
            record = await self.store.get_run(run_id)
            await send_json(send, 201, record.to_dict() if record else {}, headers)
            return
        await self._stream_run(send, receive, run_id, 0, request.on_disconnect, headers)

    async def _get_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = await self.store.get_run(scope["run_id"])
        if record is None:
            raise _no_run(scope["run_id"])
        await send_json(send, 200, record.to_dict())

    async def _cancel_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        run_id = scope["run_id"]
        if await self.store.get_run(run_id) is None:
            raise _no_run(run_id)
        record = await self.runs.cancel(run_id)
        if record is None:
            raise _no_run(run_id)
        await send_json(send, 200, record.to_dict())

    async def _join_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        run_id = scope["run_id"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        after = _last_event_id(scope, query)
        on_disconnect = query.get("on_disconnect", ["continue"])[-1]
        if on_disconnect not in ("cancel", "continue"):
            raise HTTPError(
                400, "'on_disconnect' must be 'cancel' or 'continue'", param="on_disconnect"
            )
        if await self.store.get_run(run_id) is None:
            raise _no_run(run_id)
        await check_position(self.store, run_id, after)
        headers = [(b"x-run-id", run_id.encode())]
        await self._stream_run(send, receive, run_id, after, on_disconnect, headers)

    async def _stream_run(
        self,
        send: Send,
        receive: Receive,
        run_id: str,
        after: int,
        on_disconnect: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        store = self.store

        async def produce(events: EventStream) -> None:
            await events.start()
            reader = store.read(run_id, after)
            try:
                async for event in reader:
                    await events.send(_frame(event.event, event.id, event.data))
            except (EventsExpired, RunNotFound, StoreUnavailable) as exc:
                await events.send(_frame("error", None, json.dumps(reader_error(exc))))
            finally:
                await reader.aclose()  # type: ignore[attr-defined]

        stream = EventStream(send, receive, heartbeat=self.heartbeat, headers=headers)
        disconnected = await stream.run(produce)
        if disconnected and on_disconnect == "cancel":
            await request_cancel_quietly(store, run_id)

    # ---------------------------------------------------------------- web page

    async def _web(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = STATIC_DIR / "index.html"
        if scope["method"] not in ("GET", "HEAD") or not page.is_file():
            raise HTTPError(404, "no web page is installed", code="not_found")
        body = page.read_bytes()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-cache"),
                    *page_security_headers(body),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": body if scope["method"] == "GET" else b""}
        )


async def _preflight(send: Send, origin: bytes, scope: Scope) -> None:
    """Answer a CORS preflight from an allowed origin (no authentication: it carries none)."""
    await send(
        {"type": "http.response.start", "status": 204, "headers": preflight_headers(origin, scope)}
    )
    await send({"type": "http.response.body", "body": b""})


def _inline_hashes(page: bytes, tag: bytes) -> str:
    pattern = re.compile(rb"<" + tag + rb"(?:\s[^>]*)?>(.*?)</" + tag + rb">", re.S)
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
        for m in pattern.findall(page)
    )


_page_headers: dict[int, list[tuple[bytes, bytes]]] = {}


def page_security_headers(page: bytes) -> list[tuple[bytes, bytes]]:
    """The headers that keep the web page to itself: a Content-Security-Policy allowing only
    the page's own inline script and style (by hash) and requests to its own origin, no
    framing (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``), no MIME sniffing, no
    referrer."""
    key = hash(page)
    cached = _page_headers.get(key)
    if cached is None:
        csp = (
            "default-src 'none'; "
            f"script-src {_inline_hashes(page, b'script') or chr(39) + 'none' + chr(39)}; "
            f"style-src {_inline_hashes(page, b'style') or chr(39) + 'none' + chr(39)}; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        cached = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        _page_headers.clear()
        _page_headers[key] = cached
    return cached


def _method(table: Mapping[str, Handler], method: str, path: str) -> Handler:
    handler = table.get(method)
    if handler is None:
        allowed = ", ".join(table)
        raise HTTPError(
            405,
            f"{method} is not allowed on {path} (allowed: {allowed})",
            code="method_not_allowed",
            headers=[(b"allow", allowed.encode())],
        )
    return handler


def _no_run(run_id: str) -> HTTPError:
    return HTTPError(404, f"no run {shorten(run_id)} (unknown or expired)", code="run_not_found")


def _last_event_id(scope: Scope, query: Mapping[str, list[str]]) -> int:
    raw: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"last-event-id":
            raw = value.decode("latin-1")
    if "last_event_id" in query:
        raw = query["last_event_id"][-1]
    if raw is None or raw.strip() == "":
        return 0
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise HTTPError(
            400,
            f"Last-Event-ID must be a non-negative integer, got {shorten(raw)}",
            param="last_event_id",
        )
    return value


def _frame(event: str, event_id: int | None, data: str) -> bytes:
    if "\n" in data or "\r" in data:
        from tokentide.wire import encode_sse

        return encode_sse(data, event=event, id=None if event_id is None else str(event_id))
    if event_id is None:
        text = f"event: {event}\ndata: {data}\n\n"
    else:
        text = f"event: {event}\nid: {event_id}\ndata: {data}\n\n"
    # A lone surrogate can only sit inside a JSON string here: escaped, it stays valid JSON.
    return text.encode("utf-8", "backslashreplace")


def create_app(
    models: Mapping[str, BaseChatModel | BaseLLM] | None = None,
    graphs: Mapping[str, Any] | None = None,
    store: StreamStore | None = None,
    *,
    api_key: str | None = None,
    max_body_bytes: int = 4 * 1024 * 1024,
    heartbeat: float | None = 15.0,
    max_queue: int = 16,
    concurrency: Mapping[str, int] | None = None,
    retry_after: int = 2,
    web: bool = False,
    cancel_wait: float = 2.0,
    allowed_hosts: Iterable[str] = (),
    cors_origins: Iterable[str] = (),
    body_timeout: float | None = 60.0,
    checkpointer: BaseCheckpointSaver | None = None,
    ui_path: str = DEFAULT_UI_PATH,
    ui_model: str | None = None,
    ui_resume_grace: float = 2.0,
) -> TokentideApp:
    """Build the ASGI app serving ``models`` (name -> chat model) and ``graphs`` (name ->
    compiled graph or runnable); mount it in any ASGI server or application.

    - ``store``: where run streams live (default: a `MemoryStreamStore`, one process).
    - ``api_key``: require ``Authorization: Bearer <api_key>`` on every ``/v1`` route.
    - ``max_body_bytes``: larger request bodies get 413.
    - ``heartbeat``: seconds of silence before an event stream sends a ``: ping`` comment
      (``None``: never).
    - ``concurrency``: name -> how many requests may generate at once (the local llama.cpp
      model defaults to 1); others wait in FIFO order, at most ``max_queue`` per model; past
      that, 503 with ``Retry-After: <retry_after>``.
    - ``web``: serve the chat page ``static/index.html`` at ``GET /`` when it exists.
    - ``cancel_wait``: how long ``POST /v1/runs/{id}/cancel`` waits for the run to stop.
    - ``allowed_hosts``: ``Host`` names served besides ``localhost``, ``*.localhost`` and IP
      addresses (``.example.com``: the domain and its subdomains; ``*``: any); others get 403.
    - ``cors_origins``: browser origins (``https://app.example.com``) allowed to call the API
      cross-origin, with CORS headers; other origins get 403 (the web page's own is allowed).
    - ``body_timeout``: seconds a client has to send a request body (408 after).
    - ``checkpointer``: where the graphs keep their threads (a `MemorySaver`, `SqliteSaver`,
      `AsyncPostgresSaver`...): it replaces each graph's own for runs on a thread; runs
      without one (chat completions) run the graph as it was compiled. The LangGraph Agent
      Server API keeps its threads and runs beside it (the SQLite file, the PostgreSQL
      database; memory otherwise), and the threads of served models in it.
    - ``ui_path``: where the AI SDK's ``useChat`` posts (``/api/chat``; its resume and stop
      paths hang below it); ``ui_model``: the model or graph it talks to when the request
      names none; ``ui_resume_grace``: seconds a chat run outlives its last reader, waiting
      for a reload to resume it, before it is cancelled.

    Example::

        from tokentide.models import FakeChatModel
        from tokentide.server import create_app

        app = create_app(models={"gpt-4o-mini": FakeChatModel(["Hi there!"])})
        # uvicorn module:app --port 8000, then any OpenAI client with base_url=.../v1
    """
    assistants = build_assistants(
        models or {},
        graphs or {},
        concurrency=concurrency,
        max_queue=max_queue,
        retry_after=retry_after,
        checkpointer=checkpointer,
    )
    return TokentideApp(
        assistants,
        store if store is not None else MemoryStreamStore(),
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        heartbeat=heartbeat,
        web=web,
        cancel_wait=cancel_wait,
        allowed_hosts=allowed_hosts,
        cors_origins=cors_origins,
        body_timeout=body_timeout,
        checkpointer=checkpointer,
        ui_path=ui_path,
        ui_model=ui_model,
        ui_resume_grace=ui_resume_grace,
    )
