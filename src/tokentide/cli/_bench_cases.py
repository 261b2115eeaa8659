"""The cases ``tokentide bench --check`` shares with the repository's ``bench/`` scripts.

A ratio budget compares tokentide with an incumbent (langchain-core, langgraph) or with a floor
on the same machine. Both sides must run the same minimal provider, so the providers and the
floors are defined once, here, and ``bench/bench_core.py``, ``bench/bench_graph.py`` and
``bench/bench_openai.py`` import them:

- `make_tokens`: the token list every stream yields (word tokens, deterministic);
- `TokenListModel`: tokentide's minimal provider, one ``AIMessageChunk(content=t)`` per token;
- `make_lc_model`: the same provider for langchain-core (``None`` if it is not installed);
- `messages_graphs`: a one-node chat graph (sync node and async node) for ``tokentide.graph``
  or ``langgraph.graph``;
- `blast_server`, `floor_sync`, `floor_async`: a loopback OpenAI-compatible server in its own
  process, and the least work any client must do with its stream (httpx reading the body and
  ``json.loads`` once per server-sent event).

Example::

    tokens = make_tokens(20_000)
    ours, theirs = TokenListModel(tokens), make_lc_model(tokens)
    with blast_server(20_000) as url:
        with httpx.Client() as client:
            floor_sync(client, url)  # 20,003 events
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from tokentide.messages import AIMessageChunk, BaseMessage
from tokentide.models import BaseChatModel

__all__ = [
    "BODY",
    "MESSAGES",
    "MESSAGES_INPUT",
    "TokenListModel",
    "blast_server",
    "floor_async",
    "floor_sync",
    "make_lc_model",
    "make_tokens",
    "messages_graphs",
    "optional_import",
]

MESSAGES = [{"role": "user", "content": "hi"}]
"""The chat every OpenAI-compatible case sends."""
BODY = {"model": "m", "messages": MESSAGES, "stream": True}
"""The request body of the httpx floors."""
MESSAGES_INPUT = {"messages": [("user", "hi")]}
"""The input of the chat graphs."""


def make_tokens(n: int) -> list[str]:
    """Realistic word tokens (a leading space, 2 to 9 letters), deterministic."""
    words = (
        "the stream of tokens moves from model to reader through chains graphs and "
        "servers without copies callbacks or serialization at each hop"
    ).split()
    return [f" {words[i % len(words)]}" for i in range(n)]


def optional_import(name: str) -> ModuleType | None:
    """Import an incumbent library, or ``None`` if it is not installed (its cases are skipped)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class TokenListModel(BaseChatModel):
    """Minimal tokentide provider: yields one ``AIMessageChunk(content=t)`` per token."""

    provider = "bench"

    def __init__(self, tokens: list[str]) -> None:
        super().__init__()
        self.tokens = tokens

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        for t in self.tokens:
            yield AIMessageChunk(content=t)

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        for t in self.tokens:
            yield AIMessageChunk(content=t)


def make_lc_model(tokens: list[str]) -> Any:
    """The same minimal provider for langchain-core (``None`` if it is not installed).

    A ``langchain_core`` ``BaseChatModel`` subclass whose ``_stream``/``_astream`` yield
    ``ChatGenerationChunk(message=AIMessageChunk(content=t))`` per token and nothing else
    (its ``stream``/``astream`` report every chunk to the callback manager themselves and add
    a last empty chunk). ``GenericFakeChatModel`` is not used: it re-splits its message on
    whitespace instead of streaming the given chunks.
    """
    if optional_import("langchain_core") is None:
        return None
    models = importlib.import_module("langchain_core.language_models.chat_models")
    lc_messages = importlib.import_module("langchain_core.messages")
    outputs = importlib.import_module("langchain_core.outputs")
    lc_ai_message, lc_ai_chunk = lc_messages.AIMessage, lc_messages.AIMessageChunk
    generation, generation_chunk = outputs.ChatGeneration, outputs.ChatGenerationChunk

    class LCTokenListModel(models.BaseChatModel):  # type: ignore[misc,name-defined]
        tokens: list[str]

        @property
        def _llm_type(self) -> str:
            return "bench"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Any:
            message = lc_ai_message(content="".join(self.tokens))
            return outputs.ChatResult(generations=[generation(message=message)])

        def _stream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Iterator[Any]:
            for t in self.tokens:
                yield generation_chunk(message=lc_ai_chunk(content=t))

        async def _astream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> AsyncIterator[Any]:
            for t in self.tokens:
                yield generation_chunk(message=lc_ai_chunk(content=t))

    return LCTokenListModel(tokens=tokens)


def messages_graphs(lib: Any, model: Any, *, pass_config: bool = False) -> dict[str, Any]:
    """A one-node chat graph built with ``lib`` (``tokentide.graph`` or ``langgraph.graph``)
    around ``model``: ``"sync_chat"`` (a sync node calling ``model.invoke``) and
    ``"async_chat"`` (an async node awaiting ``model.ainvoke``). ``pass_config``: the async
    node hands its ``config`` to the model (LangGraph needs that on Python < 3.11 to stream
    the tokens)."""

    def sync_chat(state: Any) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def async_chat(state, config):  # type: ignore[no-untyped-def]  # (injected by name)
        return {
            "messages": [await model.ainvoke(state["messages"], config if pass_config else None)]
        }

    def single(node: Any) -> Any:
        graph = lib.StateGraph(lib.MessagesState).add_node("chat", node)
        return graph.add_edge(lib.START, "chat").compile()

    return {"sync_chat": single(sync_chat), "async_chat": single(async_chat)}


# ---------------------------------------------------------------------- OpenAI over loopback

_LOOPBACK = Path(__file__).with_name("_bench_loopback.py")


@contextmanager
def blast_server(n: int, *, timeout: float = 30.0) -> Iterator[str]:
    """A server process on 127.0.0.1 streaming ``n`` chunks per request; yields its base URL.

    The process is ended on exit (and ends by itself when this process goes away). Raises
    ``RuntimeError`` when it does not print its port within ``timeout`` seconds.
    """
    proc = subprocess.Popen(
        [sys.executable, str(_LOOPBACK), str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=_read_line, args=(proc.stdout, line), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip().isdigit():
            raise RuntimeError(f"the loopback server did not start within {timeout:g} s")
        yield f"http://127.0.0.1:{int(line[0])}/v1"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _read_line(stream: Any, into: list[str]) -> None:
    into.append(stream.readline())


def _events(buffer: bytes) -> tuple[list[bytes], bytes]:
    blocks = buffer.split(b"\n\n")
    return blocks, blocks.pop()


def floor_sync(client: httpx.Client, url: str) -> int:
    """Stream one response with ``client``: raw pieces split on blank lines, ``json.loads``
    once per event. Returns the number of events."""
    n = 0
    with client.stream("POST", url + "/chat/completions", json=BODY) as response:
        rest = b""
        for piece in response.iter_raw():
            blocks, rest = _events(rest + piece)
            for block in blocks:
                if block != b"data: [DONE]":
                    json.loads(block[6:])
                    n += 1
    return n


async def floor_async(client: httpx.AsyncClient, url: str) -> int:
    """`floor_sync` with an async client."""
    n = 0
    async with client.stream("POST", url + "/chat/completions", json=BODY) as response:
        rest = b""
        async for piece in response.aiter_raw():
            blocks, rest = _events(rest + piece)
            for block in blocks:
                if block != b"data: [DONE]":
                    json.loads(block[6:])
                    n += 1
    return n
