"""Differential: a LangChain handler and a tokentide handler, attached to the same chain or
graph built from langchain-core / LangGraph and from tokentide, receive the same callbacks
(method names, run names of chain starts, tokens in order, and the tags of every run
start).

Known difference, removed on both sides: `FakeChatModel` ends each reply with an empty chunk
carrying the usage (as OpenAI-compatible providers do), which reports one more
``on_llm_new_token("")``; empty tokens are left out of the comparison.
"""

from __future__ import annotations

import operator
import re
import sys
import warnings
from contextlib import nullcontext
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")

import langchain_core.callbacks as lc_callbacks  # noqa: E402
import langchain_core.messages as lc_messages  # noqa: E402
import langchain_core.tools as lc_tools  # noqa: E402
import langgraph.graph as lg_graph  # noqa: E402
from langchain_core import output_parsers as lc_parsers  # noqa: E402
from langchain_core import prompts as lc_prompts  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.runnables import RunnableConfig  # noqa: E402

import tokentide.callbacks as tt_callbacks  # noqa: E402
import tokentide.graph as tt_graph  # noqa: E402
import tokentide.tools as tt_tools  # noqa: E402
from tokentide import output_parsers, prompts  # noqa: E402
from tokentide.messages import ToolCall  # noqa: E402
from tokentide.models import FakeChatModel  # noqa: E402

TEXT = "hi there you"


class Recorder:
    """Records (method, detail): the run name of chain starts, the token of new tokens."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        #: The tags of every run start, in order.
        self.tags: list[Any] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.calls.append(("on_chain_start", kw.get("name")))
        self.tags.append(kw.get("tags"))

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self.calls.append(("on_chain_end", None))

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        self.calls.append(("on_chain_error", type(error).__name__))

    def on_llm_start(self, serialized: Any, prompts: Any, **kw: Any) -> None:
        self.calls.append(("on_llm_start", len(prompts)))

    def on_llm_new_token(self, token: str | list[Any], **kw: Any) -> None:
        assert kw["chunk"].message.content == token
        if token:
            self.calls.append(("on_llm_new_token", token))

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.calls.append(("on_llm_end", response.generations[0][0].message.content))

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        detail = (serialized["name"], input_str, kw["inputs"], kw["tool_call_id"])
        self.calls.append(("on_tool_start", detail))
        self.tags.append(kw.get("tags"))

    def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.calls.append(
            ("on_tool_end", (type(output).__name__, getattr(output, "content", output)))
        )

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.calls.append(("on_tool_error", type(error).__name__))


class WithChatStart(Recorder):
    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.calls.append(("on_chat_model_start", [m.type for m in messages[0]]))
        self.tags.append(kw.get("tags"))


class LcPlain(Recorder, lc_callbacks.BaseCallbackHandler):
    pass


class TtPlain(Recorder, tt_callbacks.BaseCallbackHandler):
    pass


class LcChat(WithChatStart, lc_callbacks.BaseCallbackHandler):
    pass


class TtChat(WithChatStart, tt_callbacks.BaseCallbackHandler):
    pass


def chain(lib: str) -> Any:
    if lib == "lc":
        model: Any = GenericFakeChatModel(messages=iter([lc_messages.AIMessage(TEXT)]))
        return (
            lc_prompts.ChatPromptTemplate.from_messages([("human", "{q}")])
            | model
            | lc_parsers.StrOutputParser()
        )
    model = FakeChatModel([re.split(r"(\s)", TEXT)])
    return (
        prompts.ChatPromptTemplate.from_messages([("human", "{q}")])
        | model
        | output_parsers.StrOutputParser()
    )


class State(TypedDict):
    messages: Annotated[list[Any], operator.add]


def graph(lib: str, asynchronous: bool) -> Any:
    if lib == "lc":
        replies = iter([lc_messages.AIMessage(TEXT)] * 5)
        model: Any = GenericFakeChatModel(messages=replies)
        lib_graph: Any = lg_graph
    else:
        model = FakeChatModel([re.split(r"(\s)", TEXT)])
        lib_graph = tt_graph
    # LangGraph loses its run context in async nodes before Python 3.11 (its documented
    # limitation): its node passes config by hand there; tokentide's never needs to.
    by_hand = lib == "lc" and sys.version_info < (3, 11)

    def call(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def acall(state: State, config: RunnableConfig) -> dict[str, Any]:
        reply = await model.ainvoke(state["messages"], config if by_hand else None)
        return {"messages": [reply]}

    def after(state: State) -> dict[str, Any]:
        return {"messages": []}

    builder = lib_graph.StateGraph(State)
    builder.add_node("call", acall if asynchronous else call)
    builder.add_node("after", after)
    builder.add_edge(lib_graph.START, "call")
    builder.add_edge("call", "after")
    builder.add_edge("after", lib_graph.END)
    return builder.compile()


def handlers(kind: str) -> tuple[Recorder, Recorder, Recorder]:
    """The LangChain handler run by LangChain, the same LangChain class run by tokentide,
    and tokentide's own handler class."""
    if kind == "plain":
        return LcPlain(), LcPlain(), TtPlain()
    return LcChat(), LcChat(), TtChat()


