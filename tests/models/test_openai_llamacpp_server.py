"""ChatOpenAI against a real peer: llama-cpp-python's OpenAI-compatible server serving the
embedded SmolLM2 model (started once per session on a free loopback port: the ``llama_server``
fixture of ``tests/conftest.py``).

What that server sends (llama-cpp-python 0.3.x): no ``usage`` in streams (it ignores
``stream_options``), so the last chunk carries ``response_metadata["usage_missing"]``; no
``system_fingerprint``; tool calls (with a named ``tool_choice``) as ``tool_calls`` deltas with
``index`` and ``id`` repeated on every fragment, plus a legacy ``function_call`` field that is
ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tokentide.messages import ChunkAccumulator
from tokentide.models import ChatOpenAI

from .openai_support import SYNC, collect, text_of

pytestmark = [pytest.mark.local_model, pytest.mark.slow]
PROMPT = "Name three colors."


@pytest.fixture
async def chat(llama_server: str) -> AsyncIterator[ChatOpenAI]:
    model = ChatOpenAI(base_url=llama_server, model="smollm2", temperature=0, seed=7, max_tokens=24)
    yield model
    await model.aclose()


@SYNC
async def test_streamed_text_equals_non_streamed_text(sync, chat, llama_server) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0,
        "seed": 7,
        "max_tokens": 24,
        "min_tokens": 8,  # a reply of at least 8 tokens on every CPU
    }
    async with httpx.AsyncClient(timeout=60) as client:
        reply = (await client.post(f"{llama_server}/chat/completions", json=body)).json()
    expected = reply["choices"][0]["message"]["content"]
    chunks, err = await collect(chat, sync, PROMPT, min_tokens=8)
    assert err is None
    assert len(chunks) > 3  # really streamed
    assert text_of(chunks) == expected and expected
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    merged = acc.result()
    assert merged.response_metadata["finish_reason"] in ("stop", "length")
    assert merged.response_metadata["model_name"] == "smollm2"
    # This server sends no usage in streams (it does in non-streamed replies): say so.
    assert merged.usage_metadata is None
    assert merged.response_metadata["usage_missing"] is True
    assert reply["usage"]["completion_tokens"] > 0


@SYNC
async def test_tool_call_from_the_server(sync, chat) -> None:
    def get_weather(city: str) -> str:
        """Get the current weather in a city.

        Args:
            city: the city name
        """
        return "sunny"

    bound = chat.bind(max_tokens=48).bind_tools([get_weather], tool_choice="get_weather")
    chunks, err = await collect(bound, sync, "What is the weather in Paris?")
    assert err is None
    assert sum(1 for chunk in chunks if chunk.tool_call_chunks) > 1
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    merged = acc.result()
    calls = merged.tool_calls + merged.invalid_tool_calls
    assert calls and calls[0]["name"] == "get_weather" and calls[0]["id"]


def test_seed_000_code_streams_with_base_url_from_environment(
    llama_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # The seed code, with only the import changed (and a bound on how much we wait for).
    from tokentide.models import ChatOpenAI

    chat = ChatOpenAI(model_name="gpt-4o-mini")
    n = 0
    for chunk in chat.stream("고양이에 대한 시를 써줘."):
        print(chunk.content, end="", flush=True)
        n += 1
        if n == 20:
            break
    chat.close()
    assert n == 20 and capsys.readouterr().out
