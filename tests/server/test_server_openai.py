"""``/v1/chat/completions`` and ``/v1/models`` driven by the official ``openai`` SDK (sync and
async), by ``langchain_openai.ChatOpenAI``, and by raw HTTP, against a real uvicorn server."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import redirect_stdout
from typing import Any, no_type_check

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from fakes.live_server import LiveServer, live_server
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.runnables import Runnable
from tokentide.server import create_app

from .api_models import POEM, poem_models

pytestmark = pytest.mark.timeout(60)

TOOL_REPLY = AIMessage(
    "", tool_calls=[tool_call(name="get_weather", args={"city": "Paris"}, id="call_1")]
)


class RecordingModel(FakeChatModel):
    """A fake model that records the options of each call and supports ``bind_tools``."""

    def __init__(self) -> None:
        super().__init__([POEM])
        self.calls: list[dict[str, Any]] = []

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        self.calls.append({"stop": stop, **kwargs})
        async for chunk in super()._astream(messages, stop=stop):
            yield chunk

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, Any]:
        return self.bind(tools=tools, tool_choice=tool_choice)


def _graph() -> Any:
    model = FakeChatModel([POEM])

    async def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    return StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()


@pytest.fixture(scope="module")
def recorder() -> RecordingModel:
    return RecordingModel()


@pytest.fixture(scope="module")
def server(recorder: RecordingModel) -> Iterator[LiveServer]:
    app = create_app(
        models=poem_models(
            "gpt-4o-mini", FakeChatModel([TOOL_REPLY]), slow_delay=0.15, recorder=recorder
        ),
        graphs={"poet-graph": _graph()},
        heartbeat=0.05,
    )
    with live_server(app) as live:
        yield live


USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Write a poem about cats."}]


async def _stream(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool, **kwargs: Any
) -> list[Any]:
    if sync:
        return list(client.chat.completions.create(stream=True, **kwargs))
    return [chunk async for chunk in await aclient.chat.completions.create(stream=True, **kwargs)]


# ---------------------------------------------------------------------- the openai SDK


@pytest.mark.parametrize("sync", [True, False])
async def test_sdk_streams_deltas_then_finish_and_usage(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    chunks = await _stream(
        client,
        aclient,
        sync,
        model="gpt-4o-mini",
        messages=USER,
        stream_options={"include_usage": True},
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == POEM
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(POEM.split())
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + len(POEM.split())


@pytest.mark.parametrize("sync", [True, False])
async def test_sdk_no_usage_chunk_unless_asked(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    chunks = await _stream(client, aclient, sync, model="gpt-4o-mini", messages=USER)
    assert all(c.choices for c in chunks)


@pytest.mark.parametrize("sync", [True, False])
async def test_sdk_not_streamed(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    if sync:
        res = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    else:
        res = await aclient.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert res.object == "chat.completion"
    assert res.choices[0].message.content == POEM
    assert res.choices[0].message.role == "assistant"
    assert res.choices[0].finish_reason == "stop"
    assert res.usage is not None and res.usage.completion_tokens == len(POEM.split())


@pytest.mark.parametrize("sync", [True, False])
async def test_sdk_lists_models_and_graphs(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    page = client.models.list() if sync else await aclient.models.list()
    ids = {m.id for m in page.data}
    assert {"gpt-4o-mini", "slow", "poet-graph"} <= ids


@no_type_check  # the seed's code as users wrote it (`model=os.getenv(...)`)
def test_seed_001_loops_unchanged(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai, "base_url", server.base_url + "/")
    monkeypatch.setattr(openai, "api_key", "unused")
    monkeypatch.setenv("OPENAI_DEFAULT_MODEL", "gpt-4o-mini")
    import os
    import sys

    out = io.StringIO()
    with redirect_stdout(out):
        # --- seed 001, unchanged ---
        res = openai.chat.completions.create(
            model=os.getenv("OPENAI_DEFAULT_MODEL"),
            messages=[
                {
                    "role": "user",
                    "content": "다음을 일본어로 번역하세요: 안녕하세요? 오늘 날씨가 참 좋군요!",
                }
            ],
        )
        print(res.choices[0].message.content)
        gen = openai.chat.completions.create(
            model=os.getenv("OPENAI_DEFAULT_MODEL"),
            messages=[
                {
                    "role": "user",
                    "content": "다음을 일본어로 번역하세요: 안녕하세요? 오늘 날씨가 참 좋군요!",
                }
            ],
            stream=True,
        )
        for response in gen:
            delta = response.choices[0].delta
            if delta.content is not None:
                print(delta.content, end="", flush=True)
        gen = openai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "질문"}],
            stream=True,
        )
        while True:
            response = next(gen)
            delta = response.choices[0].delta
            if delta.content is not None:
                print(delta.content, end="")
            else:
                break
        gen = openai.chat.completions.create(
            model=os.getenv("OPENAI_DEFAULT_MODEL"),
            messages=[
                {
                    "role": "user",
                    "content": "다음을 일본어로 번역하세요: 안녕하세요? 오늘 날씨가 참 좋군요!",
                }
            ],
            stream=True,
        )
        for response in gen:
            delta = response.choices[0].delta
            if delta.content is not None:
                sys.stdout.write(delta.content)
                sys.stdout.flush()
    assert out.getvalue() == POEM + "\n" + POEM * 3


@no_type_check  # the seed's code as users wrote it (`ChatOpenAI(model_name=...)`)
def test_seed_000_langchain_openai_unchanged(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    from langchain_openai import ChatOpenAI

    out = io.StringIO()
    with redirect_stdout(out):
        chat = ChatOpenAI(model_name="gpt-4o-mini", base_url=server.base_url)
        response = chat.invoke("고양이에 대한 시를 써줘.")
        print(response.content)

        chat = ChatOpenAI(model_name="gpt-4o-mini", base_url=server.base_url)
        pieces = 0
        for chunk in chat.stream("고양이에 대한 시를 써줘."):
            print(chunk.content, end="", flush=True)
            pieces += 1
    assert out.getvalue() == POEM + "\n" + POEM
    assert pieces > 5


async def test_langchain_openai_astream_and_usage(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    from langchain_openai import ChatOpenAI

    merged = None
    async with httpx.AsyncClient() as http:
        chat = ChatOpenAI(
            model="gpt-4o-mini", base_url=server.base_url, stream_usage=True, http_async_client=http
        )
        async for chunk in chat.astream("hi"):
            merged = chunk if merged is None else merged + chunk
    assert merged is not None and merged.content == POEM
    assert merged.usage_metadata is not None
    assert merged.usage_metadata["output_tokens"] == len(POEM.split())


# ---------------------------------------------------------------------- tools and options


@pytest.mark.parametrize("sync", [True, False])
async def test_tool_call_deltas(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    chunks = await _stream(client, aclient, sync, model="tooly", messages=USER)
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "call_1" and calls[0].function.name == "get_weather"
    args = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(args) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_calls_not_streamed_and_through_langchain(
    client: openai.OpenAI, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = client.chat.completions.create(model="tooly", messages=USER)
    assert res.choices[0].message.tool_calls is not None
    call = res.choices[0].message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert res.choices[0].finish_reason == "tool_calls"
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    from langchain_openai import ChatOpenAI

    merged = None
    for chunk in ChatOpenAI(model="tooly", base_url=server.base_url).stream("hi"):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    assert merged.tool_calls[0]["name"] == "get_weather"
    assert merged.tool_calls[0]["args"] == {"city": "Paris"}


def test_options_and_tools_pass_through(client: openai.OpenAI, recorder: RecordingModel) -> None:
    recorder.calls.clear()
    tool: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}},
    }
    client.chat.completions.create(
        model="recorder",
        messages=USER,
        temperature=0.25,
        max_completion_tokens=7,
        stop=["\n\n"],
        seed=42,
        tools=[tool],
        tool_choice="auto",
        stream=False,
    )
    list(
        client.chat.completions.create(
            model="recorder", messages=USER, max_tokens=9, stop="END", stream=True
        )
    )
    first, second = recorder.calls
    assert first == {
        "stop": ["\n\n"],
        "temperature": 0.25,
        "max_tokens": 7,
        "seed": 42,
        "tools": [tool],
        "tool_choice": "auto",
    }
    assert second == {"stop": ["END"], "max_tokens": 9}


def test_tools_offered_to_a_model_that_answers_in_text(client: openai.OpenAI) -> None:
    # FakeChatModel has bind_tools: tools are offered, and its script answers in text.
    tool: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}},
    }
    res = client.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[tool])
    assert res.choices[0].message.content == POEM
    assert not res.choices[0].message.tool_calls


# ---------------------------------------------------------------------- graphs


@pytest.mark.parametrize("sync", [True, False])
async def test_graph_streams_its_tokens(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    chunks = await _stream(
        client,
        aclient,
        sync,
        model="poet-graph",
        messages=USER,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == POEM
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    res = client.chat.completions.create(model="poet-graph", messages=USER)
    assert res.choices[0].message.content == POEM


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("sync", [True, False])
async def test_mid_stream_error_raises_in_the_sdk(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, sync: bool
) -> None:
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="scripted failure") as info:
        if sync:
            for c in client.chat.completions.create(model="broken", messages=USER, stream=True):
                seen.append(c.choices[0].delta.content or "")
        else:
            stream = await aclient.chat.completions.create(
                model="broken", messages=USER, stream=True
            )
            async for c in stream:
                seen.append(c.choices[0].delta.content or "")
    assert "".join(seen) == " ".join(POEM.split()[:3]) + " "
    body: Any = info.value.body
    assert body["type"] == "StreamInterrupted" and body["retryable"] is True
    assert body["partial"]["content"] == "".join(seen)


async def test_mid_stream_error_is_the_last_event_and_no_done(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        body = {"model": "broken", "messages": USER, "stream": True}
        async with http.stream("POST", "/v1/chat/completions", json=body) as res:
            text = (await res.aread()).decode()
    events = [e for e in text.split("\n\n") if e.startswith("data:")]
    assert "[DONE]" not in text
    last = json.loads(events[-1][len("data: ") :])
    assert set(last["error"]) >= {"message", "type", "param", "code", "retryable", "partial"}


def test_error_before_the_first_token_is_an_http_status() -> None:
    from tokentide.errors import RateLimitError

    class Limited(FakeChatModel):
        async def _astream(self, messages: Any, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
            raise RateLimitError("slow down", retry_after=3)
            yield AIMessageChunk("")  # pragma: no cover

    with live_server(create_app(models={"m": Limited()})) as live:
        with openai.OpenAI(base_url=live.base_url, api_key="x", max_retries=0) as c:
            with pytest.raises(openai.RateLimitError) as info:
                list(c.chat.completions.create(model="m", messages=USER, stream=True))
    assert info.value.response.headers["retry-after"] == "3"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=USER, stream=True)
    assert info.value.code == "model_not_found"


def test_api_key_is_required_when_set() -> None:
    app = create_app(models={"gpt-4o-mini": FakeChatModel([POEM])}, api_key="s3cret")
    with live_server(app) as live:
        with openai.OpenAI(base_url=live.base_url, api_key="wrong", max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError):
                c.chat.completions.create(model="gpt-4o-mini", messages=USER)
            with pytest.raises(openai.AuthenticationError):
                c.models.list()
        with openai.OpenAI(base_url=live.base_url, api_key="s3cret", max_retries=0) as c:
            res = c.chat.completions.create(model="gpt-4o-mini", messages=USER)
            assert res.choices[0].message.content == POEM
        http_res = httpx.post(f"{live.base_url}/runs", json={})
        assert http_res.status_code == 401
        assert http_res.json()["error"]["code"] == "invalid_api_key"
