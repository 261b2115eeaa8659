"""Callback handlers: where they come from, what they receive, and how they fail."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest

from tokentide.callbacks import (
    AsyncCallbackHandler,
    AsyncIteratorCallbackHandler,
    BaseCallbackHandler,
    StreamingStdOutCallbackHandler,
    UsageMetadataCallbackHandler,
    dispatch_custom_event,
)
from tokentide.models import FakeChatModel
from tokentide.runnables import RunnableConfig, RunnableLambda


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.events: list[str] = []
        self.run_ids: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.events.append("chat_start")
        self.run_ids.append((kw["run_id"], kw["parent_run_id"]))

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.events.append("llm_end")

    def on_llm_error(self, error: BaseException, **kw: Any) -> None:
        self.events.append(f"llm_error:{type(error).__name__}")

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.events.append(f"chain_start:{kw['name']}")
        self.run_ids.append((kw["run_id"], kw["parent_run_id"]))

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self.events.append("chain_end")

    def on_custom_event(self, name: str, data: Any, **kw: Any) -> None:
        self.events.append(f"custom:{name}:{data}")


def test_constructor_callbacks_and_streaming_flag() -> None:
    quiet, loud = Tokens(), Tokens()
    FakeChatModel([["a", "b"]], callbacks=[quiet]).invoke("hi")
    FakeChatModel([["a", "b"]], callbacks=[loud], streaming=True).invoke("hi")
    assert quiet.events == ["chat_start", "llm_end"] and quiet.tokens == []
    assert loud.tokens == ["a", "b", ""]
    streamed = Tokens()
    list(FakeChatModel([["a", "b"]], callbacks=[streamed]).stream("hi"))
    assert streamed.tokens == ["a", "b", ""]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_config_callbacks_reach_a_model_called_inside_user_code(sync: bool) -> None:
    """No config is passed to the inner model: the run context carries the handlers (on
    Python 3.10 too)."""
    model = FakeChatModel([["x", "y"]], streaming=True)
    handler = Tokens()
    if sync:
        outer = RunnableLambda(lambda q: model.invoke(q).content, name="outer")
        assert outer.invoke("hi", {"callbacks": [handler]}) == "xy"
    else:

        async def call(q: str) -> str:
            return (await model.ainvoke(q)).content

        outer = RunnableLambda(call, name="outer")
        assert await outer.ainvoke("hi", {"callbacks": [handler]}) == "xy"
    assert handler.events == ["chain_start:outer", "chat_start", "llm_end", "chain_end"]
    assert handler.tokens == ["x", "y", ""]
    (chain_id, chain_parent), (model_id, model_parent) = handler.run_ids
    assert chain_parent is None and model_parent == chain_id and model_id != chain_id


def test_a_handler_is_not_called_twice_when_config_is_passed_on() -> None:
    handler = Tokens()
    model = FakeChatModel([["x"]])
    config: RunnableConfig = {"callbacks": [handler]}
    RunnableLambda(lambda q: model.invoke(q, config)).invoke("hi", config)
    assert handler.events.count("chat_start") == 1


def test_errors_and_custom_events() -> None:
    handler = Tokens()

    def step(x: str) -> str:
        dispatch_custom_event("progress", 50)
        return x

    RunnableLambda(step).invoke("x", {"callbacks": [handler]})
    assert "custom:progress:50" in handler.events
    failing = FakeChatModel([["a", "b", "c"]], error_after=1)
    with pytest.raises(Exception, match="scripted failure"):
        list(failing.stream("hi", {"callbacks": [handler]}))
    assert handler.events[-1] == "llm_error:StreamInterrupted"


class Broken(BaseCallbackHandler):
    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        raise ValueError("boom")


class BrokenLoud(Broken):
    raise_error = True


def test_a_failing_handler_is_logged_unless_raise_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "tokentide.callbacks"):
        chunks = list(FakeChatModel([["a"]]).stream("hi", {"callbacks": [Broken()]}))
    assert [c.content for c in chunks] == ["a", ""]
    assert "Error in Broken.on_llm_new_token callback: ValueError('boom')" in caplog.text
    with pytest.raises(ValueError, match="boom"):
        list(FakeChatModel([["a"]]).stream("hi", {"callbacks": [BrokenLoud()]}))


class Ends(BaseCallbackHandler):
    """Overrides no token method: it gets every other event of the run."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.events.append("llm_end")


