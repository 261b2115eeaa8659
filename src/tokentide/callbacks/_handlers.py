"""The handlers LangChain users reach for: print tokens, iterate tokens, sum usage."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tokentide.messages import UsageMetadata, add_usage
from tokentide.runtime import handler_in_context

from ._base import AsyncCallbackHandler, BaseCallbackHandler

__all__ = [
    "AsyncIteratorCallbackHandler",
    "StreamingStdOutCallbackHandler",
    "UsageMetadataCallbackHandler",
    "get_usage_metadata_callback",
]


class StreamingStdOutCallbackHandler(BaseCallbackHandler):
    """Write every token to standard output as it arrives (``stream`` sets another file).

    Example::

        model = ChatOpenAI(streaming=True, callbacks=[StreamingStdOutCallbackHandler()])
        model.invoke("Tell me a joke")  # the joke appears token by token
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        out.write(token)
        out.flush()


class AsyncIteratorCallbackHandler(AsyncCallbackHandler):
    """Hand a model's tokens to another task: ``async for token in handler.aiter()`` ends
    when the model run ends (or fails).

    Example::

        handler = AsyncIteratorCallbackHandler()
        task = asyncio.create_task(model.ainvoke("hi", config={"callbacks": [handler]}))
        async for token in handler.aiter():
            print(token, end="")
        await task
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.done = asyncio.Event()

    @property
    def always_verbose(self) -> bool:
        return True

    async def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> None:
        self.done.clear()

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        if token:
            self.queue.put_nowait(token)

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.done.set()

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.done.set()

    async def aiter(self) -> AsyncIterator[str]:
        """The tokens, until the run ends."""
        while not self.queue.empty() or not self.done.is_set():
            if self.queue.empty():
                getter = asyncio.ensure_future(self.queue.get())
                ender = asyncio.ensure_future(self.done.wait())
                finished, pending = await asyncio.wait(
                    {getter, ender}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                if getter in finished:
                    yield getter.result()
                continue
            yield self.queue.get_nowait()


class UsageMetadataCallbackHandler(BaseCallbackHandler):
    """Sum the token usage of every model run, per model name (``usage_metadata``).

    Example::

        usage = UsageMetadataCallbackHandler()
        chain.invoke({"topic": "cats"}, config={"callbacks": [usage]})
        usage.usage_metadata  # {"gpt-4o-mini": {"input_tokens": 12, "output_tokens": 30, ...}}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage_metadata: dict[str, UsageMetadata] = {}

    def __repr__(self) -> str:
        return str(self.usage_metadata)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None)
                if not usage:
                    continue
                meta = getattr(message, "response_metadata", None) or {}
                name = meta.get("model_name") or (response.llm_output or {}).get("model_name")
                if not name:
                    continue
                with self._lock:
                    total = add_usage(self.usage_metadata.get(name), usage)
                    if total is not None:
                        self.usage_metadata[name] = total


@contextmanager
def get_usage_metadata_callback(
    name: str = "usage_metadata_callback",
) -> Iterator[UsageMetadataCallbackHandler]:
    """Sum the token usage of every model call made inside the ``with`` block, per model
    name, without passing ``callbacks`` anywhere (LangChain's context manager of that name;
    ``name`` is accepted for compatibility).

    Example::

        with get_usage_metadata_callback() as cb:
            model.invoke("Hello")
            other_model.invoke("Hello")
        cb.usage_metadata  # {"model-a": {...}, "model-b": {...}}
    """
    del name
    handler = UsageMetadataCallbackHandler()
    with handler_in_context(handler):
        yield handler
