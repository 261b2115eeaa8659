"""`tokentide.tools`: schemas, tool calls, errors, injection, streaming pieces and events.

Where LangChain has the same tool API, the same definitions are run through
``langchain_core.tools`` and the shapes compared (schemas, `ToolMessage` fields, event data).
"""

# No `from __future__ import annotations`: the tools below annotate with local names.
import asyncio
import threading
from typing import Annotated, Any

import pytest

from tokentide.messages import ToolMessage
from tokentide.models import ChatOpenAI
from tokentide.tools import (
    BaseTool,
    InjectedToolArg,
    InjectedToolCallId,
    StructuredTool,
    ToolException,
    ToolInputError,
    ToolRuntime,
    convert_to_openai_tool,
    tool,
)

lc_tools = pytest.importorskip("langchain_core.tools")
lc_convert = pytest.importorskip("langchain_core.utils.function_calling")


def call(name: str, args: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def definitions(deco: Any, injected: Any) -> dict[str, Any]:
    """The same tool definitions, decorated by ``deco`` (ours or LangChain's)."""

    @deco
    def add(a: int, b: int = 2) -> int:
        """Add two numbers."""
        return a + b

    @deco(parse_docstring=True)
    def mul(a: int, b: float) -> float:
        """Multiply two numbers.

        Args:
            a: the first factor
            b: the second factor
        """
        return a * b

    @deco("search", description="Look it up.", return_direct=True)
    def search(q: str, limit: int | None = None, tags: list[str] = []) -> str:  # noqa: B006
        return q

    @deco
    def ident(x: str, call_id: Annotated[str, injected]) -> str:
        """Return the call id."""
        return f"{x}:{call_id}"

    @deco(response_format="content_and_artifact")
    def art(x: str) -> tuple[str, dict[str, str]]:
        """Content and artifact."""
        return f"saw {x}", {"raw": x}

    return {"add": add, "mul": mul, "search": search, "ident": ident, "art": art}


OURS = definitions(tool, InjectedToolCallId)
THEIRS = definitions(lc_tools.tool, lc_tools.InjectedToolCallId)


@pytest.mark.parametrize("name", sorted(OURS))
def test_schemas_as_langchain(name: str) -> None:
    ours, theirs = OURS[name], THEIRS[name]
    assert ours.name == theirs.name
    assert ours.description == theirs.description
    assert ours.return_direct == theirs.return_direct
    assert ours.args == theirs.args
    assert ours.tool_call_schema == theirs.tool_call_schema.model_json_schema()
    assert convert_to_openai_tool(ours) == lc_convert.convert_to_openai_tool(theirs)


@pytest.mark.parametrize(
    ("name", "args"),
    [("add", {"a": 1}), ("mul", {"a": 2, "b": 1.5}), ("ident", {"x": "q"}), ("art", {"x": "q"})],
)
def test_tool_call_gives_the_same_tool_message(name: str, args: dict[str, Any]) -> None:
    ours = OURS[name].invoke(call(name, args))
    theirs = THEIRS[name].invoke(call(name, args))
    assert isinstance(ours, ToolMessage)
    for field in ("content", "tool_call_id", "name", "status", "artifact"):
        assert getattr(ours, field) == getattr(theirs, field), field


def test_plain_arguments_give_the_value() -> None:
    assert OURS["add"].invoke({"a": 1}) == 3
    assert OURS["art"].invoke({"x": "q"}) == "saw q"
    assert OURS["search"].invoke("cats") == "cats"  # a string for a one-argument tool


def test_bad_arguments_raise_a_clear_error() -> None:
    with pytest.raises(ToolInputError, match="a\n  Field required"):
        OURS["add"].invoke({"b": 1})
    with pytest.raises(ToolInputError, match="Input should be a valid integer"):
        OURS["add"].invoke({"a": "x"})
    assert OURS["add"].invoke({"a": "4"}) == 6  # lax conversion, as pydantic
    with pytest.raises(ValueError, match="InjectedToolCallId"):
        OURS["ident"].invoke({"x": "q"})
    with pytest.raises(ValueError, match="docstring"):

        @tool
        def nodoc(a: int) -> int:
            return a


def test_tool_exception_handling() -> None:
    @tool
    def fails(x: str) -> str:
        """Always fails."""
        raise ToolException(f"cannot do {x}")

    with pytest.raises(ToolException):
        fails.invoke({"x": "it"})
    fails.handle_tool_error = True
    msg = fails.invoke(call("fails", {"x": "it"}))
    assert (msg.content, msg.status) == ("cannot do it", "error")
    fails.handle_tool_error = "try something else"
    assert fails.invoke({"x": "it"}) == "try something else"
    fails.handle_tool_error = lambda e: f"handled: {e}"
    assert fails.invoke({"x": "it"}) == "handled: cannot do it"


def test_pydantic_args_schema() -> None:
    pytest.importorskip("pydantic")
    from pydantic import BaseModel, Field

    class Query(BaseModel):
        """A query."""

        q: str = Field(description="the query")
        n: int = 1

    @tool(args_schema=Query)
    def find(q: str, n: int = 1) -> str:
        """Find things."""
        return q * n

    @lc_tools.tool(args_schema=Query)
    def lc_find(q: str, n: int = 1) -> str:
        """Find things."""
        return q * n

    assert find.args == lc_find.args
    assert find.invoke({"q": "ab", "n": 2}) == "abab"
    with pytest.raises(ToolInputError, match="q\n  Field required"):
        find.invoke({"n": 2})


def test_structured_tool_from_function_and_injected_args() -> None:
    def make(marker: Any) -> Any:
        def secret(x: int, key: Annotated[str, marker]) -> str:
            """Use a secret."""
            return f"{x}-{key}"

        return secret

    ours = StructuredTool.from_function(make(InjectedToolArg), name="use_secret")
    theirs = lc_tools.StructuredTool.from_function(
        make(lc_tools.InjectedToolArg), name="use_secret"
    )
    assert ours.tool_call_schema == theirs.tool_call_schema.model_json_schema()
    assert ours.args == {"x": {"title": "X", "type": "integer"}}
    assert ours.invoke({"x": 1, "key": "k"}) == theirs.invoke({"x": 1, "key": "k"}) == "1-k"


def test_subclassed_base_tool() -> None:
    class Weather(BaseTool):
        name = "weather"
        description = "The weather in a city."

        def _run(self, city: str) -> str:
            return f"sunny in {city}"

    weather = Weather()
    assert weather.invoke({"city": "Paris"}) == "sunny in Paris"
    assert weather.args == {"city": {"title": "City", "type": "string"}}
    assert convert_to_openai_tool(weather)["function"]["name"] == "weather"


async def test_sync_tool_runs_in_a_thread_async_tool_on_the_loop() -> None:
    seen: dict[str, Any] = {}

    @tool
    def blocking(x: int) -> int:
        """Sync."""
        seen["sync"] = threading.current_thread()
        return x

    @tool
    async def nonblocking(x: int) -> int:
        """Async."""
        seen["async"] = threading.current_thread()
        return x

    assert await blocking.ainvoke({"x": 1}) == 1
    assert await nonblocking.ainvoke({"x": 2}) == 2
    assert seen["sync"] is not threading.current_thread()
    assert seen["async"] is threading.current_thread()
    with pytest.raises(NotImplementedError, match="ainvoke"):
        nonblocking.invoke({"x": 1})


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_generator_tools_stream_pieces_as_events(kind: str) -> None:
    if kind == "sync":

        @tool
        def count(n: int) -> Any:
            """Count."""
            for i in range(n):
                yield f"{i} "

    else:

        @tool
        async def count(n: int) -> Any:
            """Count."""
            for i in range(n):
                await asyncio.sleep(0)
                yield f"{i} "

    events = [e async for e in count.astream_events(call("count", {"n": 3}), version="v2")]
    kinds = [e["event"] for e in events]
    assert kinds == ["on_tool_start"] + ["on_tool_stream"] * 3 + ["on_tool_end"]
    assert [e["data"]["chunk"] for e in events[1:4]] == ["0 ", "1 ", "2 "]
    assert events[-1]["data"]["output"].content == "0 1 2 "
    assert all(e["metadata"]["tool_call_id"] == "call_1" for e in events)
    assert await count.ainvoke({"n": 2}) == "0 1 "


async def test_runtime_emit_output_delta() -> None:
    @tool
    def report(n: int, runtime: ToolRuntime) -> str:
        """Report progress."""
        for i in range(n):
            runtime.emit_output_delta({"step": i})
        return f"done {runtime.tool_call_id}"

    assert "runtime" not in report.args
    events = [e async for e in report.astream_events(call("report", {"n": 2}), version="v2")]
    assert [e["data"].get("chunk") for e in events if e["event"] == "on_tool_stream"] == [
        {"step": 0},
        {"step": 1},
    ]
    assert events[-1]["data"]["output"].content == "done call_1"
    assert report.invoke({"n": 1}) == "done None"  # unobserved: the deltas go nowhere


async def test_tool_error_event_as_langchain() -> None:
    def boom(x: str) -> str:
        """Fails."""
        raise ValueError("boom")

    found = []
    for make in (tool, lc_tools.tool):
        failing = make(boom)
        events = []
        with pytest.raises(ValueError, match="boom"):
            async for event in failing.astream_events(call("boom", {"x": "q"}), version="v2"):
                events.append(event)
        found.append([(e["event"], sorted(e["data"])) for e in events])
        data = events[-1]["data"]
        assert (data["input"], data["tool_call_id"], str(data["error"])) == (
            {"x": "q"},
            "call_1",
            "boom",
        )
    assert found[0] == found[1]


def test_bind_tools_accepts_tools() -> None:
    model = ChatOpenAI(model="gpt-x", api_key="k", base_url="http://127.0.0.1:9/v1")
    bound = model.bind_tools([OURS["add"], OURS["ident"]], tool_choice="add")
    tools = bound.kwargs["tools"]  # type: ignore[attr-defined]
    assert [t["function"]["name"] for t in tools] == ["add", "ident"]
    assert "call_id" not in tools[1]["function"]["parameters"]["properties"]
