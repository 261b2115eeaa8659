"""tokentide's protocol clients against tokentide's own server, both ways: `ChatAnthropic` on
``/v1/messages`` and `ChatOpenAI(use_responses_api=True)` on ``/v1/responses`` (stream, invoke,
events, tools, structured output, usage); a server whose model is one of those clients (the
official SDK of one protocol, through tokentide, to the other protocol); the CLI model specs;
a graph with a tool call; and the embedded local model behind both endpoints."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import MessageParam, TextBlock
from openai.types.responses import ResponseFunctionToolCall

from fakes.live_server import LiveServer, live_server
from tokentide.cli import main
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage, ToolMessage, tool_call
from tokentide.models import ChatAnthropic, ChatLlamaCpp, ChatOpenAI, FakeChatModel
from tokentide.runnables import Runnable, RunnableConfig
from tokentide.server import create_app

pytestmark = pytest.mark.timeout(60)

POEM = "Soft paws on the windowsill, a cat keeps watch, serene and still."
PERSON = AIMessage(
    "", tool_calls=[tool_call(name="Person", args={"name": "Ada", "age": 36}, id="c1")]
)
WEATHER = AIMessage("", tool_calls=[tool_call(name="get_weather", args={"city": "Paris"}, id="c2")])
KEY = "sk-round-trip"
SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


class ToolModel(FakeChatModel):
    """The scripted replies, with ``bind_tools`` (records what it was offered)."""

    offered: list[Any] = []

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, Any]:
        self.offered.append((tools, tool_choice))
        return self.bind(tools=tools, tool_choice=tool_choice)


def _graph() -> Any:
    """A graph that calls a tool, feeds its result back, and answers."""
    model = FakeChatModel([WEATHER, "It is sunny in Paris."])

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def tools(state: MessagesState) -> dict[str, Any]:
        message = state["messages"][-1]
        assert isinstance(message, AIMessage)
        call = message.tool_calls[0]
        assert call["id"] is not None
        return {"messages": [ToolMessage("sunny", tool_call_id=call["id"])]}

    def route(state: MessagesState) -> str:
        message = state["messages"][-1]
        return "tools" if isinstance(message, AIMessage) and message.tool_calls else "__end__"

    builder = StateGraph(MessagesState).add_node(agent).add_node(tools)
    builder.add_edge(START, "agent").add_conditional_edges("agent", route).add_edge(
        "tools", "agent"
    )
    return builder.compile()


def _react_agent() -> Any:
    """LangGraph's prebuilt ReAct agent with a scripted model and one tool."""
    from tokentide.prebuilt import create_react_agent
    from tokentide.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    model = FakeChatModel([WEATHER, "The agent says: sunny in Paris."])
    return create_react_agent(model, [get_weather])


def _client_tools_graph() -> Any:
    """A graph whose model is offered the request's tools and calls one of them."""
    model = FakeChatModel([WEATHER])

    async def agent(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        bound = model.bind_tools(config["configurable"]["tools"])
        return {"messages": [await bound.ainvoke(state["messages"], config)]}

    return StateGraph(MessagesState).add_node(agent).add_edge(START, "agent").compile()


@pytest.fixture(scope="module")
def upstream() -> Iterator[LiveServer]:
    app = create_app(
        models={
            "fake": FakeChatModel([POEM]),
            "person": ToolModel([PERSON]),
            "weather": ToolModel([WEATHER]),
        },
        graphs={"agent": _graph(), "react": _react_agent(), "caller": _client_tools_graph()},
        api_key=KEY,
    )
    with live_server(app) as live:
        yield live


def _anthropic(server: LiveServer, model: str) -> ChatAnthropic:
    return ChatAnthropic(model=model, base_url=server.url, api_key=KEY, max_tokens=64)


def _responses(server: LiveServer, model: str) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=server.base_url, api_key=KEY, use_responses_api=True)


CLIENTS = pytest.mark.parametrize("make", [_anthropic, _responses], ids=["anthropic", "responses"])


@CLIENTS
@SYNC
async def test_stream_and_invoke(make: Any, sync: bool, upstream: LiveServer) -> None:
    chat = make(upstream, "fake")
    try:
        if sync:
            chunks = list(chat.stream("Write a poem."))
            message = chat.invoke("Write a poem.")
        else:
            chunks = [c async for c in chat.astream("Write a poem.")]
            message = await chat.ainvoke("Write a poem.")
    finally:
        await chat.aclose()
    assert len(chunks) > 5 and "".join(c.content for c in chunks) == POEM
    assert message.content == POEM
    usage = message.usage_metadata
    assert usage["input_tokens"] == 3 and usage["output_tokens"] == len(POEM.split())
    assert chunks[-1].usage_metadata is not None  # usage on the last chunk


@CLIENTS
async def test_astream_events(make: Any, upstream: LiveServer) -> None:
    chat = make(upstream, "fake")
    try:
        events = [e async for e in chat.astream_events("hi", version="v2")]
    finally:
        await chat.aclose()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "on_chat_model_start" and kinds[-1] == "on_chat_model_end"
    text = "".join(
        e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"
    )
    assert text == POEM


