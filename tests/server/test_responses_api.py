"""``/v1/responses`` driven by the official ``openai`` SDK (sync and async) against a real
uvicorn server: the streamed event sequence, ``responses.stream()``, tool calls, failures,
``previous_response_id``, background + cancel + resume."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import openai
import pytest

from fakes.live_server import LiveServer, live_server
from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.runnables import Runnable
from tokentide.server import create_app

from .api_models import POEM, poem_models
from .run_events import sdk_events

pytestmark = pytest.mark.timeout(60)

TOOL_REPLY = AIMessage(
    "", tool_calls=[tool_call(name="get_weather", args={"city": "Paris"}, id="call_1")]
)
SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


class EchoModel(FakeChatModel):
    """Replies with the texts of the messages it was given, joined by ``|``."""

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        yield AIMessageChunk("|".join(f"{m.type}:{m.text}" for m in messages))


class ToolModel(FakeChatModel):
    """The scripted tool call, with ``bind_tools`` (offered tools are accepted)."""

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, Any]:
        return self.bind(tools=tools, tool_choice=tool_choice)


class LengthModel(FakeChatModel):
    """Stops as a model that hit its token limit does."""

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        yield AIMessageChunk("cut ")
        yield AIMessageChunk("short", response_metadata={"finish_reason": "length"})


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = create_app(
        models=poem_models("fake", ToolModel([TOOL_REPLY]), echo=EchoModel(), length=LengthModel()),
        heartbeat=0.05,
    )
    with live_server(app) as live:
        yield live


async def _events(client: Any, aclient: Any, sync: bool, **kwargs: Any) -> list[Any]:
    return await sdk_events(client, aclient, sync, "responses", **kwargs)


@SYNC
async def test_streamed_event_sequence(sync: bool, client: Any, aclient: Any) -> None:
    events = await _events(client, aclient, sync, model="fake", input="Write a poem.")
    kinds = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len(deltas) > 3 and "".join(d.delta for d in deltas) == POEM
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.id.startswith("resp_") and final.object == "response"
    assert final.model == "fake" and final.status == "completed"
    assert final.output_text == POEM and final.output[0].content[0].text == POEM
    assert final.usage.output_tokens == len(deltas)
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens


@SYNC
async def test_sdk_stream_helper_and_final_response(sync: bool, client: Any, aclient: Any) -> None:
    texts: list[str] = []
    if sync:
        with client.responses.stream(model="fake", input="hi") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    texts.append(event.delta)
            final = stream.get_final_response()
    else:
        async with aclient.responses.stream(model="fake", input="hi") as stream:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    texts.append(event.delta)
            final = await stream.get_final_response()
    assert "".join(texts) == POEM and final.output_text == POEM


@SYNC
async def test_not_streamed(sync: bool, client: Any, aclient: Any) -> None:
    if sync:
        response = client.responses.create(model="fake", input="hi")
    else:
        response = await aclient.responses.create(model="fake", input="hi")
    assert response.status == "completed" and response.output_text == POEM
    assert response.usage.output_tokens > 0


@SYNC
async def test_function_call_items_with_argument_deltas(
    sync: bool, client: Any, aclient: Any
) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    events = await _events(client, aclient, sync, model="tooly", input="weather?", tools=tools)
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "function_call" and added.item.name == "get_weather"
    assert added.item.call_id == "call_1"
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(args) == {"city": "Paris"} == json.loads(done.arguments)
    final = events[-1].response
    assert final.output[0].type == "function_call" and final.output[0].status == "completed"
    with client.responses.stream(model="tooly", input="weather?") as stream:
        for _event in stream:
            pass
        response = stream.get_final_response()
    assert json.loads(response.output[0].arguments) == {"city": "Paris"}


@SYNC
async def test_max_output_tokens_is_incomplete(sync: bool, client: Any, aclient: Any) -> None:
    events = await _events(client, aclient, sync, model="length", input="hi", max_output_tokens=2)
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert events[-1].response.output_text == "cut short"


@SYNC
async def test_failure_after_first_token_is_response_failed(
    sync: bool, client: Any, aclient: Any
) -> None:
    events = await _events(client, aclient, sync, model="broken", input="hi")
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert "StreamInterrupted" in events[-1].response.error.message


def test_instructions_items_and_previous_response_id(client: Any) -> None:
    first = client.responses.create(
        model="echo",
        instructions="Be terse.",
        input=[
            {"role": "developer", "content": "dev"},
            {"role": "user", "content": [{"type": "input_text", "text": "one"}]},
        ],
    )
    assert first.output_text == "system:Be terse.|system:dev|human:one"
    second = client.responses.create(
        model="echo", input="two", previous_response_id=first.id, instructions="New."
    )
    assert second.output_text == (
        "system:New.|system:dev|human:one|ai:system:Be terse.|system:dev|human:one|human:two"
    )
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(first.id).output_text == first.output_text
    unstored = client.responses.create(model="echo", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="echo", input="y", previous_response_id=unstored.id)


def test_function_call_output_round_trip(client: Any) -> None:
    response = client.responses.create(
        model="echo",
        input=[
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
    )
    assert response.output_text == "human:weather?|ai:|tool:sunny"


def test_bad_requests_get_openai_errors(server: LiveServer, client: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="'input' is required"):
        client.responses.create(model="fake")
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.responses.create(model="nope", input="hi")
    with pytest.raises(openai.BadRequestError, match="only function tools"):
        client.responses.create(model="fake", input="hi", tools=[{"type": "web_search"}])
    reply = httpx.post(server.base_url + "/responses", json={"model": "fake", "input": 3})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "input"


def _wait_status(client: Any, response_id: str, want: set[str]) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = client.responses.retrieve(response_id)
        if response.status in want:
            return response
        time.sleep(0.02)
    raise AssertionError(f"{response_id} never reached {want}")


def test_background_resume_from_a_sequence_number(client: Any) -> None:
    queued = client.responses.create(model="fake", input="hi", background=True)
    assert queued.status == "queued" and queued.background
    done = _wait_status(client, queued.id, {"completed"})
    assert done.output_text == POEM
    everything = list(client.responses.retrieve(queued.id, stream=True))
    assert [e.sequence_number for e in everything] == list(range(len(everything)))
    rest = list(client.responses.retrieve(queued.id, stream=True, starting_after=5))
    assert [e.sequence_number for e in rest] == list(range(6, len(everything)))
    assert rest[-1].type == "response.completed"


async def test_background_stream_and_cancel(aclient: Any, client: Any) -> None:
    stream = await aclient.responses.create(model="slow", input="hi", background=True, stream=True)
    seen = []
    async for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    await stream.close()
    response_id = seen[0].response.id
    assert client.responses.retrieve(response_id).status == "in_progress"  # still running
    cancelled = client.responses.cancel(response_id)
    assert cancelled.status == "cancelled"
    assert 0 < cancelled.usage.output_tokens < len(POEM.split())
    with pytest.raises(openai.BadRequestError, match="Only background"):
        client.responses.cancel(client.responses.create(model="fake", input="x").id)


def test_client_leaving_cancels_a_foreground_stream(client: Any) -> None:
    stream = client.responses.create(model="slow", input="hi", stream=True)
    response_id = None
    for event in stream:
        if event.type == "response.created":
            response_id = event.response.id
        if event.type == "response.output_text.delta":
            break
    stream.close()
    # The stored response says cancelled, with what was produced before the client left.
    deadline = time.monotonic() + 10
    stored = None
    while time.monotonic() < deadline:
        try:
            stored = client.responses.retrieve(response_id)
            break
        except openai.NotFoundError:
            time.sleep(0.02)
    assert stored is not None and stored.status == "cancelled"
    assert 0 < stored.usage.output_tokens < len(POEM.split())
