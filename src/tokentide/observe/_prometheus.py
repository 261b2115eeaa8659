"""Prometheus collectors of ``tokentide serve`` (``prometheus-client``, the ``server`` extra).

Names are under ``tokentide_`` and follow Prometheus' rules (``_seconds``, ``_total``); every
request metric is labelled by the served ``model`` (the name the client asked for) and the
``endpoint`` (the route, ids replaced by ``{id}``). Each app keeps its own registry, so two
apps in one process do not mix their figures.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ._genai import DURATION_BUCKETS, TPOT_BUCKETS, TTFT_BUCKETS

__all__ = ["CONTENT_TYPE_LATEST", "FINISH_REASONS", "ServerMetrics"]

#: The finish reasons requests are counted by.
FINISH_REASONS = ("stop", "length", "tool_calls", "cancelled", "error", "disconnected")


class ServerMetrics:
    """The server's collectors, in their own registry; :meth:`render` is the ``/metrics`` body.

    Example::

        metrics = ServerMetrics()
        metrics.requests.labels("fake", "/v1/chat/completions", "stop").inc()
        body = metrics.render()
    """

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "endpoint")
        self.ttft = Histogram(
            "tokentide_time_to_first_token_seconds",
            "Time from the request's arrival to the first token a model produced for it.",
            labels,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tpot = Histogram(
            "tokentide_time_per_output_token_seconds",
            "Mean time per output token after the first, per request.",
            labels,
            buckets=TPOT_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "tokentide_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "tokentide_requests_total",
            "Generation requests by how they finished "
            "(stop, length, tool_calls, cancelled, error, disconnected).",
            (*labels, "finish_reason"),
            registry=registry,
        )
        self.http = Counter(
            "tokentide_http_requests_total",
            "HTTP requests by endpoint, method and status.",
            ("endpoint", "method", "status"),
            registry=registry,
        )
        self.in_flight = Gauge(
            "tokentide_streams_in_flight",
            "Event streams being sent now.",
            labels,
            registry=registry,
        )
        self.input_tokens = Counter(
            "tokentide_input_tokens_total",
            "Input (prompt) tokens of generation requests.",
            labels,
            registry=registry,
        )
        self.output_tokens = Counter(
            "tokentide_output_tokens_total",
            "Output (completion) tokens of generation requests.",
            labels,
            registry=registry,
        )
        self.runs = Counter(
            "tokentide_runs_total",
            "Runs of the runs API by final status (success, error, cancelled, ...).",
            ("assistant", "status"),
            registry=registry,
        )
        self.store_errors = Counter(
            "tokentide_store_errors_total",
            "Failed operations of the stream store, by operation.",
            ("operation",),
            registry=registry,
        )

    def render(self) -> bytes:
        """The text exposition format of every collector."""
        return generate_latest(self.registry)
