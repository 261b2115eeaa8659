"""Watching streams: OpenTelemetry GenAI spans and metrics (callback handlers live in
`tokentide.callbacks`, the server's Prometheus metrics and logs in ``tokentide serve``).

Nothing is imported or measured until :func:`instrument` is called (it needs the ``otel``
extra: ``pip install 'tokentide[otel]'``, plus the SDK and exporter of your choice).

Example::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from tokentide import observe

    trace.set_tracer_provider(TracerProvider())
    observe.instrument()        # every model, tool and graph run now makes GenAI spans
"""

from __future__ import annotations

from typing import Any

__all__ = ["instrument", "uninstrument"]


def instrument(
    tracer_provider: Any = None, meter_provider: Any = None, *, capture: bool | None = None
) -> None:
    """Emit OpenTelemetry GenAI spans and metrics for every model, tool and graph run.

    - spans ``chat {model}``, ``text_completion {model}``, ``execute_tool {tool}``,
      ``invoke_agent {graph}``, nested as the runs nest; errors recorded, a stream closed
      early marked ``gen_ai.response.finish_reasons == ["cancelled"]``;
    - histograms ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``,
      ``gen_ai.client.operation.time_to_first_chunk``,
      ``gen_ai.client.operation.time_per_output_chunk`` (and the ``gen_ai.server.*`` ones
      from ``tokentide serve``), with the conventions' bucket boundaries.

    ``tracer_provider`` / ``meter_provider`` default to OpenTelemetry's global ones.
    Message content is recorded only with ``capture=True`` or
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
    """
    try:
        from ._otel import instrument as install
    except ImportError as exc:
        raise ImportError(
            "tokentide.observe.instrument() needs OpenTelemetry: pip install 'tokentide[otel]' "
            f"(and an SDK: pip install opentelemetry-sdk): {exc}"
        ) from exc
    install(tracer_provider, meter_provider, capture=capture)


def uninstrument() -> None:
    """Stop emitting spans and metrics for new runs."""
    from tokentide.runtime import set_observer

    set_observer(None)
    import sys

    otel = sys.modules.get("tokentide.observe._otel")
    if otel is not None:
        otel.uninstrument()
