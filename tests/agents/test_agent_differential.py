"""Differential suite: the same agents run by tokentide and by LangChain 1.4 / LangGraph 1.2.

Every recipe builds an agent from a library (`_lib.Lib`) with the same tools and the same
scripted model replies, streams it in one mode, sync or async, and compares the normalized
items one by one (ids, timestamps and model-option metadata aside; see `_lib.norm`).
"""

# No `from __future__ import annotations`: tools annotate with each library's names.
import sys
from collections.abc import Callable
from typing import Annotated, Any

import pytest

pytest.importorskip("langchain.agents")
pytest.importorskip("langgraph.prebuilt")

from ._lib import LANGCHAIN, TOKENTIDE, Lib, norm, normalize  # noqa: E402

USER = {"messages": [("user", "weather in sf?")]}


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id}


def weather_tool(lib: Lib) -> Any:
    @lib.tools.tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        lib.writer()({"looking_up": city})
        return f"It's always sunny in {city}!"

    return get_weather


def time_tool(lib: Lib) -> Any:
    @lib.tools.tool
    def get_time(tz: str) -> str:
        """Get the time in a time zone."""
        return f"12:00 {tz}"

    return get_time


# ------------------------------------------------------------------------------- recipes


def one_tool(lib: Lib, make: str) -> Any:
    model = lib.model([("", [call("get_weather", {"city": "sf"}, "call_1")]), "It is sunny."])
    return getattr(lib, make)(model, [weather_tool(lib)])


def parallel(lib: Lib, make: str) -> Any:
    calls = [call("get_weather", {"city": "sf"}, "call_1"), call("get_time", {"tz": "PST"}, "c2")]
    model = lib.model([("Checking both.", calls), "Sunny, and noon."])
    # The two calls finish in whatever order the threads do, on either side: the comparison
    # allows for it (``CONCURRENT``), so no call waits for the other.
    return getattr(lib, make)(model, [weather_tool(lib), time_tool(lib)])


def handled_error(lib: Lib, make: str) -> Any:
    @lib.tools.tool
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        if b == 0:
            raise lib.tools.ToolException("cannot divide by zero")
        return a / b

    divide.handle_tool_error = True
    calls = [call("divide", {"a": 1, "b": 0}, "call_1"), call("divide", {"a": 1}, "call_2")]
    model = lib.model([("", calls), "Sorry."])
    return getattr(lib, make)(model, [divide])


def return_direct(lib: Lib, make: str) -> Any:
    @lib.tools.tool(return_direct=True)
    def lookup(q: str) -> str:
        """Look something up; the answer goes straight to the user."""
        return f"answer to {q}"

    model = lib.model([("", [call("lookup", {"q": "life"}, "call_1")]), "never said"])
    return getattr(lib, make)(model, [lookup])


def tool_call_id(lib: Lib, make: str) -> Any:
    def record(note: str, call_id: Annotated[str, lib.tools.InjectedToolCallId]) -> str:
        """Record a note."""
        return f"saved {note} as {call_id}"

    model = lib.model([("", [call("record", {"note": "hi"}, "call_9")]), "Saved."])
    return getattr(lib, make)(model, [lib.tools.tool(record)])


def streaming_tool(lib: Lib, make: str) -> Any:
    """A tool whose output streams: tokentide's as a generator, LangChain's through
    ``runtime.emit_output_delta`` (the same pieces, the same final result)."""
    if lib is TOKENTIDE:

        @lib.tools.tool
        def count(n: int) -> Any:
            """Count to n."""
            for i in range(1, n + 1):
                yield f"{i} "

        tool = count
    else:

        @lib.tools.tool
        def count(n: int, runtime: lib.tools.ToolRuntime) -> str:  # type: ignore[name-defined]
            """Count to n."""
            pieces = [f"{i} " for i in range(1, n + 1)]
            for piece in pieces:
                runtime.emit_output_delta(piece)
            return "".join(pieces)

        tool = count
    model = lib.model([("", [call("count", {"n": 3}, "call_1")]), "Counted."])
    return getattr(lib, make)(model, [tool])


