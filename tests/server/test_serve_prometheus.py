"""A real Prometheus server (Debian's ``prometheus``) scrapes ``tokentide serve --metrics``
during a short load; its query API then returns the expected series."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("prometheus_client")

from fakes.live_server import LiveServer, live_server  # noqa: E402
from fakes.serve_process import terminate  # noqa: E402
from tokentide.cli import build_parser  # noqa: E402
from tokentide.cli._serve import build_app  # noqa: E402

pytestmark = [pytest.mark.once, pytest.mark.timeout(180)]

PROMETHEUS = shutil.which("prometheus")
REQUESTS = 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> Iterator[LiveServer]:
    args = build_parser().parse_args(["serve", "--model", "fake", "--metrics"])
    with live_server(build_app(args)) as live:
        yield live


@pytest.fixture
def prometheus(served: LiveServer, tmp_path: Path) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed (scripts/setup installs Debian's package)")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: tokentide\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{served.port}']\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: _ready(url), "Prometheus to start", proc)
        yield url
    finally:
        terminate(proc)
        if proc.stderr is not None:
            proc.stderr.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait(check: Any, what: str, proc: subprocess.Popen[bytes] | None = None) -> Any:
    deadline = time.monotonic() + 90
    while True:
        found = check()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"prometheus exited with {proc.returncode}: {err[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_prometheus_scrapes_the_server_during_load(served: LiveServer, prometheus: str) -> None:
    target_up = 'up{job="tokentide"} == 1'
    wait(lambda: query(prometheus, target_up), "the first scrape")
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for i in range(REQUESTS):  # a short load, spread over a few scrapes
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            if i % 8 == 7:
                time.sleep(1.0)
    done = f'tokentide_requests_total{{model="fake",finish_reason="stop"}} == {REQUESTS}'
    (series,) = wait(lambda: query(prometheus, done), "the load to be scraped")
    assert series["metric"]["endpoint"] == "/v1/chat/completions"
    ttft = query(prometheus, 'tokentide_time_to_first_token_seconds_count{model="fake"}')
    assert [float(s["value"][1]) for s in ttft] == [REQUESTS]
    tokens = query(prometheus, 'tokentide_output_tokens_total{model="fake"}')
    assert float(tokens[0]["value"][1]) > 0
    in_flight = query(prometheus, 'tokentide_streams_in_flight{model="fake"}')
    assert [float(s["value"][1]) for s in in_flight] == [0]
    buckets = query(prometheus, 'tokentide_request_duration_seconds_bucket{model="fake"}')
    assert {s["metric"]["le"] for s in buckets} >= {"0.01", "81.92", "+Inf"}