async def drive(runnable: Any, input: Any, how: str, config: Any, **kw: Any) -> None:
    if how == "invoke":
        runnable.invoke(input, config)
    elif how == "ainvoke":
        await runnable.ainvoke(input, config)
    elif how == "stream":
        for _ in runnable.stream(input, config, **kw):
            pass
    else:
        async for _ in runnable.astream(input, config, **kw):
            pass


@pytest.mark.parametrize("kind", ["plain", "chat"])
@pytest.mark.parametrize("how", ["invoke", "ainvoke", "stream", "astream"])
async def test_chain_callbacks_match_langchain(how: str, kind: str) -> None:
    lc, lc_in_tt, tt = handlers(kind)
    await drive(chain("lc"), {"q": "hello"}, how, {"callbacks": [lc]})
    await drive(chain("tt"), {"q": "hello"}, how, {"callbacks": [lc_in_tt, tt]})
    assert lc.calls, "LangChain reported nothing"
    assert_same_calls(lc, lc_in_tt, tt)
    tokens = [d for m, d in lc.calls if m == "on_llm_new_token"]
    assert tokens == (["hi", " ", "there", " ", "you"] if how.endswith("stream") else [])


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-node", "async-node"])
@pytest.mark.parametrize("mode", ["invoke", "messages", "updates"])
async def test_graph_callbacks_match_langgraph(mode: str, asynchronous: bool) -> None:
    lc, lc_in_tt, tt = handlers("chat")
    input = {"messages": [("human", "x")]}
    how = "ainvoke" if mode == "invoke" else "astream"
    kw = {} if mode == "invoke" else {"stream_mode": mode}
    if not asynchronous:
        how = how.removeprefix("a")
    await drive(graph("lc", asynchronous), input, how, {"callbacks": [lc]}, **kw)
    await drive(graph("tt", asynchronous), input, how, {"callbacks": [lc_in_tt, tt]}, **kw)
    assert lc.calls, "LangGraph reported nothing"
    assert_same_calls(lc, lc_in_tt, tt)
    tokens = [d for m, d in lc.calls if m == "on_llm_new_token"]
    # A node's invoke() streams its tokens to handlers only in "messages" mode, as in LangGraph.
    assert tokens == (["hi", " ", "there", " ", "you"] if mode == "messages" else [])


def branching(lib: str) -> Any:
    """a -> (route: b or the end) ; b -> a: a conditional edge taken twice."""
    lib_graph: Any = lg_graph if lib == "lc" else tt_graph

    def a(state: State) -> dict[str, Any]:
        return {"messages": ["a"]}

    def b(state: State) -> dict[str, Any]:
        return {"messages": ["b"]}

    def route(state: State) -> str:
        return "b" if len(state["messages"]) < 3 else lib_graph.END

    builder = lib_graph.StateGraph(State)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_edge(lib_graph.START, "a")
    builder.add_conditional_edges("a", route, ["b", lib_graph.END])
    builder.add_edge("b", "a")
    return builder.compile()


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "stream", "astream"])
async def test_conditional_edge_runs_match_langgraph(how: str) -> None:
    """A conditional edge is reported as a chain run named after its path function, inside
    the run of the node it follows."""
    lc, lc_in_tt, tt = handlers("chat")
    await drive(branching("lc"), {"messages": []}, how, {"callbacks": [lc]})
    await drive(branching("tt"), {"messages": []}, how, {"callbacks": [lc_in_tt, tt]})
    assert [d for m, d in lc.calls if m == "on_chain_start"] == [
        "LangGraph",
        "a",
        "route",
        "b",
        "a",
        "route",
    ]
    assert_same_calls(lc, lc_in_tt, tt)


async def test_conditional_edge_events_match_langgraph() -> None:
    """The same runs in ``astream_events`` (starts and ends, with their tags)."""

    async def events(graph: Any) -> list[tuple[str, str, list[str]]]:
        return [
            (e["event"], e["name"], e["tags"])
            async for e in graph.astream_events({"messages": []}, version="v2")
            if e["name"] == "route"
        ]

    theirs = await events(branching("lc"))
    assert len(theirs) == 4
    assert await events(branching("tt")) == theirs