RECIPES: dict[str, Callable[[Lib, str], Any]] = {
    "one_tool": one_tool,
    "parallel": parallel,
    "handled_error": handled_error,
    "return_direct": return_direct,
    "tool_call_id": tool_call_id,
    "streaming_tool": streaming_tool,
}
MODES: list[Any] = [
    "updates",
    "values",
    "messages",
    "custom",
    "debug",
    "tools",
    ["updates", "messages", "tools"],
]
MAKERS = ["create_agent", "create_react_agent"]


async def collect(agent: Any, use_sync: bool, **kw: Any) -> list[Any]:
    if use_sync:
        return list(agent.stream(USER, **kw))
    return [item async for item in agent.astream(USER, **kw)]


def _cases() -> list[Any]:
    cases = []
    for maker in MAKERS:
        for recipe in RECIPES:
            for mode in MODES:
                for use_sync in (True, False):
                    mode_id = "+".join(mode) if isinstance(mode, list) else mode
                    ident = f"{maker}-{recipe}-{mode_id}-{'sync' if use_sync else 'async'}"
                    cases.append(pytest.param(maker, recipe, mode, use_sync, id=ident))
    return cases


def _langgraph_context_lost(mode: Any, use_sync: bool, maker: str = "") -> bool:
    """Before Python 3.11 LangGraph loses its run context in async code: it cannot find its
    stream writer, and LangChain's ``create_agent`` model node streams no tokens."""
    modes = mode if isinstance(mode, list) else [mode]
    lost = {"custom", "messages"} if maker == "create_agent" else {"custom"}
    return not use_sync and sys.version_info < (3, 11) and bool(lost & set(modes))


#: Recipes whose tool calls run concurrently: how their items interleave is up to the
#: scheduler (thread or task start order), on either side.
CONCURRENT = {"parallel", "handled_error"}


def _calls_in(item: Any) -> set[str]:
    text = repr(item)
    return {cid for cid in ("call_1", "call_2", "c2") if f"'{cid}'" in text}


def assert_same(ours: list[Any], theirs: list[Any], concurrent: bool) -> None:
    if not concurrent:
        assert ours == theirs
        return
    # The same items, and, for each tool call, its own items in the same order.
    assert sorted(map(repr, ours)) == sorted(map(repr, theirs))
    for cid in ("call_1", "call_2", "c2"):
        mine = [i for i in ours if cid in _calls_in(i)]
        assert mine == [i for i in theirs if cid in _calls_in(i)], cid


@pytest.mark.parametrize(("maker", "recipe", "mode", "use_sync"), _cases())
async def test_same_items_as_langchain(maker: str, recipe: str, mode: Any, use_sync: bool) -> None:
    build = RECIPES[recipe]
    ours = normalize(await collect(build(TOKENTIDE, maker), use_sync, stream_mode=mode))
    # Before Python 3.11 LangGraph cannot reach its stream writer from async code: there, our
    # async run is compared with LangGraph's sync run of the same agent (same items).
    their_sync = use_sync or _langgraph_context_lost(mode, use_sync, maker)
    theirs = normalize(await collect(build(LANGCHAIN, maker), their_sync, stream_mode=mode))
    assert_same(ours, theirs, recipe in CONCURRENT)


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("use_sync", [True, False], ids=["sync", "async"])
async def test_same_final_state(maker: str, use_sync: bool) -> None:
    for recipe, build in RECIPES.items():
        if use_sync:
            ours, theirs = (
                build(TOKENTIDE, maker).invoke(USER),
                build(LANGCHAIN, maker).invoke(USER),
            )
        else:
            ours = await build(TOKENTIDE, maker).ainvoke(USER)
            theirs = await build(LANGCHAIN, maker).ainvoke(USER)
        assert norm(ours) == norm(theirs), recipe