class AsyncEnds(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[str] = []

    async def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.events.append("llm_end")


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_token_handlers_among_others(sync: bool) -> None:
    first, second, ends, async_ends = Tokens(), Tokens(), Ends(), AsyncEnds()
    seen: list[tuple[str, Any]] = []
    own = BaseCallbackHandler()  # a handler given its token method on the instance
    own.on_llm_new_token = lambda token, **kw: seen.append((token, kw["chunk"].text))  # type: ignore[method-assign]
    config: RunnableConfig = {"callbacks": [ends, first, async_ends, own, second]}
    model = FakeChatModel([["a", "b"]])
    if sync:
        list(model.stream("hi", config))
    else:
        async for _ in model.astream("hi", config):
            pass
    assert first.tokens == second.tokens == ["a", "b", ""]
    assert seen == [("a", "a"), ("b", "b"), ("", "")]
    assert ends.events == ["llm_end"]
    assert first.events == ["chat_start", "llm_end"]


def test_callbacks_must_be_handlers() -> None:
    with pytest.raises(TypeError, match="callbacks must be a list of callback handlers"):
        FakeChatModel(["a"], callbacks=42)


class Slow(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_llm_new_token(self, token: str, **kw: Any) -> None:
        await asyncio.sleep(0)
        self.seen.append(token)


async def test_async_handler_runs_in_order_before_the_next_chunk() -> None:
    handler = Slow()
    received = []
    async for chunk in FakeChatModel([["a", "b", "c"]]).astream("hi", {"callbacks": [handler]}):
        received.append(chunk.content)
        # The handler has seen every chunk handed out so far (the stream waited for it).
        assert handler.seen == received
    assert handler.seen == ["a", "b", "c", ""]


def test_async_handler_in_sync_code() -> None:
    handler = Slow()
    list(FakeChatModel([["a", "b"]]).stream("hi", {"callbacks": [handler]}))
    assert handler.seen == ["a", "b", ""]


def test_shipped_handlers() -> None:
    out = io.StringIO()
    FakeChatModel(
        [["Hel", "lo"]], streaming=True, callbacks=[StreamingStdOutCallbackHandler(out)]
    ).invoke("hi")
    assert out.getvalue() == "Hello"
    usage = UsageMetadataCallbackHandler()
    model = FakeChatModel([["a", "b"]], model_name="m1")
    model.invoke("one two", {"callbacks": [usage]})
    model.invoke("three", {"callbacks": [usage]})
    assert usage.usage_metadata == {
        "m1": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    }


async def test_async_iterator_handler() -> None:
    handler = AsyncIteratorCallbackHandler()
    model = FakeChatModel([["a", "b", "c"]], streaming=True, delay=0.001)
    task = asyncio.create_task(model.ainvoke("hi", {"callbacks": [handler]}))
    tokens = [token async for token in handler.aiter()]
    await task
    assert tokens == ["a", "b", "c"]


class _Completion:
    """A completion model of a few fixed pieces (built lazily: it needs tokentide.models)."""

    @staticmethod
    def make(streaming: bool) -> Any:
        from collections.abc import Iterator

        from tokentide.models import BaseLLM

        class Pieces(BaseLLM):
            def _stream(self, prompt: str, **kwargs: Any) -> Iterator[str]:
                yield from ["a", "b"]

        return Pieces(streaming=streaming)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_completion_model_tokens_follow_streaming(sync: bool) -> None:
    for streaming, expected in ((False, []), (True, ["a", "b"])):
        handler = Tokens()
        model = _Completion.make(streaming)
        if sync:
            assert model.invoke("x", {"callbacks": [handler]}) == "ab"
        else:
            assert await model.ainvoke("x", {"callbacks": [handler]}) == "ab"
        assert handler.tokens == expected
        assert handler.events[-1] == "llm_end"


def test_a_tool_s_own_callbacks() -> None:
    from tokentide.tools import tool

    class ToolEvents(BaseCallbackHandler):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
            self.seen.append(f"start:{serialized['name']}:{kw['tool_call_id']}")

        def on_tool_end(self, output: Any, **kw: Any) -> None:
            self.seen.append(f"end:{output.content}")

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    handler = ToolEvents()
    add.callbacks = [handler]
    add.invoke({"name": "add", "args": {"a": 1, "b": 2}, "id": "c9", "type": "tool_call"})
    assert handler.seen == ["start:add:c9", "end:3"]