def tools(lib: str) -> tuple[Any, Any]:
    decorate: Any = lc_tools.tool if lib == "lc" else tt_tools.tool

    @decorate
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @decorate
    def boom(a: int) -> int:
        """Always fails."""
        raise ValueError("no")

    return add, boom


CALL: ToolCall = {"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1", "type": "tool_call"}


def assert_same_calls(lc: Any, lc_in_tt: Any, tt: Any) -> None:
    """The LangChain handler on LangChain, a LangChain handler on tokentide and a tokentide
    handler on tokentide recorded the same calls, with the same tags."""
    assert lc_in_tt.calls == lc.calls
    assert tt.calls == lc.calls
    assert tt.tags == lc_in_tt.tags == lc.tags


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_tool_callbacks_match_langchain(asynchronous: bool) -> None:
    lc, lc_in_tt, tt = handlers("chat")
    for lib, config in (("lc", {"callbacks": [lc]}), ("tt", {"callbacks": [lc_in_tt, tt]})):
        add, boom = tools(lib)
        for tool, input in ((add, {"a": 1, "b": 2}), (add, CALL), (boom, {"a": 1})):
            with pytest.raises(ValueError) if tool is boom else nullcontext():
                if asynchronous:
                    await tool.ainvoke(input, config)
                else:
                    tool.invoke(input, config)
    assert [m for m, _ in lc.calls] == ["on_tool_start", "on_tool_end"] * 2 + [
        "on_tool_start",
        "on_tool_error",
    ]
    assert_same_calls(lc, lc_in_tt, tt)


def test_tool_in_a_graph_node_matches_langgraph() -> None:
    lc, lc_in_tt, tt = handlers("chat")
    for lib, config in (("lc", {"callbacks": [lc]}), ("tt", {"callbacks": [lc_in_tt, tt]})):
        add, _ = tools(lib)
        lib_graph: Any = lg_graph if lib == "lc" else tt_graph

        def act(state: State, add: Any = add) -> dict[str, Any]:
            return {"messages": [add.invoke(CALL)]}

        builder = lib_graph.StateGraph(State)
        builder.add_node("act", act)
        builder.add_edge(lib_graph.START, "act")
        builder.add_edge("act", lib_graph.END)
        builder.compile().invoke({"messages": []}, config)
    assert ("on_tool_end", ("ToolMessage", "3")) in lc.calls
    assert_same_calls(lc, lc_in_tt, tt)


def test_agent_callbacks_match_langgraph() -> None:
    """``create_react_agent`` from LangGraph and from tokentide, the same model replies (a tool
    call, then an answer) and tool: the same callbacks in the same order with the same details
    (chain runs included; the run tree, streaming and ``create_agent`` are compared in
    ``test_agent_callbacks_differential.py``)."""
    lg_prebuilt = pytest.importorskip("langgraph.prebuilt")
    tt_prebuilt = pytest.importorskip("tokentide.prebuilt")
    from tokentide.messages import AIMessage as TtAIMessage

    class LcModel(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    replies = [lc_messages.AIMessage("let me add", tool_calls=[CALL]), lc_messages.AIMessage("3")]
    lc, lc_in_tt, tt = handlers("chat")
    input = {"messages": [("human", "add 1 and 2")]}
    lc_add, _ = tools("lc")
    with warnings.catch_warnings():  # LangGraph: create_react_agent moved to langchain.agents
        warnings.simplefilter("ignore")
        lc_agent = lg_prebuilt.create_react_agent(LcModel(messages=iter(replies)), [lc_add])
    lc_agent.invoke(input, {"callbacks": [lc]})
    tt_add, _ = tools("tt")
    model = FakeChatModel([TtAIMessage("let me add", tool_calls=[CALL]), "3"])
    tt_agent = tt_prebuilt.create_react_agent(model, [tt_add])
    tt_agent.invoke(input, {"callbacks": [lc_in_tt, tt]})

    def model_and_tools(calls: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return [c for c in calls if not c[0].startswith("on_chain")]

    expected = model_and_tools(lc.calls)
    assert [m for m, _ in expected] == [
        "on_chat_model_start",
        "on_llm_end",
        "on_tool_start",
        "on_tool_end",
        "on_chat_model_start",
        "on_llm_end",
    ]
    assert_same_calls(lc, lc_in_tt, tt)
    assert lc.calls[0] == ("on_chain_start", "LangGraph")
