"""BaseLLM: the contract every completion model gets from its base (scripted providers)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

import pytest

from tokentide.errors import ProviderError, StreamError, StreamInterrupted
from tokentide.graph import START, StateGraph
from tokentide.messages import AIMessageChunk, HumanMessage, SystemMessage
from tokentide.models import (
    AsyncCompletionStream,
    BaseLLM,
    CompletionInfo,
    CompletionStream,
    CompletionText,
)
from tokentide.output_parsers import StrOutputParser
from tokentide.prompts import ChatPromptTemplate, PromptTemplate

SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
USAGE = {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}


class Scripted(BaseLLM):
    """Yields ``pieces`` (``str`` or `CompletionInfo`, or an exception to raise); records the
    prompts it got and whether its generator was closed."""

    provider = "scripted"

    def __init__(self, pieces: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = "scripted-1"
        self.pieces = pieces
        self.prompts: list[str] = []
        self.kwargs: list[dict[str, Any]] = []
        self.closed = threading.Event()
        self.produced = 0

    def _stream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[str | CompletionInfo]:
        self.prompts.append(prompt)
        self.kwargs.append({"stop": stop, **kwargs})
        try:
            for piece in self.pieces:
                if isinstance(piece, BaseException):
                    raise piece
                self.produced += 1
                yield piece
        finally:
            self.closed.set()


class AsyncScripted(Scripted):
    async def _astream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[str | CompletionInfo]:
        for piece in self._stream(prompt, stop=stop, **kwargs):
            await asyncio.sleep(0)
            yield piece


class Generates(BaseLLM):
    def _generate(self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any) -> str:
        return CompletionText(f"<{prompt}>", usage_metadata=USAGE)  # type: ignore[arg-type]


class Calls(BaseLLM):
    """A LangChain-style custom LLM: only ``_call``."""

    def _call(  # type: ignore[override]
        self, prompt: str, stop: list[str] | None = None, **kwargs: Any
    ) -> str:
        return prompt.upper()


def song() -> list[Any]:
    return ["\n\n", "Spark", "ling", " water", "", CompletionInfo(USAGE, {"finish_reason": "stop"})]  # type: ignore[arg-type]


async def consume(llm: BaseLLM, sync: bool, input: Any = "hi", **kwargs: Any) -> list[str]:
    if sync:
        return list(llm.stream(input, **kwargs))
    return [chunk async for chunk in llm.astream(input, **kwargs)]


# ------------------------------------------------------------------ streaming


@SYNC
@pytest.mark.parametrize("cls", [Scripted, AsyncScripted])
async def test_stream_yields_the_str_chunks(sync: bool, cls: type[Scripted]) -> None:
    llm = cls(song())
    chunks = await consume(llm, sync, "Write a song")
    assert chunks == ["\n\n", "Spark", "ling", " water", ""]
    assert all(type(chunk) is str for chunk in chunks)
    assert llm.prompts == ["Write a song"]


@SYNC
async def test_invoke_returns_the_merged_text_with_usage(sync: bool) -> None:
    llm = Scripted(song())
    result = llm.invoke("x") if sync else await llm.ainvoke("x")
    assert isinstance(result, CompletionText) and isinstance(result, str)
    assert result == "\n\nSparkling water"
    assert result.text == "\n\nSparkling water" and type(result.text) is str
    assert result.usage_metadata == USAGE
    assert result.response_metadata == {"finish_reason": "stop"}


@SYNC
async def test_stream_result_carries_usage_per_stream(sync: bool) -> None:
    llm = Scripted(song())
    if sync:
        stream = llm.stream("x")
        assert isinstance(stream, CompletionStream)
        assert next(stream) == "\n\n"
        assert stream.result == "\n\n" and stream.usage_metadata is None
        list(stream)
    else:
        astream = llm.astream("x")
        assert isinstance(astream, AsyncCompletionStream)
        async for _ in astream:
            pass
        stream = astream  # type: ignore[assignment]
    assert stream.result == "\n\nSparkling water"
    assert stream.usage_metadata == USAGE


def test_concurrent_streams_keep_their_own_usage() -> None:
    class Counting(BaseLLM):
        def _stream(self, prompt: str, *, stop: Any = None, **kwargs: Any) -> Iterator[Any]:
            n = int(prompt)
            for _ in range(n):
                yield "x"
            yield CompletionInfo({"input_tokens": 1, "output_tokens": n, "total_tokens": n + 1})

    llm = Counting()
    results: dict[int, Any] = {}

    def run(n: int) -> None:
        results[n] = llm.invoke(str(n))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for n, result in results.items():
        assert result == "x" * n and result.usage_metadata["output_tokens"] == n
    assert len(results) == 8


@SYNC
@pytest.mark.parametrize("cls", [Generates, Calls])
async def test_a_provider_that_cannot_stream_yields_one_chunk(sync: bool, cls: type) -> None:
    llm = cls()
    chunks = await consume(llm, sync, "ab")
    expected = "<ab>" if cls is Generates else "AB"
    assert chunks == [expected]
    result = llm.invoke("ab") if sync else await llm.ainvoke("ab")
    assert result == expected
    if cls is Generates:
        assert result.usage_metadata == USAGE


def test_a_provider_with_no_hook_says_so() -> None:
    with pytest.raises(NotImplementedError, match="_stream, _generate, _call"):
        BaseLLM().invoke("x")


@pytest.mark.parametrize(
    ("value", "prompt"),
    [
        ("plain", "plain"),
        (
            PromptTemplate.from_template("Tell me about {x}").invoke({"x": "owls"}),
            "Tell me about owls",
        ),
        ([SystemMessage("Be brief."), HumanMessage("hi")], "System: Be brief.\nHuman: hi"),
        ([("human", "a"), ("ai", "b")], "Human: a\nAI: b"),
        (HumanMessage("solo"), "Human: solo"),
    ],
)
def test_input_becomes_prompt_text(value: Any, prompt: str) -> None:
    llm = Scripted(["ok"])
    llm.invoke(value)
    assert llm.prompts == [prompt]


def test_stop_and_options_reach_the_provider() -> None:
    llm = Scripted(["ok"])
    llm.invoke("x", stop=["\n"], max_tokens=5)
    assert llm.kwargs == [{"stop": ["\n"], "max_tokens": 5}]
    llm.bind(stop=["END"]).invoke("y")
    assert llm.kwargs[-1] == {"stop": ["END"]}


def test_bad_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="completion model takes"):
        Scripted(["x"]).invoke(42)


# ------------------------------------------------------------------ errors and close


@SYNC
async def test_failure_after_first_chunk_keeps_the_partial_text(sync: bool) -> None:
    usage = {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    llm = Scripted(["Hel", CompletionInfo(usage), "lo", RuntimeError("boom")])  # type: ignore[arg-type]
    seen: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        if sync:
            for chunk in llm.stream("x"):
                seen.append(chunk)
        else:
            async for chunk in llm.astream("x"):
                seen.append(chunk)
    assert seen == ["Hel", "lo"]
    partial = info.value.partial
    assert isinstance(partial, CompletionText) and partial == "Hello"
    assert partial.usage_metadata == usage
    assert "boom" in str(info.value) and isinstance(info.value.__cause__, RuntimeError)


@SYNC
async def test_stream_error_from_provider_gets_the_partial(sync: bool) -> None:
    llm = Scripted(["Hi", ProviderError("server said no")])
    with pytest.raises(ProviderError) as info:
        await consume(llm, sync)
    assert info.value.partial == "Hi"


@SYNC
async def test_failure_before_first_chunk_is_raised_as_is(sync: bool) -> None:
    llm = Scripted([ValueError("bad request")])
    with pytest.raises(ValueError, match="bad request"):
        await consume(llm, sync)


def test_breaking_out_closes_the_provider_at_once() -> None:
    llm = Scripted([str(i) for i in range(1000)])
    stream = llm.stream("x")
    for chunk in stream:
        if chunk == "2":
            break
    stream.close()
    assert llm.closed.is_set() and llm.produced == 3
    with llm.stream("x") as again:
        next(again)
    assert llm.produced == 4


async def test_aclose_closes_the_async_provider_at_once() -> None:
    llm = AsyncScripted([str(i) for i in range(1000)])
    stream = llm.astream("x")
    async for chunk in stream:
        if chunk == "2":
            break
    await stream.aclose()
    assert llm.closed.is_set() and llm.produced == 3


async def test_aclose_stops_a_sync_provider_run_in_a_thread() -> None:
    llm = Scripted([str(i) for i in range(100_000)])
    stream = llm.astream("x")
    async for _ in stream:
        break
    await stream.aclose()
    assert llm.closed.wait(2)
    assert llm.produced < 1000  # bounded read-ahead


# ------------------------------------------------------------------ events


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_astream_events_llm_names_and_end_output(version: str) -> None:
    llm = Scripted(song(), tags=["t"])
    events = [e async for e in llm.astream_events("Write a song", version=version)]
    names = [e["event"] for e in events]
    assert names == ["on_llm_start"] + ["on_llm_stream"] * 5 + ["on_llm_end"]
    start, end = events[0], events[-1]
    assert start["data"] == {"input": "Write a song"}  # the raw input at the root, as LangChain
    assert [e["data"]["chunk"] for e in events[1:-1]] == ["\n\n", "Spark", "ling", " water", ""]
    assert start["name"] == "Scripted" and start["tags"] == ["t"]
    meta = start["metadata"]
    assert meta["ls_model_type"] == "llm" and meta["ls_provider"] == "scripted"
    assert meta["ls_model_name"] == "scripted-1"
    output = end["data"]["output"]
    if version == "v1":  # LangChain's v1: the root completion's end output is its text
        assert output == "\n\nSparkling water"
        return
    generation = output["generations"][0][0]
    assert generation["text"] == "\n\nSparkling water" and generation["type"] == "Generation"
    assert generation["generation_info"]["usage_metadata"] == USAGE
    assert generation["generation_info"]["finish_reason"] == "stop"
    assert output["llm_output"]["token_usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 3,
        "total_tokens": 7,
    }


async def test_events_of_a_failed_stream_end_with_the_error() -> None:
    llm = Scripted(["a", RuntimeError("boom")])
    names: list[str] = []
    with pytest.raises(StreamError):
        async for event in llm.astream_events("x", version="v2"):
            names.append(event["event"])
    assert names == ["on_llm_start", "on_llm_stream"]


# ------------------------------------------------------------------ chains and graphs


@SYNC
async def test_prompt_llm_parser_chain_streams_text(sync: bool) -> None:
    llm = Scripted(["Owls", " are", " wise", CompletionInfo(USAGE)])  # type: ignore[arg-type]
    chain = PromptTemplate.from_template("Tell me about {topic}") | llm | StrOutputParser()
    if sync:
        chunks = list(chain.stream({"topic": "owls"}))
        whole = chain.invoke({"topic": "owls"})
    else:
        chunks = [c async for c in chain.astream({"topic": "owls"})]
        whole = await chain.ainvoke({"topic": "owls"})
    assert chunks == ["Owls", " are", " wise"]
    assert whole == "Owls are wise"
    assert llm.prompts[0] == "Tell me about owls"


async def test_chain_events_include_the_llm_tokens() -> None:
    llm = Scripted(["a", "b"])
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | llm | StrOutputParser()
    events = [e async for e in chain.astream_events({"q": "hi"}, version="v2")]
    streamed = [e["data"]["chunk"] for e in events if e["event"] == "on_llm_stream"]
    assert streamed == ["a", "b"]
    parser = [e["data"]["chunk"] for e in events if e["event"] == "on_parser_stream"]
    assert parser == ["a", "b"]
    assert llm.prompts == ["Human: hi"]
    llm_start = next(e for e in events if e["event"] == "on_llm_start")
    assert len(llm_start["parent_ids"]) == 1


class State(TypedDict):
    topic: str
    text: str


@SYNC
async def test_graph_messages_mode_gets_ai_message_chunks(sync: bool) -> None:
    llm = Scripted(["Hel", "lo", CompletionInfo(USAGE)], tags=["joke"])  # type: ignore[arg-type]

    def node(state: State) -> dict[str, Any]:
        return {"text": llm.invoke(f"a joke about {state['topic']}")}

    async def anode(state: State) -> dict[str, Any]:
        return {"text": await llm.ainvoke(f"a joke about {state['topic']}")}

    graph = (
        StateGraph(State)
        .add_node("call", node if sync else anode)
        .add_edge(START, "call")
        .compile()
    )
    if sync:
        items = list(graph.stream({"topic": "cats"}, stream_mode="messages"))
    else:
        items = [i async for i in graph.astream({"topic": "cats"}, stream_mode="messages")]
    assert [chunk.content for chunk, _ in items] == ["Hel", "lo"]
    chunk, meta = items[0]
    assert isinstance(chunk, AIMessageChunk)
    assert len({c.id for c, _ in items}) == 1 and chunk.id
    assert meta["langgraph_node"] == "call" and meta["tags"] == ["joke"]
    assert meta["ls_model_type"] == "llm" and meta["ls_provider"] == "scripted"


async def test_graph_nostream_tag_hides_llm_tokens() -> None:
    llm = Scripted(["a"], tags=["nostream"])

    async def node(state: State) -> dict[str, Any]:
        return {"text": await llm.ainvoke("x")}

    graph = StateGraph(State).add_node("n", node).add_edge(START, "n").compile()
    items = [i async for i in graph.astream({"topic": "t"}, stream_mode="messages")]
    assert items == []
