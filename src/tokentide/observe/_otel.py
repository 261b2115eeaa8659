"""OpenTelemetry GenAI spans and client metrics, from the runs' sink calls.

:func:`instrument` installs an observer in front of the sink of every root run; each model,
tool and graph (agent) run under it then gets a span named and attributed by the GenAI
semantic conventions, nested as the runs nest, and model runs record the client metrics.
Nothing here is imported until :func:`instrument` is called.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tokentide.runtime import CLOSED_EARLY, INVOKED, RunContext, RunSink, set_observer

from ._genai import (
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    TPOT_BUCKETS,
    TTFT_BUCKETS,
    operation_of,
    reply_of,
)

__all__ = [
    "Instruments",
    "OtelSink",
    "capture_content",
    "instrument",
    "instruments",
    "uninstrument",
]

#: ``run.extra`` key of a run's span state (one span per run, whichever sink made it).
_KEY = "tokentide.otel"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_INSTRUMENTS: Instruments | None = None


def capture_content() -> bool:
    """Whether message content may be recorded (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``)."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in ("true", "1", "yes")


class Instruments:
    """The tracer and the GenAI histograms (client and server) of one instrumentation."""

    def __init__(
        self, tracer_provider: Any = None, meter_provider: Any = None, content: bool = False
    ) -> None:
        from tokentide import __version__

        self.tracer = trace.get_tracer("tokentide", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("tokentide", __version__, meter_provider=meter_provider)
        self.content = content

        def hist(name: str, unit: str, text: str, buckets: tuple[float, ...]) -> Any:
            return meter.create_histogram(
                name, unit=unit, description=text, explicit_bucket_boundaries_advisory=buckets
            )

        self.duration = hist(
            "gen_ai.client.operation.duration", "s", "GenAI operation duration", DURATION_BUCKETS
        )
        self.tokens = hist(
            "gen_ai.client.token.usage", "{token}", "Input and output tokens used", TOKEN_BUCKETS
        )
        self.ttfc = hist(
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time to the first chunk of a streamed response",
            TTFT_BUCKETS,
        )
        self.tpoc = hist(
            "gen_ai.client.operation.time_per_output_chunk",
            "s",
            "Time per output chunk after the first (mean of one stream)",
            TPOT_BUCKETS,
        )
        self.server_duration = hist(
            "gen_ai.server.request.duration", "s", "GenAI server request duration", DURATION_BUCKETS
        )
        self.server_ttft = hist(
            "gen_ai.server.time_to_first_token", "s", "Time to the first token", TTFT_BUCKETS
        )
        self.server_tpot = hist(
            "gen_ai.server.time_per_output_token",
            "s",
            "Time per output token after the first",
            TPOT_BUCKETS,
        )


def instrument(
    tracer_provider: Any = None, meter_provider: Any = None, *, capture: bool | None = None
) -> None:
    """Emit GenAI spans and metrics for every model, tool and graph run from now on.

    ``tracer_provider`` / ``meter_provider``: default the global ones
    (``opentelemetry.trace.set_tracer_provider`` ...). ``capture``: record message content
    (default: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``).
    """
    global _INSTRUMENTS
    content = capture_content() if capture is None else capture
    found = _INSTRUMENTS = Instruments(tracer_provider, meter_provider, content)
    set_observer(lambda sink: OtelSink(found, sink))


def uninstrument() -> None:
    """Stop emitting spans and metrics (runs already started finish their spans)."""
    global _INSTRUMENTS
    _INSTRUMENTS = None
    set_observer(None)


def instruments() -> Instruments | None:
    """The current instrumentation, if :func:`instrument` was called."""
    return _INSTRUMENTS


class _Span:
    __slots__ = ("attrs", "count", "first", "last", "op", "span", "start")

    def __init__(self, span: Any, op: str, attrs: dict[str, Any]) -> None:
        self.span = span
        self.op = op
        self.attrs = attrs
        self.start = time.perf_counter()
        self.first = 0.0
        self.last = 0.0
        self.count = 0


def _parent_context(run: RunContext) -> Any:
    parent = run.parent
    while parent is not None:
        state = parent.extra.get(_KEY)
        if state is not None:
            return trace.set_span_in_context(state.span)
        parent = parent.parent
    return None


class OtelSink(RunSink):
    """Makes a span per model, tool and graph run and records the client metrics; forwards
    every call to ``outer``."""

    __slots__ = ("inst", "outer")

    def __init__(self, inst: Instruments, outer: RunSink | None) -> None:
        self.inst = inst
        self.outer = outer

    @property
    def streams_tokens(self) -> bool:
        outer = self.outer
        return outer is not None and outer.streams_tokens

    @property
    def wants_chain_runs(self) -> bool:
        outer = self.outer  # spans are made for graph runs, model and tool runs only
        return outer is not None and outer.wants_chain_runs

    @property
    def backlogged(self) -> bool:
        outer = self.outer
        return outer is not None and outer.backlogged

    async def drained(self) -> None:
        outer = self.outer
        if outer is not None:
            await outer.drained()

    def on_start(self, run: RunContext, input: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_start(run, input)
        op = operation_of(run)
        if op is None:
            return
        meta = run.metadata
        attrs: dict[str, Any] = {"gen_ai.operation.name": op}
        if op in ("chat", "text_completion"):
            model = str(meta.get("ls_model_name") or "unknown")
            attrs["gen_ai.provider.name"] = str(meta.get("ls_provider") or "unknown")
            attrs["gen_ai.request.model"] = model
            name, kind = f"{op} {model}", SpanKind.CLIENT
        elif op == "execute_tool":
            attrs["gen_ai.tool.name"] = run.name
            call_id = _tool_call_id(input, meta)
            if call_id:
                attrs["gen_ai.tool.call.id"] = call_id
            name, kind = f"execute_tool {run.name}", SpanKind.INTERNAL
        else:
            attrs["gen_ai.agent.name"] = run.name
            name, kind = f"invoke_agent {run.name}", SpanKind.INTERNAL
        span = self.inst.tracer.start_span(
            name, context=_parent_context(run), kind=kind, attributes=attrs
        )
        if self.inst.content and op in ("chat", "text_completion"):
            span.set_attribute("gen_ai.input.messages", _messages_json(input))
        run.extra[_KEY] = _Span(span, op, attrs)

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_stream(run, chunk)
        state = run.extra.get(_KEY)
        if state is None:
            return
        now = time.perf_counter()
        if not state.count:
            state.first = now
        state.last = now
        state.count += 1

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_end(run, output, input)
        state = run.extra.pop(_KEY, None)
        if state is None:
            return
        span = state.span
        if state.op in ("chat", "text_completion"):
            _model_end(self.inst, run, state, output, None)
        elif run.extra.get(CLOSED_EARLY):
            span.set_attribute("tokentide.cancelled", True)
        span.end()

    def on_error(self, run: RunContext, error: BaseException) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_error(run, error)
        state = run.extra.pop(_KEY, None)
        if state is None:
            return
        span = state.span
        error_type = type(error).__qualname__
        span.set_attribute("error.type", error_type)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error) or error_type))
        if state.op in ("chat", "text_completion"):
            partial = getattr(error, "partial", None)
            _model_end(self.inst, run, state, partial, error_type)
        span.end()

    def on_custom(self, run: RunContext, name: str, data: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_custom(run, name, data)


def _model_end(
    inst: Instruments, run: RunContext, state: _Span, output: Any, error_type: str | None
) -> None:
    span, attrs = state.span, state.attrs
    reply = reply_of(run.run_type, output)
    streamed = not run.extra.get(INVOKED)
    cancelled = bool(run.extra.get(CLOSED_EARLY))
    span.set_attribute("gen_ai.request.stream", streamed)
    if reply.model:
        span.set_attribute("gen_ai.response.model", reply.model)
    if reply.input_tokens is not None:
        span.set_attribute("gen_ai.usage.input_tokens", reply.input_tokens)
    if reply.output_tokens is not None:
        span.set_attribute("gen_ai.usage.output_tokens", reply.output_tokens)
    reason = "cancelled" if cancelled else reply.finish_reason
    if reason:
        span.set_attribute("gen_ai.response.finish_reasons", [reason])
    if cancelled:
        span.set_attribute("tokentide.cancelled", True)
    if state.count:
        span.set_attribute("gen_ai.response.time_to_first_chunk", state.first - state.start)
    if inst.content and output is not None and error_type is None:
        span.set_attribute("gen_ai.output.messages", _output_json(output, reason))
    metric_attrs = dict(attrs)
    if reply.model:
        metric_attrs["gen_ai.response.model"] = reply.model
    if error_type is not None:
        metric_attrs["error.type"] = error_type
    inst.duration.record(time.perf_counter() - state.start, metric_attrs)
    if reply.input_tokens is not None:
        inst.tokens.record(reply.input_tokens, {**metric_attrs, "gen_ai.token.type": "input"})
    if reply.output_tokens is not None:
        inst.tokens.record(reply.output_tokens, {**metric_attrs, "gen_ai.token.type": "output"})
    if streamed and state.count:
        inst.ttfc.record(state.first - state.start, metric_attrs)
        if state.count > 1:
            inst.tpoc.record((state.last - state.first) / (state.count - 1), metric_attrs)


def _tool_call_id(input: Any, meta: dict[str, Any]) -> str | None:
    if isinstance(input, dict) and input.get("type") == "tool_call" and input.get("id"):
        return str(input["id"])
    found = meta.get("tool_call_id")
    return str(found) if found else None


def _messages_json(input: Any) -> str:
    from tokentide.messages import convert_to_messages

    if isinstance(input, dict) and "messages" in input:
        messages = input["messages"][0]
    elif isinstance(input, dict) and "prompts" in input:
        return json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in input["prompts"]]
        )
    else:
        messages = convert_to_messages(input)
    return json.dumps(
        [
            {"role": _ROLES.get(m.type, m.type), "parts": [{"type": "text", "content": m.text}]}
            for m in messages
        ],
        ensure_ascii=False,
    )


_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _output_json(output: Any, reason: str | None) -> str:
    text = getattr(output, "text", None)
    if text is None and isinstance(output, dict):
        gens = output.get("generations") or [[]]
        text = "".join(g.get("text", "") for g in gens[0])
    message = {
        "role": "assistant",
        "parts": [{"type": "text", "content": text or ""}],
        "finish_reason": reason or "stop",
    }
    return json.dumps([message], ensure_ascii=False)
