"""`BaseCallbackHandler` and `AsyncCallbackHandler`: LangChain's handler interface.

Same method names, arguments and flags as ``langchain_core.callbacks``, so a handler written
for LangChain works unchanged; handlers that subclass LangChain's own classes are accepted as
they are (duck typing: only the method names matter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from tokentide.messages import BaseMessage

__all__ = ["AsyncCallbackHandler", "BaseCallbackHandler", "Callbacks"]

Callbacks = Any
"""What ``callbacks=`` and ``config["callbacks"]`` take: a list of handlers (tokentide's or
LangChain's), or a LangChain callback manager (its ``handlers`` are used)."""


class _Flags:
    """The flags LangChain's handlers expose (all off by default)."""

    raise_error: bool = False
    """Raise the handler's exceptions into the run (default: log a warning and go on)."""
    run_inline: bool = False
    """Accepted for compatibility: every handler runs in order, in the run's own thread or task."""

    @property
    def ignore_llm(self) -> bool:
        return False

    @property
    def ignore_retry(self) -> bool:
        return False

    @property
    def ignore_chain(self) -> bool:
        return False

    @property
    def ignore_agent(self) -> bool:
        return False

    @property
    def ignore_retriever(self) -> bool:
        return False

    @property
    def ignore_chat_model(self) -> bool:
        return False

    @property
    def ignore_custom_event(self) -> bool:
        return False


class BaseCallbackHandler(_Flags):
    """Receives the life of every run it is attached to; override the methods you need.

    Attach it with ``callbacks=[handler]`` on a model's constructor (that model's runs) or
    with ``config={"callbacks": [handler]}`` on any call (that run and every run nested in
    it, including models called inside a graph node or a lambda without passing ``config``).

    Example::

        from tokentide.callbacks import BaseCallbackHandler

        class Printer(BaseCallbackHandler):
            def on_llm_new_token(self, token, **kwargs):
                print(token, end="", flush=True)

        chain.invoke({"topic": "cats"}, config={"callbacks": [Printer()]})
    """

    # ---------------------------------------------------------------- models
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A completion model started (or a chat model, for a handler without
        :meth:`on_chat_model_start`: ``prompts`` are then the messages as text)."""

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A chat model started. Not implemented here: as in LangChain, handlers that do not
        override it get :meth:`on_llm_start` instead."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_chat_model_start")

    def on_llm_new_token(
        self,
        token: str,
        *,
        chunk: Any = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A model produced a piece of text (``chunk``: a `ChatGenerationChunk` whose
        ``message`` is the streamed ``AIMessageChunk``, or a `GenerationChunk`)."""

    def on_llm_end(
        self,
        response: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A model finished (``response``: an `LLMResult`)."""

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A model failed."""

    # ---------------------------------------------------------------- chains
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A chain, prompt, parser, lambda, graph or graph node started."""

    def on_chain_end(
        self,
        outputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A chain finished."""

    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A chain failed."""

    # ---------------------------------------------------------------- tools
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A tool started."""

    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A tool finished."""

    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A tool failed."""

    # ---------------------------------------------------------------- retrievers
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A retriever started."""

    def on_retriever_end(
        self,
        documents: Sequence[Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A retriever finished."""

    def on_retriever_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """A retriever failed."""

    # ---------------------------------------------------------------- custom
    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """User code dispatched a custom event (``dispatch_custom_event``)."""


class AsyncCallbackHandler(_Flags):
    """`BaseCallbackHandler` with ``async`` methods: each call is awaited in order, and an
    async stream waits for it before handing on the next chunk.

    Example::

        class Collector(AsyncCallbackHandler):
            def __init__(self):
                self.tokens = []

            async def on_llm_new_token(self, token, **kwargs):
                self.tokens.append(token)

        await model.ainvoke("hi", config={"callbacks": [Collector()]})
    """

    async def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_llm_start`."""

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> Any:
        """See `BaseCallbackHandler.on_chat_model_start` (falls back to ``on_llm_start``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_chat_model_start")

    async def on_llm_new_token(
        self, token: str, *, chunk: Any = None, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_llm_new_token`."""

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_llm_end`."""

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_llm_error`."""

    async def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_chain_start`."""

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_chain_end`."""

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_chain_error`."""

    async def on_tool_start(
        self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_tool_start`."""

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_tool_end`."""

    async def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_tool_error`."""

    async def on_retriever_start(
        self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_retriever_start`."""

    async def on_retriever_end(
        self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_retriever_end`."""

    async def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """See `BaseCallbackHandler.on_retriever_error`."""

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """See `BaseCallbackHandler.on_custom_event`."""
