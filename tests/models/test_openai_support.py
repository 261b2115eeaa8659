"""Shared helpers of the ChatOpenAI tests (no tests here): scripted server, stream collectors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from fakes.sse_server import (
    Script,
    ScriptedSSEServer,
    chat_chunk,
    comment,
    data,
    end,
    raw,
    reset,
    sleep,
    usage_chunk,
)
from tokentide.messages import AIMessageChunk
from tokentide.models import ChatOpenAI

__all__ = [
    "Script",
    "ScriptedSSEServer",
    "chat_chunk",
    "collect",
    "comment",
    "data",
    "end",
    "make_model",
    "raw",
    "reset",
    "sleep",
    "text_of",
    "usage_chunk",
]


def make_model(server: ScriptedSSEServer, **kwargs: Any) -> ChatOpenAI:
    options: dict[str, Any] = {"base_url": server.base_url, "api_key": "sk-test", "model": "m"}
    options.update(kwargs)
    model = ChatOpenAI(**options)
    model._transport.retry_base_delay = 0.01
    return model


async def collect(
    model: Any, sync: bool, input: Any = "hi", **kwargs: Any
) -> tuple[list[Any], BaseException | None]:
    """Consume a stream sync or async; return the items and the error that ended it."""
    items: list[Any] = []
    try:
        if sync:
            stream: Iterator[Any] = model.stream(input, **kwargs)
            for item in stream:
                items.append(item)
        else:
            astream: AsyncIterator[Any] = model.astream(input, **kwargs)
            try:
                async for item in astream:
                    items.append(item)
            finally:
                await astream.aclose()  # type: ignore[attr-defined]
    except Exception as exc:
        return items, exc
    return items, None


def text_of(chunks: list[AIMessageChunk]) -> str:
    return "".join(chunk.content for chunk in chunks)
