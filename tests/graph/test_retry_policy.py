"""`add_node(..., retry_policy=RetryPolicy(...))` retries a failing node as LangGraph does."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from tokentide.graph import START, StateGraph
from tokentide.types import RetryPolicy


class S(TypedDict, total=False):
    out: Annotated[list[str], operator.add]


def flaky(failures: int, exc: type[Exception] = ConnectionError) -> Any:
    calls: list[int] = []

    def node(state: S) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= failures:
            raise exc("try again")
        return {"out": [f"ok after {len(calls)}"]}

    return node, calls


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_retries_until_success(use_async: bool) -> None:
    node, calls = flaky(2)
    policy = RetryPolicy(initial_interval=0.001, jitter=False)
    graph = StateGraph(S).add_node("n", node, retry_policy=policy).add_edge(START, "n").compile()
    result = await graph.ainvoke({"out": []}) if use_async else graph.invoke({"out": []})
    assert result == {"out": ["ok after 3"]} and len(calls) == 3


def test_gives_up_after_max_attempts_and_skips_programming_errors() -> None:
    node, calls = flaky(5)
    policy = RetryPolicy(initial_interval=0.001, max_attempts=2)
    graph = StateGraph(S).add_node("n", node, retry_policy=policy).add_edge(START, "n").compile()
    with pytest.raises(ConnectionError):
        graph.invoke({"out": []})
    assert len(calls) == 2
    node, calls = flaky(1, ValueError)
    graph = StateGraph(S).add_node("n", node, retry_policy=policy).add_edge(START, "n").compile()
    with pytest.raises(ValueError):
        graph.invoke({"out": []})
    assert len(calls) == 1


def test_retry_on_and_backoff() -> None:
    policy = RetryPolicy(initial_interval=1, backoff_factor=3, max_interval=5, jitter=False)
    assert [policy.wait(n) for n in (1, 2, 3)] == [1, 3, 5]
    only = RetryPolicy(retry_on=KeyError)
    assert only.should_retry(KeyError("k"), 1) and not only.should_retry(ConnectionError(), 1)
    with pytest.raises(TypeError, match="RetryPolicy"):
        StateGraph(S).add_node("n", lambda s: {}, retry_policy=3)  # type: ignore[arg-type]


def test_same_fields_as_langgraph() -> None:
    lg_types = pytest.importorskip("langgraph.types")
    assert RetryPolicy._fields == lg_types.RetryPolicy._fields
    ours, theirs = RetryPolicy(), lg_types.RetryPolicy()
    assert ours[:5] == theirs[:5]
    for exc in (ConnectionError(), ValueError(), KeyError(), Exception()):
        assert ours.retry_on(exc) == theirs.retry_on(exc), exc  # type: ignore[operator]
