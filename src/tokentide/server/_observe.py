"""What the server tells its operator: an access line per request, failures with their
traceback, and (with metrics on) Prometheus collectors and the OpenTelemetry ``gen_ai.server.*``
histograms.

`ObservedApp` wraps the ASGI app. For each request it puts a scope with a `RequestSink` in the
run context, so every model run the request causes (a chat completion, a graph's model calls,
a run of the runs API) reports its tokens, usage and finish reason to that request, whatever
the endpoint's wire protocol.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tokentide.errors import PoolTimeoutError
from tokentide.observe._genai import reply_of
from tokentide.runtime import CLOSED_EARLY, RunContext, RunSink, enter_run, leave_run

from ._asgi import HTTPError, Message, Receive, Scope, Send, send_error
from ._store import EventsExpired, RunNotFound

__all__ = ["ObservedApp", "RequestSink", "endpoint_of"]

logger = logging.getLogger("tokentide.server")
access = logging.getLogger("tokentide.server.access")

_MODEL_RUNS = frozenset({"chat_model", "llm"})
_ID = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-]{12,}$")
_REASONS = {"max_tokens": "length", "tool_use": "tool_calls", "function_call": "tool_calls"}
_KNOWN = frozenset({"stop", "length", "tool_calls"})
_BODY_LIMIT = 1 << 20
_UNPARSED = object()


def endpoint_of(path: str) -> str:
    """The route of a path: segments that look like ids become ``{id}``."""
    return "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))


class _Request:
    """What one request did: status, model runs, tokens, timing, how it finished."""

    __slots__ = (
        "body",
        "body_size",
        "cancelled",
        "chunks",
        "completion",
        "disconnected",
        "error",
        "finish",
        "first",
        "input_tokens",
        "last",
        "model_runs",
        "output_tokens",
        "parsed",
        "responded",
        "start",
        "status",
        "stream",
    )

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.status = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.model_runs = 0
        self.chunks = 0
        self.first = 0.0
        self.last = 0.0
        self.input_tokens = 0
        self.output_tokens = 0
        self.finish: str | None = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.disconnected = False
        self.responded = False
        self.stream = False
        self.completion: list[str] = []
        self.parsed: Any = _UNPARSED

    def reason(self) -> str:
        if self.disconnected:
            return "disconnected"
        if self.error is not None or self.status >= 500:
            return "error"
        if self.cancelled:
            return "cancelled"
        reason = _REASONS.get(self.finish or "stop", self.finish or "stop")
        return reason if reason in _KNOWN else "stop"


class RequestSink(RunSink):
    """Counts the tokens, usage and finish reason of the model runs under one request."""

    __slots__ = ("keep_text", "req")

    def __init__(self, req: _Request, keep_text: bool) -> None:
        self.req = req
        self.keep_text = keep_text

    @property
    def wants_chain_runs(self) -> bool:
        return False  # model runs only

    def on_start(self, run: RunContext, input: Any) -> None:
        if run.run_type in _MODEL_RUNS:
            self.req.model_runs += 1

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        if run.run_type not in _MODEL_RUNS:
            return
        text = chunk if isinstance(chunk, str) else getattr(chunk, "content", "")
        if not text:
            return
        req = self.req
        now = time.perf_counter()
        if not req.chunks:
            req.first = now
        req.last = now
        req.chunks += 1
        if self.keep_text:
            req.completion.append(text)

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        if run.run_type not in _MODEL_RUNS:
            return
        req = self.req
        reply = reply_of(run.run_type, output)
        req.input_tokens += reply.input_tokens or 0
        req.output_tokens += reply.output_tokens or 0
        if reply.finish_reason:
            req.finish = reply.finish_reason
        if run.extra.get(CLOSED_EARLY):
            req.cancelled = True

    def on_error(self, run: RunContext, error: BaseException) -> None:
        if run.run_type in _MODEL_RUNS and self.req.error is None:
            self.req.error = error


class ObservedApp:
    """The app, observed: access log lines, failure logs, ``/metrics`` (when ``metrics`` is
    a `ServerMetrics`), and OpenTelemetry server histograms when ``tokentide.observe`` is
    instrumented. Attributes of the wrapped app (``assistants``, ``runs`` ...) stay reachable.

    ``log_content``: put the prompt and the completion text in the access line (off by
    default: they may hold personal data).
    """

    def __init__(
        self, app: Any, *, metrics: Any = None, log_content: bool = False, metrics_path: bool = True
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.log_content = log_content
        self.metrics_path = metrics_path
        if metrics is not None:
            counted = CountingStore(app.store, metrics.store_errors)
            app.store = counted
            app.runs.store = counted
            app.runs.on_finish = self._run_finished

    def __getattr__(self, name: str) -> Any:
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    def _run_finished(self, record: Any) -> None:
        self.metrics.runs.labels(record.assistant, record.status).inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and self.metrics is not None and self.metrics_path:
            await self._serve_metrics(scope, send)
            return
        req = _Request()
        capture = scope.get("method") == "POST"

        async def observed_receive() -> Message:
            message = await receive()
            kind = message["type"]
            if kind == "http.request" and capture and req.body_size < _BODY_LIMIT:
                body = message.get("body", b"")
                req.body.append(body)
                req.body_size += len(body)
            elif kind == "http.disconnect" and not req.responded:
                req.disconnected = True
            return message

        def observed_send(message: Message) -> Awaitable[None]:
            # A plain function returning the server's awaitable: no coroutine of its own on
            # the per-token path.
            kind = message["type"]
            if kind == "http.response.start":
                req.status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        req.stream = True
                        self._in_flight(scope, req, 1)
            elif kind == "http.response.body" and not message.get("more_body", False):
                req.responded = True
            return send(message)

        token = enter_run(RunContext("", "scope", sink=RequestSink(req, self.log_content)))
        try:
            await self.app(scope, observed_receive, observed_send)
        except BaseException as exc:
            if not req.status:
                req.status = 500
            if req.error is None and isinstance(exc, Exception):
                req.error = exc
            raise
        finally:
            leave_run(token)
            if req.stream:
                self._in_flight(scope, req, -1)
            self._finish(scope, req)

    def _in_flight(self, scope: Scope, req: _Request, delta: int) -> None:
        if self.metrics is not None:
            gauge = self.metrics.in_flight.labels(_model(req), endpoint_of(scope["path"]))
            gauge.inc(delta)

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        from tokentide.observe._prometheus import CONTENT_TYPE_LATEST

        try:
            authenticate = getattr(self.app, "_authenticate", None)
            if authenticate is not None:
                authenticate(scope)
        except HTTPError as error:
            await send_error(send, error)
            return
        body = self.metrics.render()
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _finish(self, scope: Scope, req: _Request) -> None:
        duration = time.perf_counter() - req.start
        path = scope["path"]
        endpoint = endpoint_of(path) if req.status != 404 else "unmatched"
        model = _model(req)
        generated = req.model_runs > 0
        reason = req.reason() if generated else None
        ttft = req.first - req.start if req.chunks else None
        tpot = (req.last - req.first) / (req.chunks - 1) if req.chunks > 1 else None
        metrics = self.metrics
        if metrics is not None:
            metrics.http.labels(endpoint, scope.get("method", ""), str(req.status)).inc()
            if generated:
                metrics.requests.labels(model, endpoint, reason).inc()
                metrics.duration.labels(model, endpoint).observe(duration)
                if req.input_tokens:
                    metrics.input_tokens.labels(model, endpoint).inc(req.input_tokens)
                if req.output_tokens:
                    metrics.output_tokens.labels(model, endpoint).inc(req.output_tokens)
                if ttft is not None:
                    metrics.ttft.labels(model, endpoint).observe(ttft)
                if tpot is not None:
                    metrics.tpot.labels(model, endpoint).observe(tpot)
        if generated:
            _otel_server(model, reason, duration, ttft, tpot, req)
        if req.error is not None and not path.startswith("/v1/runs"):
            busy = _is_pool_timeout(req.error)  # load shed with a 503: one line, no traceback
            (logger.warning if busy else logger.error)(
                "%s %s failed (model %s)%s",
                scope.get("method", ""),
                path,
                model,
                f": {req.error}" if busy else "",
                exc_info=None if busy else req.error,
            )
        fields: dict[str, Any] = {
            "method": scope.get("method", ""),
            "path": path,
            "status": req.status,
            "model": model if req.body else None,
            "input_tokens": req.input_tokens if generated else None,
            "output_tokens": req.output_tokens if generated else None,
            "finish_reason": reason,
            "duration_s": round(duration, 6),
            "ttft_s": round(ttft, 6) if ttft is not None else None,
        }
        if self.log_content and req.body:
            fields["prompt"] = _prompt(req)
            fields["completion"] = "".join(req.completion)
        access.info(_access_text(fields), extra={"tokentide": fields})


def _model(req: _Request) -> str:
    """The served name the request asked for (``model`` or ``assistant`` in its body)."""
    data = _body(req)
    name = data.get("model") or data.get("assistant") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else "unknown"


def _body(req: _Request) -> Any:
    if not req.body or req.body_size >= _BODY_LIMIT:
        return None
    if req.parsed is _UNPARSED:
        try:
            req.parsed = json.loads(b"".join(req.body))
        except (ValueError, UnicodeDecodeError):
            req.parsed = None
    return req.parsed


def _prompt(req: _Request) -> Any:
    data = _body(req)
    if not isinstance(data, dict):
        return None
    for key in ("messages", "prompt", "input"):
        if key in data:
            return data[key]
    return None


def _access_text(fields: dict[str, Any]) -> str:
    parts = [f"{fields['method']} {fields['path']} {fields['status']}"]
    if fields["model"]:
        parts.append(f"model={fields['model']}")
    if fields["finish_reason"]:
        parts.append(f"finish={fields['finish_reason']}")
        parts.append(f"tokens={fields['input_tokens']}/{fields['output_tokens']}")
    if fields["ttft_s"] is not None:
        parts.append(f"ttft={fields['ttft_s'] * 1000:.1f}ms")
    parts.append(f"duration={fields['duration_s'] * 1000:.1f}ms")
    return " ".join(parts)


def _otel_server(
    model: str,
    reason: str | None,
    duration: float,
    ttft: float | None,
    tpot: float | None,
    req: _Request,
) -> None:
    import sys

    otel = sys.modules.get("tokentide.observe._otel")
    inst = otel.instruments() if otel is not None else None
    if inst is None:
        return
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    if reason == "error":
        attrs["error.type"] = type(req.error).__qualname__ if req.error else "error"
    inst.server_duration.record(duration, attrs)
    if reason == "error":
        return
    if ttft is not None:
        inst.server_ttft.record(ttft, attrs)
    if tpot is not None:
        inst.server_tpot.record(tpot, attrs)


class CountingStore:
    """A stream store that counts its failed operations (expected answers such as
    `RunNotFound` and `EventsExpired` are not failures)."""

    def __init__(self, store: Any, counter: Any) -> None:
        self._store = store
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if inspect.iscoroutinefunction(attr):
            return self._count_call(name, attr)
        if inspect.isasyncgenfunction(attr):
            return self._count_stream(name, attr)
        return attr

    def _count_call(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        counter = self._counter

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (RunNotFound, EventsExpired):
                raise
            except Exception:
                counter.labels(name).inc()
                raise

        return call

    def _count_stream(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        counter = self._counter

        async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            items = fn(*args, **kwargs)
            try:
                async for item in items:
                    yield item
            except (RunNotFound, EventsExpired):
                raise
            except Exception:
                counter.labels(name).inc()
                raise
            finally:
                await items.aclose()

        return stream


def _is_pool_timeout(error: BaseException) -> bool:
    """``error`` (or its cause) is a `PoolTimeoutError`: every upstream connection was busy."""
    return isinstance(error, PoolTimeoutError) or isinstance(error.__cause__, PoolTimeoutError)
