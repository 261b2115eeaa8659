"""Callback handlers and custom events, under the module path LangChain users import them from.

Handlers see the life of every run they are attached to: ``callbacks=[...]`` on a model's
constructor, or ``config={"callbacks": [...]}`` on any call (then every run nested in it too,
without passing ``config`` on). Handlers written for ``langchain_core.callbacks`` work as they
are.

Example::

    from tokentide.callbacks import StreamingStdOutCallbackHandler, adispatch_custom_event
    from tokentide.models import FakeChatModel

    model = FakeChatModel(["Hello there"], streaming=True,
                          callbacks=[StreamingStdOutCallbackHandler()])
    model.invoke("hi")  # prints "Hello there" token by token

    async def step(x):
        await adispatch_custom_event("progress", {"pct": 50})
        return x
"""

from tokentide.runtime import adispatch_custom_event, dispatch_custom_event

from ._base import AsyncCallbackHandler, BaseCallbackHandler, Callbacks
from ._handlers import (
    AsyncIteratorCallbackHandler,
    StreamingStdOutCallbackHandler,
    UsageMetadataCallbackHandler,
    get_usage_metadata_callback,
)
from ._outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk, LLMResult

__all__ = [
    "AsyncCallbackHandler",
    "AsyncIteratorCallbackHandler",
    "BaseCallbackHandler",
    "Callbacks",
    "ChatGeneration",
    "ChatGenerationChunk",
    "Generation",
    "GenerationChunk",
    "LLMResult",
    "StreamingStdOutCallbackHandler",
    "UsageMetadataCallbackHandler",
    "adispatch_custom_event",
    "dispatch_custom_event",
    "get_usage_metadata_callback",
]
