"""Background responses across two ``tokentide serve`` processes sharing one Redis: a response
started on replica A is read, resumed from a sequence number and cancelled from replica B with
the official ``openai`` SDK, and ``previous_response_id`` continues it from B."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from fakes.redis_server import RedisServer, running_redis_server
from fakes.serve_process import Replica, two_replicas

from .test_redis_replicas import REPLY, _start_replica

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[Replica, Replica]]:
    server: RedisServer
    with running_redis_server() as server:
        with tempfile.TemporaryDirectory(prefix="tokentide-responses-") as workdir:
            with two_replicas(lambda name: _start_replica(server.url, workdir, name)) as pair:
                yield pair


def _client(replica: Replica) -> openai.OpenAI:
    return openai.OpenAI(base_url=replica.url + "/v1", api_key="x", max_retries=0, timeout=20)


def _model(replica: Replica) -> str:
    return str(httpx.get(replica.url + "/v1/models").json()["data"][0]["id"])


def _wait(client: openai.OpenAI, response_id: str, done: bool) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.responses.retrieve(response_id)
        if (response.status not in ("queued", "in_progress")) == done:
            return response
        time.sleep(0.05)
    raise AssertionError(f"{response_id} did not get there")


def test_started_on_a_resumed_from_b(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    with _client(a) as on_a, _client(b) as on_b:
        job = on_a.responses.create(model=_model(a), input="hi", background=True)
        assert on_b.responses.retrieve(job.id).id == job.id
        resumed = list(on_b.responses.retrieve(job.id, stream=True, starting_after=4))
        assert resumed[0].sequence_number == 5
        numbers = [e.sequence_number for e in resumed]
        assert numbers == list(range(5, 5 + len(numbers)))
        assert resumed[-1].type == "response.completed"
        assert resumed[-1].response.output_text == REPLY
        full = list(on_a.responses.retrieve(job.id, stream=True))
        assert [e.model_dump() for e in full[5:]] == [e.model_dump() for e in resumed]
        follow = on_b.responses.create(model=_model(b), input="more", previous_response_id=job.id)
        assert follow.status == "completed" and follow.previous_response_id == job.id


def test_started_on_a_cancelled_from_b(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    with _client(a) as on_a, _client(b) as on_b:
        job = on_a.responses.create(model=_model(a), input="hi", background=True)
        stream = on_b.responses.retrieve(job.id, stream=True)
        for event in stream:  # follow it from B until it produced some text
            if event.type == "response.output_text.delta":
                break
        stream.close()
        cancelled = on_b.responses.cancel(job.id)
        assert cancelled.status == "cancelled"
        final = _wait(on_a, job.id, done=True)
        assert final.status == "cancelled"
        assert 0 < final.usage.output_tokens < len(REPLY.split())
        events = list(on_a.responses.retrieve(job.id, stream=True))
        assert events[-1].type != "response.completed"
