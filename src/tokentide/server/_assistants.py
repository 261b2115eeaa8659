"""What the server serves: chat models and graphs behind one small interface, and the fair
queue in front of a model that can only generate one reply at a time.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolCallChunk,
    convert_to_messages,
)
from tokentide.models import BaseChatModel, BaseLLM
from tokentide.runnables import Runnable, RunnableConfig
from tokentide.runtime import aclose_if_closable

from ._asgi import HTTPError

__all__ = ["Assistant", "FairGate", "QueueFull", "build_assistants"]

GRAPH_MODES = frozenset({"messages", "values", "updates", "custom"})


class QueueFull(HTTPError):
    """The model's queue is full: answered with 503 and ``Retry-After``."""

    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(
            503,
            f"the model {name!r} is busy and its queue is full; retry after {retry_after} s",
            type="server_error",
            code="queue_full",
            headers=[(b"retry-after", str(retry_after).encode())],
        )


class Ticket:
    """A place in a `FairGate`: ``await ticket.wait()`` until it is this one's turn, then
    ``ticket.release()`` (also when giving up early)."""

    __slots__ = ("_gate", "_future", "_state")

    def __init__(self, gate: FairGate, future: asyncio.Future[None] | None) -> None:
        self._gate = gate
        self._future = future
        self._state = 0 if future is not None else 1  # 0 queued, 1 holding, 2 released

    async def wait(self) -> None:
        if self._future is not None and self._state == 0:
            await self._future
            self._state = 1

    def release(self) -> None:
        if self._state == 2:
            return
        future = self._future
        handed = future is None or (future.done() and not future.cancelled())
        if self._state == 1 or handed:
            self._gate.pass_on()  # we hold the slot (perhaps handed over as we gave up)
        elif future is not None:
            future.cancel()  # still queued: leave the queue
            self._gate.forget(future)
        self._state = 2


