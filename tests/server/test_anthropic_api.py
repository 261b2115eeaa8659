"""``/v1/messages`` driven by the official ``anthropic`` SDK (sync and async) against a real
uvicorn server: event lines, text and tool-use streaming, the final message, pings, errors in
Anthropic's shape, the key check, and a client that leaves."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from fakes.live_server import LiveServer, live_server
from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.runnables import Runnable
from tokentide.server import create_app

from .api_models import POEM, poem_models
from .run_events import sdk_events

pytestmark = pytest.mark.timeout(60)

TOOL_REPLY = AIMessage(
    "Let me look.",
    tool_calls=[tool_call(name="get_weather", args={"city": "Paris"}, id="toolu_1")],
)
SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
KEY = "sk-ant-test"
USER: list[MessageParam] = [{"role": "user", "content": "Write a poem about cats."}]


class Recorder(FakeChatModel):
    """Replies with the messages and options it was given (as JSON), and accepts tools."""

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        seen = {"messages": [m.to_dict() for m in messages], "stop": stop, **kwargs}
        yield AIMessageChunk(json.dumps(seen, default=str))

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, Any]:
        return self.bind(tools=tools, tool_choice=tool_choice)


class Tracking(FakeChatModel):
    """A slow model that records how many chunks it produced and when it was closed."""

    def __init__(self) -> None:
        super().__init__([POEM], delay=0.2)
        self.produced = 0
        self.closed_at: float | None = None

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        try:
            async for chunk in super()._astream(messages, stop=stop):
                self.produced += 1
                yield chunk
        finally:
            self.closed_at = time.monotonic()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = create_app(
        models=poem_models(
            "claude-fake", FakeChatModel([TOOL_REPLY]), recorder=Recorder(), tracking=Tracking()
        ),
        api_key=KEY,
        heartbeat=0.05,
    )
    with live_server(app) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: LiveServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=server.url, api_key=KEY, max_retries=0) as c:
        yield c


async def _events(client: Any, aclient: Any, sync: bool, **kwargs: Any) -> list[Any]:
    return await sdk_events(client, aclient, sync, "messages", **kwargs)


@SYNC
async def test_streamed_events(sync: bool, client: Any, aclient: Any) -> None:
    events = await _events(
        client, aclient, sync, model="claude-fake", max_tokens=100, messages=USER
    )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert len(deltas) > 3 and "".join(deltas) == POEM
    start = events[0].message
    assert start.id.startswith("msg_") and start.role == "assistant" and start.content == []
    assert start.usage.input_tokens == 5  # the fake counts the prompt's words up front
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == len(deltas) and delta.usage.input_tokens == 5


@SYNC
async def test_stream_helper_text_and_final_message(sync: bool, client: Any, aclient: Any) -> None:
    kwargs = {"model": "claude-fake", "max_tokens": 100, "messages": USER}
    if sync:
        with client.messages.stream(**kwargs) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    else:
        async with aclient.messages.stream(**kwargs) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == POEM and final.content[0].text == POEM
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@SYNC
async def test_a_stop_sequence_is_reported(sync: bool, client: Any, aclient: Any) -> None:
    """The reply ends before the first stop sequence it reaches, and says which one."""
    kwargs = {
        "model": "claude-fake",
        "max_tokens": 100,
        "messages": USER,
        "stop_sequences": ["never there", "watch", "still"],
    }
    if sync:
        with client.messages.stream(**kwargs) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        whole = client.messages.create(**kwargs)
    else:
        async with aclient.messages.stream(**kwargs) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        whole = await aclient.messages.create(**kwargs)
    assert text == "Soft paws on the windowsill, a cat keeps "
    for message in (final, whole):
        assert message.stop_reason == "stop_sequence" and message.stop_sequence == "watch"
        assert message.content[0].text == text
    plain = {**kwargs, "stop_sequences": ["never there"]}
    events = await _events(client, aclient, sync, **plain)
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "end_turn" and delta.delta.stop_sequence is None


@SYNC
async def test_not_streamed(sync: bool, client: Any, aclient: Any) -> None:
    kwargs = {"model": "claude-fake", "max_tokens": 100, "messages": USER}
    if sync:
        message = client.messages.create(**kwargs)
    else:
        message = await aclient.messages.create(**kwargs)
    assert message.type == "message" and message.content[0].text == POEM
    assert message.usage.input_tokens == 5 and message.stop_reason == "end_turn"


@SYNC
async def test_tool_use_streams_input_json(sync: bool, client: Any, aclient: Any) -> None:
    kwargs = {"model": "tooly", "max_tokens": 100, "messages": USER}
    events = await _events(client, aclient, sync, **kwargs)
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert [b.type for b in starts] == ["text", "tool_use"]
    assert starts[1].name == "get_weather" and starts[1].id == "toolu_1"
    parts = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert json.loads("".join(parts)) == {"city": "Paris"}
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Paris"}
    whole = client.messages.create(**kwargs)
    assert whole.content[1].input == {"city": "Paris"} and whole.stop_reason == "tool_use"


def test_request_fields_reach_the_model(client: Any) -> None:
    message = client.messages.create(
        model="recorder",
        max_tokens=7,
        system=[{"type": "text", "text": "Be terse."}],
        stop_sequences=["END"],
        extra_body={"temperature": 0.5},
        tools=[{"name": "w", "description": "weather", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "w"},
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {"a": 1}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
    )
    seen = json.loads(message.content[0].text)
    roles = [m["role"] for m in seen["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert seen["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'
    assert seen["messages"][3] == {"role": "tool", "content": "sunny", "tool_call_id": "t1"}
    assert seen["stop"] == ["END"] and seen["max_tokens"] == 7 and seen["temperature"] == 0.5
    assert seen["tool_choice"] == {"type": "function", "function": {"name": "w"}}


@SYNC
async def test_error_after_first_token_is_an_error_event(
    sync: bool, client: Any, aclient: Any
) -> None:
    with pytest.raises(anthropic.APIStatusError, match="StreamInterrupted"):
        await _events(client, aclient, sync, model="broken", max_tokens=10, messages=USER)


def test_bad_requests_get_anthropic_errors(server: LiveServer, client: Any) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.post("/v1/messages", body={"model": "claude-fake", "messages": USER}, cast_to=object)
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in str(info.value)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=5, messages=USER)
    with pytest.raises(anthropic.AuthenticationError):
        with anthropic.Anthropic(base_url=server.url, api_key="wrong", max_retries=0) as bad:
            bad.messages.create(model="claude-fake", max_tokens=5, messages=USER)
    reply = httpx.post(
        server.url + "/v1/messages",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude-fake", "max_tokens": 5, "messages": [{"role": "bot"}]},
    )
    body = reply.json()
    assert reply.status_code == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and "role" in body["error"]["message"]


def test_event_lines_and_pings_on_the_wire(server: LiveServer) -> None:
    body = {"model": "slow", "max_tokens": 5, "messages": USER, "stream": True}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", server.url + "/v1/messages", json=body, headers=headers) as r:
        text = r.read().decode()
    frames = [f for f in text.split("\n\n") if f]
    assert all(f.startswith("event: ") for f in frames)
    names = [f.split("\n", 1)[0][7:] for f in frames]
    assert "ping" in names and names[-1] == "message_stop"
    for frame in frames:
        name, data = frame.split("\n", 1)
        assert json.loads(data[6:])["type"] == name[7:]


def test_client_leaving_stops_the_model(server: LiveServer, client: Any) -> None:
    model = server.app.assistants["tracking"].target
    with client.messages.stream(model="tracking", max_tokens=5, messages=USER) as stream:
        for _text in stream.text_stream:
            break
    left = time.monotonic()
    deadline = left + 10
    while model.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert model.closed_at is not None and model.closed_at - left < 2
    assert model.produced < len(POEM.split())