@CLIENTS
async def test_bind_tools_and_structured_output(make: Any, upstream: LiveServer) -> None:
    chat = make(upstream, "weather")
    try:

        def get_weather(city: str) -> str:
            """The weather in a city."""
            return "sunny"

        message = await chat.bind_tools([get_weather]).ainvoke("weather in Paris?")
        assert message.tool_calls == [
            {"name": "get_weather", "args": {"city": "Paris"}, "id": "c2", "type": "tool_call"}
        ]
        offered, _choice = ToolModel.offered[-1]
        assert offered[0]["function"]["name"] == "get_weather"
        assert "city" in offered[0]["function"]["parameters"]["properties"]
    finally:
        await chat.aclose()
    person = make(upstream, "person")
    schema = {
        "title": "Person",
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    try:
        structured = person.with_structured_output(schema, method="function_calling")
        values = [v async for v in structured.astream("invent a person")]
    finally:
        await person.aclose()
    assert values[-1] == {"name": "Ada", "age": 36}
    _, choice = ToolModel.offered[-1]
    assert choice == {"type": "function", "function": {"name": "Person"}}


@CLIENTS
async def test_a_graph_with_a_tool_call(make: Any, upstream: LiveServer) -> None:
    chat = make(upstream, "agent")
    try:
        message = await chat.ainvoke("weather in Paris?")
    finally:
        await chat.aclose()
    assert message.content == "It is sunny in Paris."


async def test_chat_anthropic_reports_the_stop_sequence(upstream: LiveServer) -> None:
    chat = _anthropic(upstream, "fake")
    try:
        message = await chat.ainvoke("a poem", stop=["watch"])
    finally:
        await chat.aclose()
    assert message.content == POEM[: POEM.index("watch")]
    meta = message.response_metadata
    assert meta["stop_reason"] == "stop_sequence" and meta["stop_sequence"] == "watch"
    assert meta["finish_reason"] == "stop"


def test_wrong_key_is_a_typed_error(upstream: LiveServer) -> None:
    from tokentide.errors import AuthenticationError

    for chat in (
        ChatAnthropic(model="fake", base_url=upstream.url, api_key="wrong"),
        ChatOpenAI(
            model="fake", base_url=upstream.base_url, api_key="wrong", use_responses_api=True
        ),
    ):
        with chat, pytest.raises(AuthenticationError):
            chat.invoke("hi")


@SYNC
async def test_official_sdks_stream_a_react_agent(sync: bool, upstream: LiveServer) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": "weather in Paris?"}]
    if sync:
        with openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0) as sdk:
            response = sdk.responses.create(model="react", input="weather in Paris?")
        with anthropic.Anthropic(base_url=upstream.url, api_key=KEY, max_retries=0) as asdk:
            with asdk.messages.stream(model="react", max_tokens=50, messages=messages) as stream:
                text = "".join(stream.text_stream)
    else:
        async with openai.AsyncOpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0) as a:
            response = await a.responses.create(model="react", input="weather in Paris?")
        async with anthropic.AsyncAnthropic(base_url=upstream.url, api_key=KEY, max_retries=0) as b:
            async with b.messages.stream(model="react", max_tokens=50, messages=messages) as s:
                text = "".join([t async for t in s.text_stream])
    assert response.output_text.endswith("The agent says: sunny in Paris.")
    assert text.endswith("The agent says: sunny in Paris.")
    # The agent's calls went to its own tool, not to the client.
    assert [item.type for item in response.output] == ["message"]


WEATHER_PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}}


@SYNC
async def test_official_sdks_get_a_graphs_calls_to_their_tools(
    sync: bool, upstream: LiveServer
) -> None:
    """A served graph's calls to the request's tools are ``function_call`` items (Responses)
    and ``tool_use`` blocks (Messages), their arguments streamed, as a model's are."""
    # Tool definitions as clients send them (the SDKs' types also require optional fields).
    fn: Any = [{"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMS}]
    tools: Any = [{"name": "get_weather", "input_schema": WEATHER_PARAMS}]
    messages: Any = [{"role": "user", "content": "weather in Paris?"}]
    if sync:
        with openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0) as sdk:
            with sdk.responses.stream(model="caller", input="weather?", tools=fn) as rs:
                kinds = [event.type for event in rs]
                response = rs.get_final_response()
            whole = sdk.responses.create(model="caller", input="weather?", tools=fn)
        with anthropic.Anthropic(base_url=upstream.url, api_key=KEY, max_retries=0) as asdk:
            with asdk.messages.stream(
                model="caller", max_tokens=50, messages=messages, tools=tools
            ) as ms:
                deltas = [e.delta.type for e in ms if e.type == "content_block_delta"]
                message = ms.get_final_message()
    else:
        async with openai.AsyncOpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0) as a:
            async with a.responses.stream(model="caller", input="weather?", tools=fn) as ars:
                kinds = [event.type async for event in ars]
                response = await ars.get_final_response()
            whole = await a.responses.create(model="caller", input="weather?", tools=fn)
        async with anthropic.AsyncAnthropic(base_url=upstream.url, api_key=KEY, max_retries=0) as b:
            async with b.messages.stream(
                model="caller", max_tokens=50, messages=messages, tools=tools
            ) as ams:
                deltas = [e.delta.type async for e in ams if e.type == "content_block_delta"]
                message = await ams.get_final_message()
    assert kinds.count("response.function_call_arguments.delta") > 1
    assert "response.function_call_arguments.done" in kinds
    [call] = [item for item in response.output if item.type == "function_call"]
    assert (call.name, call.call_id, call.arguments) == ("get_weather", "c2", '{"city": "Paris"}')
    [whole_call] = whole.output
    assert isinstance(whole_call, ResponseFunctionToolCall) and whole_call.name == "get_weather"
    assert len(deltas) > 1 and set(deltas) == {"input_json_delta"}
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.id, block.input) == ("get_weather", "c2", {"city": "Paris"})
    assert message.stop_reason == "tool_use"