class FairGate:
    """At most ``limit`` holders at a time; others wait in FIFO order, at most ``max_queue``
    of them; a request past that is refused with `QueueFull` (HTTP 503, ``Retry-After``).

    A running holder is never interrupted: a slot passes to the next waiter only when its
    holder releases it.

    Example::

        gate = FairGate("local", limit=1, max_queue=8)
        ticket = gate.reserve()       # raises QueueFull when 8 are already waiting
        try:
            await ticket.wait()       # our turn
            ...                       # generate
        finally:
            ticket.release()
    """

    def __init__(self, name: str, *, limit: int = 1, max_queue: int = 16, retry_after: int = 2):
        if limit < 1 or max_queue < 0:
            raise ValueError("limit must be >= 1 and max_queue >= 0")
        self.name = name
        self.limit = limit
        self.max_queue = max_queue
        self.retry_after = retry_after
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def reserve(self) -> Ticket:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return Ticket(self, None)
        if len(self._waiters) >= self.max_queue:
            raise QueueFull(self.name, self.retry_after)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return Ticket(self, future)

    def forget(self, future: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(future)
        except ValueError:
            pass

    def pass_on(self) -> None:
        """A holder left: hand its slot to the first waiter still waiting."""
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.active -= 1


class Assistant:
    """A model or graph the server runs, by name.

    ``kind`` is ``"model"`` (input: messages; the only stream mode is ``messages``) or
    ``"graph"`` (any compiled graph or runnable with ``astream(input, config,
    stream_mode=[...])``; input: its state, e.g. ``{"messages": [...]}``).
    """

    def __init__(
        self, name: str, target: Any, *, gate: FairGate | None = None, checkpointer: Any = None
    ) -> None:
        self.name = name
        self.target = target
        self.gate = gate
        self.kind = "model" if isinstance(target, (BaseChatModel, BaseLLM)) else "graph"
        #: With a served ``checkpointer``: the graph as compiled, for runs without a thread
        #: (``target`` is then a copy that keeps its threads in the served checkpointer).
        self.stateless: Any = None
        if checkpointer is not None and self.kind == "graph" and hasattr(target, "checkpointer"):
            self.stateless = target
            self.target = copy.copy(target)
            self.target.checkpointer = checkpointer
        self.modes = frozenset({"messages"}) if self.kind == "model" else GRAPH_MODES
        self.default_modes: tuple[str, ...] = ("messages",) if self.kind == "model" else ("values",)
        self.has_modes = self.kind == "graph" and _takes_stream_mode(target)

    # ---------------------------------------------------------------- runs

    def parse_input(self, value: Any) -> Any:
        """Validate a run's input (``ValueError``/``TypeError`` say what is wrong)."""
        if self.kind == "model":
            return convert_to_messages(value)
        if isinstance(value, Mapping) and "messages" in value:
            return {**value, "messages": convert_to_messages(value["messages"])}
        return value

    async def astream(
        self, value: Any, config: RunnableConfig | None, modes: tuple[str, ...]
    ) -> AsyncIterator[tuple[str, Any]]:
        """``(mode, payload)`` pairs; ``messages`` payloads are ``(chunk, metadata)``."""
        if self.kind == "model":
            meta = {"assistant": self.name}
            stream = self.target.astream(value, config)
            try:
                async for chunk in stream:
                    yield "messages", (_as_message_chunk(chunk), meta)
            finally:
                await aclose_if_closable(stream)
            return
        if self.has_modes:
            target = self.target
            if self.stateless is not None and not _thread_id(config):
                target = self.stateless
            stream = target.astream(value, config, stream_mode=list(modes))
            try:
                async for item in stream:
                    yield item
            finally:
                await aclose_if_closable(stream)
            return
        async for pair in _plain_runnable(self.target, value, config):
            yield pair

    # ---------------------------------------------------------------- chat completions

    async def chat(
        self, messages: list[BaseMessage], options: dict[str, Any], tools: dict[str, Any] | None
    ) -> AsyncGenerator[AIMessageChunk, None]:
        """The reply to a chat completion request as chunks (a graph: the AI chunks of its
        ``messages`` stream; its final AI message when it streamed none).

        A graph receives the request's tools in ``config["configurable"]["tools"]`` (and
        ``"tool_choice"``); its calls to those tools stream as tool-call chunks, calls to the
        graph's own tools stay inside the graph."""
        if self.kind == "model":
            async for chunk in self._model_chat(messages, options, tools):
                yield chunk
            return
        streamed = False
        final: Any = None
        client_calls = ClientToolCalls(tools)
        stream = self.astream({"messages": messages}, client_calls.config, ("messages", "values"))
        try:
            async for mode, payload in stream:
                if mode == "values":
                    final = payload
                    continue
                if mode != "messages":
                    continue
                message = payload[0] if isinstance(payload, tuple) else payload
                if isinstance(message, AIMessageChunk):
                    streamed = True
                    calls = client_calls.pick(message)
                    yield AIMessageChunk(
                        message.content,
                        tool_call_chunks=calls,
                        usage_metadata=message.usage_metadata,
                    )
                elif isinstance(message, AIMessage) and message.content:
                    streamed = True
                    yield AIMessageChunk(message.content)
        finally:
            await aclose_if_closable(stream)
        if not streamed:
            text = _last_ai_text(final)
            if text:
                yield AIMessageChunk(text)

    def open_chat(
        self, messages: list[BaseMessage], options: dict[str, Any], tools: dict[str, Any] | None
    ) -> AsyncIterator[AIMessageChunk]:
        """:meth:`chat` without its wrapper where the target is a chat model: the model's own
        stream, one generator layer per token fewer. Errors that :meth:`chat` would raise at
        its first step may raise here, at the call; ``aclose()`` the stream when done."""
        if self.kind == "model" and isinstance(self.target, BaseChatModel):
            return self._model_stream(messages, options, tools)
        return self.chat(messages, options, tools)

    def _model_stream(
        self, messages: list[BaseMessage], options: dict[str, Any], tools: dict[str, Any] | None
    ) -> AsyncIterator[Any]:
        model: Any = self.target
        if tools is not None:
            bind_tools = getattr(model, "bind_tools", None)
            if bind_tools is None:
                raise HTTPError(
                    400, f"the model {self.name!r} does not support tools", param="tools"
                )
            extra: dict[str, Any] = {}
            if tools.get("parallel_tool_calls") is not None:
                extra["parallel_tool_calls"] = tools["parallel_tool_calls"]
            model = bind_tools(tools["tools"], tool_choice=tools.get("tool_choice"), **extra)
        stream: AsyncIterator[Any] = model.astream(messages, **options)
        return stream

    async def _model_chat(
        self, messages: list[BaseMessage], options: dict[str, Any], tools: dict[str, Any] | None
    ) -> AsyncIterator[AIMessageChunk]:
        stream = self._model_stream(messages, options, tools)
        try:
            async for chunk in stream:
                yield _as_message_chunk(chunk)
        finally:
            await aclose_if_closable(stream)


class ClientToolCalls:
    """The tool calls of a graph's reply that go to the client: calls to the tools the
    request declared (a graph's own tools run inside it and are not the client's business).
    """

    __slots__ = ("names", "config", "_seen")

    def __init__(self, tools: dict[str, Any] | None) -> None:
        declared = (tools or {}).get("tools") or []
        self.names = frozenset(
            t["function"]["name"] for t in declared if isinstance(t.get("function"), Mapping)
        )
        self.config: RunnableConfig | None = None
        if tools is not None:
            configurable = {
                "tools": declared,
                "tool_choice": tools.get("tool_choice"),
                "parallel_tool_calls": tools.get("parallel_tool_calls"),
            }
            self.config = RunnableConfig(configurable=configurable)
        self._seen: dict[tuple[str | None, Any], bool] = {}  # (message, index) -> forwarded

    def pick(self, chunk: AIMessageChunk) -> list[ToolCallChunk]:
        if not self.names or not chunk.tool_call_chunks:
            return []
        kept = []
        for piece in chunk.tool_call_chunks:
            key = (chunk.id, piece.get("index"))
            name = piece.get("name")
            if name:
                self._seen[key] = name in self.names
            if self._seen.get(key, False):
                kept.append(piece)
        return kept


def _as_message_chunk(chunk: Any) -> AIMessageChunk:
    """A completion model's ``str`` chunk as an ``AIMessageChunk`` (chat models' pass as is)."""
    return AIMessageChunk(chunk) if isinstance(chunk, str) else chunk


def _thread_id(config: RunnableConfig | None) -> Any:
    return ((config or {}).get("configurable") or {}).get("thread_id")


def _takes_stream_mode(target: Any) -> bool:
    astream = getattr(target, "astream", None)
    if astream is None:
        raise TypeError(f"{target!r} is not a graph or runnable: it has no astream()")
    try:
        params = inspect.signature(astream).parameters
    except (TypeError, ValueError):
        return False
    return "stream_mode" in params


async def _plain_runnable(
    target: Runnable[Any, Any], value: Any, config: RunnableConfig | None
) -> AsyncIterator[tuple[str, Any]]:
    """A runnable without stream modes: text and AI chunks are ``messages``; anything else is
    a ``values`` item."""
    meta: dict[str, Any] = {}
    stream = target.astream(value, config)
    try:
        async for item in stream:
            if isinstance(item, str):
                yield "messages", (AIMessageChunk(item), meta)
            elif isinstance(item, AIMessageChunk):
                yield "messages", (item, meta)
            else:
                yield "values", item
    finally:
        await aclose_if_closable(stream)


def _last_ai_text(state: Any) -> str:
    messages = state.get("messages") if isinstance(state, Mapping) else None
    if isinstance(state, AIMessage):
        return state.text
    if isinstance(messages, list) and messages and isinstance(messages[-1], AIMessage):
        return messages[-1].text
    return ""


def build_assistants(
    models: Mapping[str, BaseChatModel | BaseLLM],
    graphs: Mapping[str, Any],
    *,
    concurrency: Mapping[str, int] | None = None,
    max_queue: int = 16,
    retry_after: int = 2,
    checkpointer: Any = None,
) -> dict[str, Assistant]:
    """Assistants by name; a model whose ``provider`` is ``llamacpp`` (one llama.cpp context)
    gets a gate of one, others no gate unless ``concurrency`` names them. A ``checkpointer``
    replaces the graphs' own for their threads."""
    result: dict[str, Assistant] = {}
    limits = dict(concurrency or {})

    def gate(name: str, default: int) -> FairGate | None:
        limit = limits.get(name, default)
        if not limit:
            return None
        return FairGate(name, limit=limit, max_queue=max_queue, retry_after=retry_after)

    for name, model in models.items():
        if not isinstance(model, (BaseChatModel, BaseLLM)):
            raise TypeError(
                f"models[{name!r}] must be a BaseChatModel or BaseLLM, got {type(model).__name__}"
            )
        local = getattr(model, "provider", "") == "llamacpp"
        result[name] = Assistant(name, model, gate=gate(name, 1 if local else 0))
    for name, graph in graphs.items():
        if name in result:
            raise ValueError(f"{name!r} names both a model and a graph")
        result[name] = Assistant(name, graph, gate=gate(name, 0), checkpointer=checkpointer)
    return result
