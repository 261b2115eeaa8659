"""A LangChain chat model streaming what a tokentide ``FakeChatModel`` streams, converted chunk
by chunk: the differential suites give both libraries the same scripted replies, so that any
difference comes from what is compared, not from the models. Needs ``langchain_core``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import langchain_core.messages as lc_messages
from langchain_core.language_models import BaseChatModel as LCBaseChatModel
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages.tool import tool_call_chunk as lc_tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

import tokentide.messages as tt_messages

__all__ = ["ScriptedLCModel"]


class ScriptedLCModel(LCBaseChatModel):
    """A LangChain chat model streaming what a tokentide ``FakeChatModel`` (``fake``) streams."""

    fake: Any
    # Whether the chunks carry the fake's usage and response metadata.
    with_metadata: ClassVar[bool] = True
    # Whether ``invoke`` reports tokens to the callbacks (tokentide's does not).
    tokens_from_invoke: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _convert(self, chunk: tt_messages.AIMessageChunk) -> lc_messages.AIMessageChunk:
        metadata: dict[str, Any] = {}
        if self.with_metadata:
            metadata = {
                "usage_metadata": chunk.usage_metadata,
                "response_metadata": dict(chunk.response_metadata),
            }
        return lc_messages.AIMessageChunk(
            content=chunk.content,
            tool_call_chunks=[
                lc_tool_call_chunk(name=c["name"], args=c["args"], id=c["id"], index=c["index"])
                for c in chunk.tool_call_chunks
            ],
            chunk_position=chunk.chunk_position,
            **metadata,
        )

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.fake.stream("x"):
            gen = ChatGenerationChunk(message=self._convert(chunk))
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.content, chunk=gen)
            yield gen

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self.fake.stream("x"):
            gen = ChatGenerationChunk(message=self._convert(chunk))
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.content, chunk=gen)
            yield gen

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if not self.tokens_from_invoke:
            run_manager = None
        return generate_from_stream(self._stream(messages, stop, run_manager, **kw))