# ---------------------------------------------------------------------- protocol translation


@pytest.fixture(scope="module")
def bridge(upstream: LiveServer) -> Iterator[LiveServer]:
    """A server whose models are tokentide clients of the upstream server."""
    clients: dict[str, ChatAnthropic | ChatOpenAI] = {
        "via-anthropic": _anthropic(upstream, "fake"),
        "via-responses": _responses(upstream, "fake"),
    }
    with live_server(create_app(models=clients)) as live:
        yield live
        for client in clients.values():  # their connection pools live on the server's loop
            live.call(client.aclose())


async def test_openai_sdk_through_a_chat_anthropic_model(bridge: LiveServer) -> None:
    async with openai.AsyncOpenAI(base_url=bridge.base_url, api_key="x", max_retries=0) as sdk:
        async with sdk.responses.stream(model="via-anthropic", input="hi") as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
    assert "".join(deltas) == POEM == final.output_text
    assert final.usage is not None and final.usage.output_tokens == len(POEM.split())


def test_anthropic_sdk_through_a_responses_model(bridge: LiveServer) -> None:
    with anthropic.Anthropic(base_url=bridge.url, api_key="x", max_retries=0) as sdk:
        with sdk.messages.stream(
            model="via-responses", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert text == POEM and final.usage.output_tokens == len(POEM.split())


# ---------------------------------------------------------------------- command line


@pytest.mark.parametrize("spec", ["anthropic:fake", "openai-responses:fake"])
def test_cli_ask_with_protocol_specs(
    spec: str, upstream: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", upstream.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", upstream.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert main(["ask", "--model", spec, "--sep", "|", "hi"]) == 0
    out = capsys.readouterr().out
    assert out.replace("|", "").strip() == POEM and out.count("|") > 5


# ---------------------------------------------------------------------- the local model


@pytest.fixture(scope="module")
def local() -> Iterator[LiveServer]:
    app = create_app(models={"local": ChatLlamaCpp(temperature=0, max_tokens=16, seed=1)})
    with live_server(app) as live:
        yield live


@pytest.mark.local_model
async def test_official_sdks_stream_from_the_local_model(local: LiveServer) -> None:
    async with openai.AsyncOpenAI(base_url=local.base_url, api_key="x", max_retries=0) as sdk:
        events = [
            e async for e in await sdk.responses.create(model="local", input="Say hi.", stream=True)
        ]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert deltas and events[-1].type in ("response.completed", "response.incomplete")
    last = events[-1]
    assert last.type in ("response.completed", "response.incomplete")
    assert last.response.usage is not None and last.response.usage.output_tokens >= len(deltas)
    async with anthropic.AsyncAnthropic(base_url=local.url, api_key="x", max_retries=0) as asdk:
        messages: list[MessageParam] = [{"role": "user", "content": "Say hi."}]
        async with asdk.messages.stream(model="local", max_tokens=8, messages=messages) as stream:
            starts = [e.message.usage async for e in stream if e.type == "message_start"]
            final = await stream.get_final_message()
        counted = await asdk.messages.count_tokens(model="local", messages=messages)
        tools: Any = [{"name": "get_weather", "input_schema": WEATHER_PARAMS}]
        async with asdk.messages.stream(
            model="local",
            max_tokens=16,
            messages=messages,
            tools=tools,
            tool_choice={"type": "tool", "name": "get_weather"},
        ) as stream:
            tool_starts = [e.message.usage async for e in stream if e.type == "message_start"]
            tool_final = await stream.get_final_message()
    first = final.content[0]
    assert (
        isinstance(first, TextBlock)
        and first.text
        and final.stop_reason in ("end_turn", "max_tokens")
    )
    assert final.usage.input_tokens == counted.input_tokens > 3
    # message_start has the exact prompt size before generating, tools' instructions included.
    assert [u.input_tokens for u in starts] == [final.usage.input_tokens]
    assert [u.input_tokens for u in tool_starts] == [tool_final.usage.input_tokens]
    assert tool_final.usage.input_tokens > final.usage.input_tokens