def failing(lib: Lib, make: str) -> Any:
    @lib.tools.tool
    def explode(x: str) -> str:
        """Always fails."""
        raise RuntimeError(f"boom {x}")

    model = lib.model([("", [call("explode", {"x": "now"}, "call_1")]), "unreachable"])
    return getattr(lib, make)(model, [explode])


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("use_sync", [True, False], ids=["sync", "async"])
async def test_a_failing_tool_fails_the_run_the_same_way(maker: str, use_sync: bool) -> None:
    """By default (as LangGraph 1.x) only bad arguments become messages; other errors
    propagate, after the same items, with a ``tool-error`` item in ``tools`` mode."""
    results = []
    for lib in (TOKENTIDE, LANGCHAIN):
        items: list[Any] = []
        with pytest.raises(RuntimeError, match="boom now") as info:
            if use_sync:
                for item in failing(lib, maker).stream(USER, stream_mode=["updates", "tools"]):
                    items.append(item)
            else:
                async for item in failing(lib, maker).astream(
                    USER, stream_mode=["updates", "tools"]
                ):
                    items.append(item)
        results.append((normalize(items), str(info.value)))
    assert results[0] == results[1]
    assert results[0][0][-1] == (
        "tools",
        {"event": "tool-error", "tool_call_id": "call_1", "message": "boom now"},
    )


@pytest.mark.parametrize("use_sync", [True, False], ids=["sync", "async"])
async def test_tool_node_handle_tool_errors_true(use_sync: bool) -> None:
    """A hand-built graph with ``ToolNode(tools, handle_tool_errors=True)``: LangGraph's
    wording for a failing tool, an unknown tool and bad arguments."""
    import langgraph.graph as lg_graph

    import tokentide.graph as tt_graph

    outputs = []
    for lib, graph_mod in ((TOKENTIDE, tt_graph), (LANGCHAIN, lg_graph)):

        @lib.tools.tool
        def explode(x: str) -> str:
            """Always fails."""
            raise RuntimeError(f"boom {x}")

        calls = [
            call("explode", {"x": "now"}, "c1"),
            call("nope", {}, "c2"),
            call("explode", {"y": 1}, "c3"),
        ]
        model = lib.model([("", calls)])
        node = lib.tool_node([explode], handle_tool_errors=True)

        def agent(state: Any, model: Any = model) -> dict[str, Any]:
            return {"messages": [model.invoke(state["messages"])]}

        g = graph_mod.StateGraph(graph_mod.MessagesState).add_node("agent", agent)
        g = g.add_node("tools", node).add_edge(graph_mod.START, "agent")
        g = g.add_edge("agent", "tools").compile()
        if use_sync:
            outputs.append(normalize(list(g.stream(USER, stream_mode="updates"))))
        else:
            outputs.append(normalize([i async for i in g.astream(USER, stream_mode="updates")]))
    assert outputs[0] == outputs[1]
    contents = [m[1] for m in outputs[0][-1]["tools"]["messages"]]
    assert contents[0] == "Error: RuntimeError('boom now')\n Please fix your mistakes."
    assert contents[1] == "Error: nope is not a valid tool, try one of [explode]."


@pytest.mark.parametrize("maker", MAKERS)
async def test_same_tool_events(maker: str) -> None:
    """``astream_events`` v2: the ``on_tool_*`` events have LangChain's shapes; ours also carry
    the ``tool_call_id`` in their metadata (langchain #37426)."""
    found = []
    for lib in (TOKENTIDE, LANGCHAIN):
        events = []
        async for event in parallel(lib, maker).astream_events(USER, version="v2"):
            if event["event"].startswith("on_tool"):
                events.append(event)
        if lib is TOKENTIDE:
            # Each call's start, then its end; the two calls run concurrently.
            ids = [(e["metadata"]["tool_call_id"], e["event"]) for e in events]
            for cid in ("call_1", "c2"):
                assert [kind for i, kind in ids if i == cid] == ["on_tool_start", "on_tool_end"]
        shapes = [(e["event"], e["name"], norm(e["data"]), len(e["parent_ids"])) for e in events]
        # The two calls run concurrently: compare each tool's own events, in order.
        found.append(sorted(shapes, key=lambda shape: shape[1]))
    assert found[0] == found[1]
