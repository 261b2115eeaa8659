"""``tokentide serve`` watched: Prometheus metrics per served model and endpoint, requests
counted by how they finished, one access line per request, failed runs logged with their
traceback, no prompt or completion text unless asked."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from fakes.live_server import LiveServer, live_server  # noqa: E402
from tokentide.cli import build_parser  # noqa: E402
from tokentide.cli._serve import ServeError, build_app, check_args  # noqa: E402
from tokentide.messages import AIMessage, ToolCall  # noqa: E402
from tokentide.models import FakeChatModel  # noqa: E402
from tokentide.observe._prometheus import ServerMetrics  # noqa: E402
from tokentide.server import create_app  # noqa: E402
from tokentide.server._observe import ObservedApp, endpoint_of  # noqa: E402

pytestmark = pytest.mark.timeout(60)

CALL: ToolCall = {"name": "add", "args": {"a": 1}, "id": "call_1", "type": "tool_call"}


def _app(log_content: bool = False) -> ObservedApp:
    app = create_app(
        models={
            "ok": FakeChatModel([["Hel", "lo", " there"]]),
            "tools": FakeChatModel([AIMessage("", tool_calls=[CALL])]),
            "bad": FakeChatModel([["a", "b", "c"]], error_after=1),
            "slow": FakeChatModel([[f"t{i} " for i in range(400)]], delay=0.01),
        }
    )
    return ObservedApp(app, metrics=ServerMetrics(), log_content=log_content)


@pytest.fixture
def server() -> Iterator[LiveServer]:
    with live_server(_app()) as live:
        yield live


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def chat(client: httpx.Client, model: str, stream: bool = True) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return client.post("/v1/chat/completions", json=body)


def wait_for(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_requests_are_counted_by_finish_reason(server: LiveServer) -> None:
    metrics = server.app.metrics
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert chat(client, "ok").status_code == 200
        assert chat(client, "ok", stream=False).json()["choices"][0]["message"]["content"]
        assert b"tool_calls" in chat(client, "tools").content
        assert b'"error"' in chat(client, "bad").content
        # A client that leaves after the first token.
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            for line in response.iter_lines():
                if '"content":"t' in line:
                    break
        # A run cancelled through the runs API while its stream is being read.
        run = {"assistant": "slow", "input": [{"role": "user", "content": "hi"}]}
        with client.stream("POST", "/v1/runs", json=run) as response:
            run_id = response.headers["x-run-id"]
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("event: messages"):
                    break
            with httpx.Client(base_url=server.url, timeout=30) as other:
                cancelled = other.post(f"/v1/runs/{run_id}/cancel").json()
            assert cancelled["status"] == "cancelled"
            for _ in lines:
                pass
        text = client.get("/metrics").text
    found = samples(text)

    def count(model: str, reason: str, endpoint: str = "/v1/chat/completions") -> float:
        labels = (("endpoint", endpoint), ("finish_reason", reason), ("model", model))
        return found.get(("tokentide_requests_total", labels), 0)

    # A request is counted when its handler has returned, which may be just after the client
    # read its last byte: wait for the last ones.
    def settled() -> bool:
        found.clear()
        found.update(samples(metrics.render().decode()))
        return count("slow", "disconnected") == 1 and count("slow", "cancelled", "/v1/runs") == 1

    wait_for(settled, "the last requests to be counted")
    assert count("ok", "stop") == 2
    assert count("tools", "tool_calls") == 1
    assert count("bad", "error") == 1
    assert count("slow", "disconnected") == 1
    assert count("slow", "cancelled", "/v1/runs") == 1
    runs = (("assistant", "slow"), ("status", "cancelled"))
    assert found[("tokentide_runs_total", runs)] == 1
    ok = (("endpoint", "/v1/chat/completions"), ("model", "ok"))
    assert found[("tokentide_time_to_first_token_seconds_count", ok)] == 2
    assert found[("tokentide_time_per_output_token_seconds_count", ok)] == 2
    assert found[("tokentide_request_duration_seconds_count", ok)] == 2
    assert found[("tokentide_input_tokens_total", ok)] == 2
    assert found[("tokentide_output_tokens_total", ok)] == 6
    assert found[("tokentide_streams_in_flight", ok)] == 0
    http = (("endpoint", "/v1/runs/{id}/cancel"), ("method", "POST"), ("status", "200"))
    assert found[("tokentide_http_requests_total", http)] == 1


def test_metrics_follow_the_api_key_and_workers_rule() -> None:
    args = build_parser().parse_args(
        ["serve", "--model", "fake", "--metrics", "--api-key", "key-12345678"]
    )
    with live_server(build_app(args)) as live, httpx.Client(base_url=live.url) as client:
        assert client.get("/metrics").status_code == 401
        answer = client.get("/metrics", headers={"Authorization": "Bearer key-12345678"})
        assert answer.status_code == 200
        assert "tokentide_requests_total" in answer.text
    plain = build_parser().parse_args(["serve", "--model", "fake"])
    with live_server(build_app(plain)) as live, httpx.Client(base_url=live.url) as client:
        assert client.get("/metrics").status_code == 404
    many = build_parser().parse_args(
        ["serve", "--model", "fake", "--metrics", "--workers", "2", "--redis-url", "redis://x"]
    )
    with pytest.raises(ServeError, match="--workers 1"):
        check_args(many)


def test_access_lines_and_failed_runs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tokentide")
    with live_server(_app()) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        chat(client, "ok")
        run = {"assistant": "bad", "input": [{"role": "user", "content": "secret"}]}
        run_id = client.post("/v1/runs", json=run, headers={"x": "1"}).headers["x-run-id"]
        wait_for(lambda: client.get(f"/v1/runs/{run_id}").json()["status"] == "error", "run")
    lines = [r for r in caplog.records if r.name == "tokentide.server.access"]
    first = lines[0].tokentide  # type: ignore[attr-defined]
    assert first["method"] == "POST" and first["path"] == "/v1/chat/completions"
    assert first["status"] == 200 and first["model"] == "ok"
    assert (first["input_tokens"], first["output_tokens"]) == (1, 3)
    assert first["finish_reason"] == "stop" and first["duration_s"] > 0
    assert "prompt" not in first and "completion" not in first
    assert all("secret" not in r.getMessage() for r in caplog.records)
    failures = [
        r for r in caplog.records if r.levelno == logging.ERROR and run_id in r.getMessage()
    ]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].exc_info is not None


def test_log_content_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tokentide")
    with live_server(_app(log_content=True)) as live, httpx.Client(base_url=live.url) as client:
        chat(client, "ok")
    (line,) = [r for r in caplog.records if r.name == "tokentide.server.access"]
    fields = line.tokentide  # type: ignore[attr-defined]
    assert fields["prompt"] == [{"role": "user", "content": "hi"}]
    assert fields["completion"] == "Hello there"


def test_json_log_format() -> None:
    from tokentide.server._logs import JsonFormatter

    record = logging.LogRecord("tokentide.server.access", logging.INFO, __file__, 1, "x", (), None)
    record.tokentide = {"status": 200, "model": "ok"}
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 200 and line["model"] == "ok" and line["message"] == "x"


def test_endpoint_labels_hide_ids() -> None:
    assert endpoint_of("/v1/runs/run_0123456789abcdef/stream") == "/v1/runs/{id}/stream"
    assert endpoint_of("/v1/chat/completions") == "/v1/chat/completions"


async def test_store_errors_are_counted() -> None:
    from tokentide.server import MemoryStreamStore, RunNotFound
    from tokentide.server._observe import CountingStore

    class Broken(MemoryStreamStore):
        async def append(self, run_id: str, event: str, data: str) -> int:
            raise ConnectionError("store away")

    metrics = ServerMetrics()
    store = CountingStore(Broken(), metrics.store_errors)
    with pytest.raises(ConnectionError):
        await store.append("r", "e", "{}")
    with pytest.raises(RunNotFound):  # an expected answer, not a failure
        async for _ in store.read("missing"):
            pass
    found = samples(metrics.render().decode())
    assert found[("tokentide_store_errors_total", (("operation", "append"),))] == 1
    assert ("tokentide_store_errors_total", (("operation", "read"),)) not in found


def test_server_genai_histograms_when_instrumented() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from tokentide import observe

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader])
    tracer = TracerProvider()
    observe.instrument(tracer, meter)
    try:
        with live_server(_app()) as live, httpx.Client(base_url=live.url) as client:
            chat(client, "ok")
    finally:
        observe.uninstrument()
    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name: metric.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    meter.shutdown()
    tracer.shutdown()
    for name in (
        "gen_ai.server.request.duration",
        "gen_ai.server.time_to_first_token",
        "gen_ai.server.time_per_output_token",
        "gen_ai.client.operation.duration",
    ):
        (point,) = names[name]
        assert isinstance(point, HistogramDataPoint) and point.count == 1, name
    (ttft,) = names["gen_ai.server.time_to_first_token"]
    assert isinstance(ttft, HistogramDataPoint) and ttft.attributes is not None
    assert ttft.attributes["gen_ai.request.model"] == "ok"
    assert ttft.explicit_bounds[:2] == (0.001, 0.005)


def test_serve_json_logs_and_metrics_port() -> None:
    """The real command: JSON log lines on standard error (uvicorn's own lines too), one
    access line per request, and the metrics on their own port."""
    import os
    import signal

    from fakes.serve_process import free_port, popen_serve

    port, metrics_port = free_port(), free_port()
    options = ["--model", "fake", "--metrics-port", str(metrics_port)]
    options += ["--log-format", "json", "--no-web"]
    proc = popen_serve(options, port, {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/v1/models", timeout=0.5).status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, "the server exited"
                return False

        wait_for(up, "the server")
        with httpx.Client(base_url=base, timeout=30) as client:
            assert chat(client, "fake").status_code == 200
            assert client.get("/metrics").status_code == 404  # only on --metrics-port
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    labels = (
        ("endpoint", "/v1/chat/completions"),
        ("finish_reason", "stop"),
        ("model", "fake"),
    )
    assert samples(scraped)[("tokentide_requests_total", labels)] == 1
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    (access,) = [
        line
        for line in lines
        if line["logger"] == "tokentide.server.access" and line["path"] == "/v1/chat/completions"
    ]
    assert access["status"] == 200 and access["model"] == "fake"
    assert access["finish_reason"] == "stop" and access["output_tokens"] > 0
    assert "prompt" not in access and "completion" not in access
