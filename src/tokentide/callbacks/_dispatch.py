"""`CallbackSink`: the run sink that calls callback handlers (LangChain's method names).

Attached to a run by ``callbacks=[...]`` (a model's constructor) or ``config["callbacks"]``
(any call); every run nested in that run inherits it, so a model called inside a lambda or a
graph node reaches the handlers without ``config`` being passed on. Runs nobody attached
handlers to never see this module: their cost stays one attribute check.

Async handlers' coroutines are run in order by one task per sink on the event loop; an async
stream waits for them (``backlogged`` / ``drained``) before handing on the next chunk. Outside
an event loop they are run to completion on the spot.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any
from uuid import UUID

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from tokentide.runtime import NO_INPUT, RunContext, RunSink, get_buffer_string

from ._base import AsyncCallbackHandler, BaseCallbackHandler
from ._outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk, LLMResult

__all__ = ["NO_TOKENS", "CallbackSink", "attach_callbacks", "handlers_of"]

logger = logging.getLogger("tokentide.callbacks")
_new_chunk = ChatGenerationChunk.__new__
_BASE_TOKEN_METHODS = (
    BaseCallbackHandler.on_llm_new_token,
    AsyncCallbackHandler.on_llm_new_token,
)

#: ``run.extra`` key a model sets on a run whose tokens handlers must not see (``invoke`` of
#: a model built without ``streaming=True``, as in LangChain).
NO_TOKENS = "tokentide.callbacks.no_tokens"

#: Run types and the family of callback methods they report with.
_KIND = {
    "chat_model": "chat",
    "llm": "llm",
    "tool": "tool",
    "retriever": "retriever",
}
_IGNORE = {
    "chat": ("ignore_llm", "ignore_chat_model"),
    "llm": ("ignore_llm",),
    "chain": ("ignore_chain",),
    "tool": ("ignore_agent",),
    "retriever": ("ignore_retriever",),
}
_END = {"chat": "on_llm_end", "llm": "on_llm_end", "chain": "on_chain_end"}
_ERROR = {
    "chat": "on_llm_error",
    "llm": "on_llm_error",
    "chain": "on_chain_error",
    "tool": "on_tool_error",
    "retriever": "on_retriever_error",
}


def handlers_of(callbacks: Any) -> list[Any]:
    """The handlers in a ``callbacks`` value: a list, a single handler, or a callback manager
    (LangChain's ``CallbackManager``: its ``handlers``)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        return list(callbacks)
    handlers = getattr(callbacks, "handlers", None)
    if isinstance(handlers, list):
        return list(handlers)
    if any(hasattr(callbacks, name) for name in ("on_llm_new_token", "on_chain_start")):
        return [callbacks]
    raise TypeError(
        "callbacks must be a list of callback handlers (BaseCallbackHandler or "
        f"AsyncCallbackHandler), got {type(callbacks).__name__}: {callbacks!r:.80}"
    )


def _attached(sink: RunSink | None) -> Iterable[Any]:
    while sink is not None:
        if isinstance(sink, CallbackSink):
            yield from sink.handlers
        sink = getattr(sink, "outer", None)


def attach_callbacks(callbacks: Any, outer: RunSink | None) -> RunSink | None:
    """The sink of a run given ``callbacks``: a `CallbackSink` in front of ``outer`` (the
    inherited sink); handlers already attached further out are not attached twice."""
    known = {id(h) for h in _attached(outer)}
    handlers = [h for h in handlers_of(callbacks) if id(h) not in known]
    if not handlers:
        return outer
    return CallbackSink(handlers, outer)


class _Run:
    """What the sink knows about one run: ids, kind, and the handlers that want it."""

    __slots__ = ("handlers", "kind", "one", "parent_run_id", "run_id", "tags", "tokens")

    def __init__(self, run: RunContext, kind: str, handlers: list[Any]) -> None:
        self.kind = kind
        self.handlers = handlers
        self.run_id = UUID(run.run_id)
        parent = run.parent
        self.parent_run_id = (
            UUID(parent.run_id) if parent is not None and parent.run_type != "scope" else None
        )
        self.tags = run.tags
        #: ``on_llm_new_token`` of the handlers that want tokens (``None``: none do).
        self.tokens: list[tuple[Callable[..., Any], Any]] | None = None
        #: The one entry of ``tokens`` when there is exactly one (the common case).
        self.one: tuple[Callable[..., Any], Any] | None = None


class CallbackSink(RunSink):
    """Calls ``handlers`` for every run under the run it is attached to; forwards every call
    to ``outer`` (the sink attached further out, if any)."""

    __slots__ = (
        "_busy",
        "_error",
        "_key",
        "_pending",
        "_run_of",
        "_state_of",
        "_worker",
        "handlers",
        "outer",
    )

    def __init__(self, handlers: list[Any], outer: RunSink | None) -> None:
        self.handlers = handlers
        self.outer = outer
        self._key = f"tokentide.callbacks.{id(self)}"
        #: The run last looked up and its state (a stream's tokens come from one run).
        self._run_of: RunContext | None = None
        self._state_of: _Run | None = None
        self._pending: deque[Coroutine[Any, Any, Any]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        #: Async handlers' work is queued, running or failed (the producer must wait).
        self._busy = False

    # ---------------------------------------------------------------- flow control

    @property
    def streams_tokens(self) -> bool:
        outer = self.outer
        return bool(getattr(outer, "streams_tokens", False))

    @property
    def backlogged(self) -> bool:
        if self._busy:
            return True
        outer = self.outer
        return outer is not None and outer.backlogged

    async def drained(self) -> None:
        worker = self._worker
        if worker is not None:
            await asyncio.shield(worker)
        self._busy = False
        error = self._error
        if error is not None:
            self._error = None
            raise error
        outer = self.outer
        if outer is not None and outer.backlogged:
            await outer.drained()

    def _schedule(self, handler: Any, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _run_here(self, handler, coro)
            return
        self._pending.append(_guarded(self, handler, coro))
        self._busy = True
        if self._worker is None:
            self._worker = loop.create_task(self._work())

    async def _work(self) -> None:
        pending = self._pending
        try:
            while pending:
                await pending.popleft()
        finally:
            self._worker = None

    # ---------------------------------------------------------------- calling handlers

    def _call(self, handler: Any, method: str, *args: Any, **kwargs: Any) -> None:
        try:
            result = getattr(handler, method)(*args, **kwargs)
        except NotImplementedError:
            if method != "on_chat_model_start":
                return
            prompts = [get_buffer_string(m) for m in args[1]]
            self._call(handler, "on_llm_start", args[0], prompts, **kwargs)
            return
        except Exception as exc:
            _failed(handler, method, exc)
            return
        if result is not None and asyncio.iscoroutine(result):
            if method == "on_chat_model_start":
                result = _chat_start_or_llm_start(handler, result, args, kwargs)
            self._schedule(handler, result)

    def _state(self, run: RunContext) -> _Run | None:
        state: _Run | None = run.extra.get(self._key)
        self._run_of, self._state_of = run, state
        return state

    # ---------------------------------------------------------------- RunSink

    def on_start(self, run: RunContext, input: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_start(run, input)
        kind = _KIND.get(run.run_type, "chain")
        flags = _IGNORE[kind]
        handlers = [h for h in self.handlers if not any(getattr(h, f, False) for f in flags)]
        if not handlers:
            return
        state = _Run(run, kind, handlers)
        run.extra[self._key] = state
        self._run_of, self._state_of = run, state
        if kind in ("chat", "llm") and not run.extra.get(NO_TOKENS):
            calls = [(h.on_llm_new_token, h) for h in handlers if _wants_tokens(h)]
            if calls:
                state.tokens = calls
                if len(calls) == 1:
                    state.one = calls[0]
        ids = {
            "run_id": state.run_id,
            "parent_run_id": state.parent_run_id,
            "tags": state.tags,
            "metadata": run.metadata,
            "name": run.name,
        }
        for handler in handlers:
            _start(self, handler, kind, run, input, ids)

    def on_stream(self, run: RunContext, chunk: Any) -> None:
        # The per-token path: everything constant for the run (which handlers want tokens,
        # their bound methods, the ids) was resolved in ``on_start``.
        outer = self.outer
        if outer is not None:
            outer.on_stream(run, chunk)
        state = self._state_of if self._run_of is run else self._state(run)
        if state is None:
            return
        calls = state.tokens
        if calls is None:
            return
        if type(chunk) is AIMessageChunk:
            token = chunk._content
            if token is None:  # a merged chunk: its text is joined on first read
                token = chunk.content
            gen: Generation = _new_chunk(ChatGenerationChunk)
            gen.message = chunk  # type: ignore[attr-defined]
        else:
            token = str(chunk)
            gen = GenerationChunk(token)
        one = state.one
        if one is not None:
            method, handler = one
            try:
                result = method(
                    token=token,
                    chunk=gen,
                    run_id=state.run_id,
                    parent_run_id=state.parent_run_id,
                    tags=state.tags,
                )
            except Exception as exc:
                _failed(handler, "on_llm_new_token", exc)
                return
            if result is not None and asyncio.iscoroutine(result):
                self._schedule(handler, result)
            return
        rid, pid, tags = state.run_id, state.parent_run_id, state.tags
        for method, handler in calls:
            try:
                result = method(token=token, chunk=gen, run_id=rid, parent_run_id=pid, tags=tags)
            except Exception as exc:
                _failed(handler, "on_llm_new_token", exc)
                continue
            if result is not None and asyncio.iscoroutine(result):
                self._schedule(handler, result)

    def on_end(self, run: RunContext, output: Any, input: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_end(run, output, input)
        state = run.extra.pop(self._key, None)
        if state is None:
            return
        if self._run_of is run:
            self._run_of = self._state_of = None
        kind = state.kind
        kwargs: dict[str, Any] = {
            "run_id": state.run_id,
            "parent_run_id": state.parent_run_id,
            "tags": state.tags,
        }
        if kind in ("chat", "llm"):
            value: Any = _llm_result(kind, output)
        else:
            value = output
            if kind == "chain" and input is not NO_INPUT:
                kwargs["inputs"] = input
        method = _END.get(kind) or f"on_{kind}_end"
        for handler in state.handlers:
            self._call(handler, method, value, **kwargs)

    def on_error(self, run: RunContext, error: BaseException) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_error(run, error)
        state = run.extra.pop(self._key, None)
        if state is None:
            return
        if self._run_of is run:
            self._run_of = self._state_of = None
        method = _ERROR[state.kind]
        for handler in state.handlers:
            self._call(
                handler,
                method,
                error,
                run_id=state.run_id,
                parent_run_id=state.parent_run_id,
                tags=state.tags,
            )

    def on_custom(self, run: RunContext, name: str, data: Any) -> None:
        outer = self.outer
        if outer is not None:
            outer.on_custom(run, name, data)
        run_id = UUID(run.run_id)
        for handler in self.handlers:
            if getattr(handler, "ignore_custom_event", False):
                continue
            self._call(
                handler,
                "on_custom_event",
                name,
                data,
                run_id=run_id,
                tags=run.tags,
                metadata=run.metadata,
            )


def _start(
    sink: CallbackSink,
    handler: Any,
    kind: str,
    run: RunContext,
    input: Any,
    ids: dict[str, Any],
) -> None:
    if kind in ("chat", "llm"):
        serialized = {"name": run.name, "id": ["tokentide", run.name]}
        meta = run.metadata
        params = {
            "_type": meta.get("ls_provider"),
            "model_name": meta.get("ls_model_name"),
            "temperature": meta.get("ls_temperature"),
        }
        extra = {"invocation_params": params, "options": {}, "batch_size": 1}
        if kind == "chat":
            messages = _messages(input)
            sink._call(handler, "on_chat_model_start", serialized, messages, **ids, **extra)
        else:
            sink._call(handler, "on_llm_start", serialized, _prompts(input), **ids, **extra)
    elif kind == "tool":
        # The tool's arguments (a tool call's ``args``), as LangChain reports them.
        args = run.extra.get("tool_input", input)
        inputs = args if isinstance(args, dict) else None
        text = args if isinstance(args, str) else str(args)
        call_id = run.extra.get("tool_call_id")
        serialized = {"name": run.name}
        sink._call(
            handler,
            "on_tool_start",
            serialized,
            text,
            inputs=inputs,
            tool_call_id=call_id,
            color=None,
            **ids,
        )
    elif kind == "retriever":
        sink._call(handler, "on_retriever_start", None, str(input), **ids)
    elif input is NO_INPUT:
        sink._call(handler, "on_chain_start", None, {"input": ""}, defers_inputs=True, **ids)
    else:
        sink._call(handler, "on_chain_start", None, input, **ids)


def _messages(input: Any) -> list[list[BaseMessage]]:
    if isinstance(input, dict) and "messages" in input:
        return [list(m) for m in input["messages"]]
    return [convert_to_messages(input)]


def _prompts(input: Any) -> list[str]:
    if isinstance(input, dict) and "prompts" in input:
        return [str(p) for p in input["prompts"]]
    return [input if isinstance(input, str) else str(input)]


def _llm_result(kind: str, output: Any) -> LLMResult:
    if kind == "chat":
        if isinstance(output, AIMessageChunk):
            output = message_chunk_to_message(output)
        if isinstance(output, AIMessage):
            meta = output.response_metadata
            info = {"finish_reason": meta["finish_reason"]} if "finish_reason" in meta else None
            llm_output: dict[str, Any] | None = None
            if output.usage_metadata is not None or "model_name" in meta:
                llm_output = {"model_name": meta.get("model_name")}
            return LLMResult([[ChatGeneration(output, info)]], llm_output)
        return LLMResult([[]], None)
    if isinstance(output, dict) and "generations" in output:
        gens = [
            [Generation(g.get("text", ""), g.get("generation_info")) for g in row]
            for row in output["generations"]
        ]
        return LLMResult(gens, output.get("llm_output"))
    return LLMResult([[Generation(str(output))]], None)


def _wants_tokens(handler: Any) -> bool:
    """Whether ``handler``'s ``on_llm_new_token`` is its own (the base classes' methods do
    nothing: calling them per token would only cost time)."""
    method = getattr(getattr(handler, "on_llm_new_token", None), "__func__", None)
    if method is None:  # not a method bound to the handler (e.g. set on the instance)
        return True
    if method in _BASE_TOKEN_METHODS:
        return False
    lc = sys.modules.get("langchain_core.callbacks.base")
    if lc is not None:
        for name in ("BaseCallbackHandler", "AsyncCallbackHandler"):
            base = getattr(lc, name, None)
            if base is not None and method is getattr(base, "on_llm_new_token", None):
                return False
    return True


def _failed(handler: Any, method: str, exc: Exception) -> None:
    if getattr(handler, "raise_error", False):
        raise exc
    logger.warning("Error in %s.%s callback: %r", type(handler).__name__, method, exc)


async def _guarded(sink: CallbackSink, handler: Any, coro: Awaitable[Any]) -> None:
    try:
        await coro
    except Exception as exc:
        if getattr(handler, "raise_error", False):
            if sink._error is None:
                sink._error = exc
                sink._busy = True
        else:
            logger.warning("Error in %s callback: %r", type(handler).__name__, exc)


async def _chat_start_or_llm_start(
    handler: Any, coro: Coroutine[Any, Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    try:
        await coro
    except NotImplementedError:
        prompts = [get_buffer_string(m) for m in args[1]]
        result = handler.on_llm_start(args[0], prompts, **kwargs)
        if asyncio.iscoroutine(result):
            await result


def _run_here(sink: CallbackSink, handler: Any, coro: Coroutine[Any, Any, Any]) -> None:
    """Run an async handler's coroutine to completion on this thread (no event loop runs
    here: a sync stream, or a graph node on a worker thread)."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_guarded(sink, handler, coro))
    finally:
        loop.close()
    error = sink._error
    if error is not None:
        sink._error = None
        raise error
