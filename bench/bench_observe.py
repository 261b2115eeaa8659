"""Cost of watching a stream: callback handlers and OpenTelemetry, per token.

Cases (the same minimal provider as ``bench_core.py``: one ``AIMessageChunk`` per token):

- ``model.astream()`` / ``model.stream()`` with nobody watching (the baseline);
- the same with one callback handler that does nothing (``on_llm_new_token`` overridden with
  ``pass``), attached with ``config={"callbacks": [handler]}``;
- the same with OpenTelemetry on (an SDK tracer and meter provider, spans dropped by a no-op
  span processor, metrics kept in an in-memory reader): skipped without ``opentelemetry-sdk``;
- langchain-core's ``astream()`` with no handler and with the same no-op handler.

Budget: one no-op handler adds at most 1 µs per token to ``model.astream()``.

Run::

    python bench/bench_observe.py            # full size
    python bench/bench_observe.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    Budget,
    Result,
    check_budget,
    close_event_loop,
    measure,
    optional_import,
    parse_args,
    print_table,
    write_jsonl,
)
from bench.bench_core import (  # noqa: E402
    TokenListModel,
    aconsume,
    consume,
    make_lc_model,
    make_tokens,
)

from tokentide.callbacks import BaseCallbackHandler  # noqa: E402

BENCH = "observe"
HANDLER_BUDGET_US = 1.0


class NoOp(BaseCallbackHandler):
    """A handler that receives every token and does nothing with it."""

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        pass


def lc_noop() -> Any:
    from langchain_core.callbacks import BaseCallbackHandler as LCHandler

    class LCNoOp(LCHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            pass

    return LCNoOp()


def otel_on() -> Callable[[], None] | None:
    """Configure OpenTelemetry SDK providers and tokentide's instrumentation; returns the
    function that turns it off again (``None`` without the SDK)."""
    if optional_import("opentelemetry.sdk") is None:
        return None
    observe = optional_import("tokentide.observe")
    if observe is None or not hasattr(observe, "instrument"):
        return None
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SpanProcessor())
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    observe.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def off() -> None:
        observe.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return off


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "observe bench", argv)
    n = args.tokens
    tokens = make_tokens(n)
    opts = {"runs": args.runs, "warmup": args.warmup}
    model = TokenListModel(tokens)
    handler = NoOp()
    with_handler = {"callbacks": [handler]}
    cases: dict[str, Callable[[], Any]] = {
        "astream, no handler": aconsume(lambda: model.astream("hi")),
        "astream, one no-op handler": aconsume(lambda: model.astream("hi", with_handler)),
        "stream, no handler": consume(lambda: model.stream("hi")),
        "stream, one no-op handler": consume(lambda: model.stream("hi", with_handler)),
    }
    lc_model = make_lc_model(tokens)
    if lc_model is not None:
        lc_handler = {"callbacks": [lc_noop()]}
        cases["langchain-core astream, no handler"] = aconsume(lambda: lc_model.astream("hi"))
        cases["langchain-core astream, one no-op handler"] = aconsume(
            lambda: lc_model.astream("hi", lc_handler)
        )
    timings = measure(cases, per=n, **opts)
    rows: list[Result | Budget] = []
    for case, t in timings.items():
        rows.append(
            Result(
                BENCH,
                case,
                "tokentide" if "langchain" not in case else "langchain-core",
                t.us_per_item,
                "us/token",
                args.runs,
                t.spread,
                cpu_value=t.cpu_us_per_item,
            )
        )
    off = otel_on()
    if off is None:
        print("opentelemetry-sdk is not installed: the OpenTelemetry case is skipped")
    else:
        try:
            otel = measure(
                {"astream, OpenTelemetry on": aconsume(lambda: model.astream("hi"))}, per=n, **opts
            )
        finally:
            off()
        t = otel["astream, OpenTelemetry on"]
        rows.append(
            Result(
                BENCH,
                "astream, OpenTelemetry on",
                "tokentide",
                t.us_per_item,
                "us/token",
                args.runs,
                t.spread,
                cpu_value=t.cpu_us_per_item,
            )
        )
    base, one = timings["astream, no handler"], timings["astream, one no-op handler"]
    rows.append(
        check_budget(
            BENCH,
            "astream: one no-op handler over none",
            measured=one.us_per_item - base.us_per_item,
            limit=HANDLER_BUDGET_US,
            unit="us/token",
            higher_is_better=False,
            note=f"on CPU time: {one.cpu_us_per_item - base.cpu_us_per_item:.3g}",
        )
    )
    print(f"bench_observe: {n:,} tokens, {args.runs} runs + {args.warmup} warm-up, median")
    print_table(rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    close_event_loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
