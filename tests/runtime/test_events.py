"""astream_events(version="v2"): names, fields, filters, errors, cancellation, bounded buffers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _runtime_helpers import events_of

from fakes.waiting import async_wait_until
from tokentide.errors import StreamInterrupted
from tokentide.messages import AIMessageChunk
from tokentide.models import FakeChatModel
from tokentide.output_parsers import StrOutputParser
from tokentide.prompts import ChatPromptTemplate, ChatPromptValue
from tokentide.runnables import RunnableLambda
from tokentide.runtime import _events, _sink

FIELDS = {"event", "name", "run_id", "parent_ids", "tags", "metadata", "data"}


def chain_of(tokens: list[str], **model_kw: Any) -> Any:
    prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")
    model = FakeChatModel(responses=[tokens], **model_kw)
    return prompt | model | StrOutputParser()


async def test_prompt_model_parser_event_sequence_and_fields() -> None:
    events = await events_of(chain_of(["Hel", "lo"]), {"topic": "cats"})
    pairs = [(e["event"], e["name"]) for e in events]
    stream3 = [
        ("on_chat_model_stream", "FakeChatModel"),
        ("on_parser_stream", "StrOutputParser"),
        ("on_chain_stream", "RunnableSequence"),
    ]
    assert pairs == [
        ("on_chain_start", "RunnableSequence"),
        ("on_prompt_start", "ChatPromptTemplate"),
        ("on_prompt_end", "ChatPromptTemplate"),
        ("on_chat_model_start", "FakeChatModel"),
        stream3[0],
        ("on_parser_start", "StrOutputParser"),
        *stream3[1:],
        *stream3,
        *stream3,  # the last chunk: empty text, usage and finish reason
        ("on_chat_model_end", "FakeChatModel"),
        ("on_parser_end", "StrOutputParser"),
        ("on_chain_end", "RunnableSequence"),
    ]
    for e in events:
        assert set(e) == FIELDS
        assert isinstance(e["run_id"], str)
    root = events[0]
    assert root["data"] == {"input": {"topic": "cats"}}
    assert root["parent_ids"] == [] and root["tags"] == []
    by_name = {e["name"]: e for e in events if e["event"].endswith("_start")}
    for name, step in [("ChatPromptTemplate", 1), ("FakeChatModel", 2), ("StrOutputParser", 3)]:
        assert by_name[name]["parent_ids"] == [root["run_id"]]
        assert by_name[name]["tags"] == [f"seq:step:{step}"]
    # One run id per run, shared by all of its events.
    ids = {e["name"]: e["run_id"] for e in events}
    assert len(set(ids.values())) == 4
    assert all(e["run_id"] == ids[e["name"]] for e in events)
    data = {e["event"]: e["data"] for e in events}
    assert data["on_prompt_end"] == {
        "output": ChatPromptValue(
            ChatPromptTemplate.from_template("Tell me a joke about cats").format_messages()
        ),
        "input": {"topic": "cats"},
    }
    assert data["on_chat_model_start"]["input"]["messages"][0][0].content.endswith("cats")
    assert isinstance(data["on_chat_model_stream"]["chunk"], AIMessageChunk)
    assert data["on_chat_model_end"]["output"].content == "Hello"
    assert data["on_parser_start"] == {}
    assert data["on_parser_end"]["output"] == "Hello"
    assert data["on_parser_end"]["input"].content == "Hello"
    assert data["on_chain_end"] == {"output": "Hello"}
    meta = by_name["FakeChatModel"]["metadata"]
    assert meta["ls_provider"] == "fake" and meta["ls_model_name"] == "fake-chat"


async def test_chat_model_stream_chunks_are_the_models_chunks() -> None:
    model = FakeChatModel(responses=[["a", "b"]])
    direct = [c.content for c in model.stream("x")]
    events = await events_of(model, "x")
    assert [e["data"]["chunk"].content for e in events[1:-1]] == direct
    assert events[-1]["data"] == {"output": events[-1]["data"]["output"]}
    assert events[-1]["data"]["output"].usage_metadata["output_tokens"] == 2


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"include_names": ["StrOutputParser"]}, {"StrOutputParser"}),
        ({"include_types": ["chat_model"]}, {"FakeChatModel"}),
        ({"include_types": ["prompt", "parser"]}, {"ChatPromptTemplate", "StrOutputParser"}),
        ({"include_tags": ["seq:step:2"]}, {"FakeChatModel"}),
        ({"include_tags": ["joke"]}, {"FakeChatModel"}),
        (
            {"exclude_names": ["RunnableSequence"], "exclude_types": ["prompt"]},
            {"FakeChatModel", "StrOutputParser"},
        ),
        (
            {"include_types": ["chain", "chat_model"], "exclude_tags": ["joke"]},
            {"RunnableSequence"},
        ),
    ],
)
async def test_filters(filters: dict[str, list[str]], expected: set[str]) -> None:
    prompt = ChatPromptTemplate.from_template("{topic}")
    model = FakeChatModel(responses=[["a"]]).with_config(tags=["joke"])
    chain = prompt | model | StrOutputParser()
    events = await events_of(chain, {"topic": "x"}, **filters)
    assert {e["name"] for e in events} == expected


async def test_filter_given_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="lists of strings"):
        await events_of(chain_of(["a"]), {"topic": "x"}, include_names="StrOutputParser")


async def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version='v2'"):
        async for _ in chain_of(["a"]).astream_events({"topic": "x"}, version="v3"):
            pass


async def test_error_reaches_consumer_after_events_so_far() -> None:
    chain = chain_of(["a", "b", "c", "d"], error_after=2)
    seen: list[tuple[str, Any]] = []
    with pytest.raises(StreamInterrupted) as info:
        async for e in chain.astream_events({"topic": "x"}, version="v2"):
            seen.append((e["event"], e["data"].get("chunk")))
    streamed = [c.content for ev, c in seen if ev == "on_chat_model_stream"]
    assert streamed == ["a", "b"]
    assert [c for ev, c in seen if ev == "on_parser_stream"] == ["a", "b"]
    assert info.value.partial is not None and info.value.partial.content == "ab"


async def test_error_in_lambda_propagates() -> None:
    def boom(_: Any) -> Any:
        raise KeyError("missing thing")

    events: list[str] = []
    with pytest.raises(KeyError, match="missing thing"):
        async for e in (RunnableLambda(lambda x: x) | boom).astream_events(1, version="v2"):
            events.append(e["event"])
    assert events[:2] == ["on_chain_start", "on_chain_start"]


async def test_break_cancels_the_producer() -> None:
    produced: list[int] = []
    closed: list[bool] = []

    class Counting(FakeChatModel):
        async def _astream(self, messages: Any, **kw: Any) -> AsyncIterator[AIMessageChunk]:
            try:
                async for chunk in super()._astream(messages, **kw):
                    produced.append(1)
                    yield chunk
            finally:
                closed.append(True)

    model = Counting(responses=[[f"t{i} " for i in range(500)]], delay=0.005)
    chain = ChatPromptTemplate.from_template("{q}") | model | StrOutputParser()
    n = 0
    async for e in chain.astream_events({"q": "x"}, version="v2"):
        if e["event"] == "on_chat_model_stream":
            n += 1
            if n == 3:
                break
    at_break = len(produced)
    await async_wait_until(lambda: closed, message="the producer was not closed")
    assert len(produced) - at_break <= 1  # closed at its next chunk
    assert at_break <= 4


async def test_break_cancels_a_model_running_in_a_worker_thread() -> None:
    produced: list[float] = []
    closed = threading.Event()

    class Counting(FakeChatModel):
        def _stream(self, messages: Any, **kw: Any) -> Any:
            try:
                for chunk in super()._stream(messages, **kw):
                    produced.append(time.perf_counter())
                    yield chunk
                    time.sleep(0.0005)
            finally:
                closed.set()

    model = Counting(responses=[["x"] * 5000])

    def call(text: str) -> str:  # sync user code: runs in a worker thread
        return model.invoke(text).content

    async for e in RunnableLambda(call).astream_events("q", version="v2"):
        if e["event"] == "on_chat_model_stream":
            break
    # ``break`` drops the event stream; the loop closes it at its next turn, which cancels
    # the producer: the worker thread stops at its next chunk.
    await async_wait_until(closed.is_set, message="the worker thread's stream was not closed")
    assert len(produced) < 5000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["async", "thread"])
async def test_slow_consumer_bounds_the_buffer(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    channels: list[_sink.Channel[Any]] = []
    peak = [0]

    class Measured(_sink.Channel[Any]):
        def put(self, item: Any) -> None:
            super().put(item)
            peak[0] = max(peak[0], len(self._items))

    def make(maxsize: int = 256) -> Measured:
        channel = Measured(maxsize)
        channels.append(channel)
        return channel

    monkeypatch.setattr(_events, "Channel", make)
    n_tokens = 20_000
    model = FakeChatModel(responses=[["t"] * n_tokens])
    if kind == "async":
        runnable: Any = model | StrOutputParser()
    else:
        runnable = RunnableLambda(lambda q: model.invoke(q).content)
    count = 0
    async for e in runnable.astream_events("q", version="v2"):
        if e["event"] == "on_chat_model_stream":
            count += 1
            if count % 64 == 0:
                await asyncio.sleep(0.0005)  # a consumer slower than the producer
    assert count == n_tokens + 1
    cap = channels[0].maxsize
    assert cap == _events.EVENT_BUFFER
    assert peak[0] >= cap // 2  # the producer did run ahead ...
    assert peak[0] <= cap + 4  # ... but never far past the cap
