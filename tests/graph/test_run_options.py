"""Unknown keyword arguments to a graph's invoke/stream raise instead of being dropped."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest

from tokentide.graph import END, START, StateGraph


class State(TypedDict):
    x: int


def _app() -> Any:
    g = StateGraph(State)
    g.add_node("a", lambda s: {"x": s["x"] + 1})
    g.add_edge(START, "a")
    g.add_edge("a", END)
    return g.compile()


async def _collect(agen: Any) -> list[Any]:
    return [item async for item in agen]


def _run(method: str, **kwargs: Any) -> Any:
    app = _app()
    if method == "invoke":
        return app.invoke({"x": 0}, **kwargs)
    if method == "stream":
        return list(app.stream({"x": 0}, **kwargs))
    if method == "ainvoke":
        return asyncio.run(app.ainvoke({"x": 0}, **kwargs))
    return asyncio.run(_collect(app.astream({"x": 0}, **kwargs)))


METHODS = ["invoke", "ainvoke", "stream", "astream"]


@pytest.mark.parametrize("method", METHODS)
def test_unknown_keyword_raises(method: str) -> None:
    with pytest.raises(TypeError, match=f"{method}\\(\\) got an unexpected keyword argument 'foo'"):
        _run(method, foo=1)


@pytest.mark.parametrize("method", ["stream", "astream"])
def test_misspelled_keyword_gets_a_suggestion(method: str) -> None:
    with pytest.raises(TypeError, match="did you mean 'stream_mode'"):
        _run(method, strem_mode="values")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("output_keys", ["x"], "output_keys is not supported"),
        ("context", {"user": "a"}, "config\\['configurable'\\]"),
        ("durability", "exit", "durability='exit' is not supported"),
        ("debug", True, "stream_mode='debug'"),
        ("print_mode", "updates", "print_mode is not supported"),
        ("version", "v2", "version='v1'"),
    ],
)
def test_langgraph_option_that_would_change_the_result_raises(
    method: str, key: str, value: Any, says: str
) -> None:
    with pytest.raises(TypeError, match=says):
        _run(method, **{key: value})


@pytest.mark.parametrize("method", METHODS)
def test_langgraph_options_at_their_no_op_values_are_accepted(method: str) -> None:
    out = _run(
        method,
        context=None,
        output_keys=None,
        print_mode=(),
        durability="sync",
        debug=False,
        version="v1",
    )
    expected: Any = {"x": 1} if method.endswith("invoke") else [{"a": {"x": 1}}]
    assert out == expected


@pytest.mark.parametrize("method", ["invoke", "ainvoke"])
def test_invoke_accepts_stream_mode_values_only(method: str) -> None:
    assert _run(method, stream_mode="values") == {"x": 1}
    with pytest.raises(TypeError, match="use stream"):
        _run(method, stream_mode="updates")
