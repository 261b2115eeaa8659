"""Run context: models called inside user code find their parent run with no config passed,
in sync and async code, on every supported Python version."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _runtime_helpers import events_of

from tokentide.callbacks import adispatch_custom_event, dispatch_custom_event
from tokentide.models import FakeChatModel
from tokentide.prompts import ChatPromptTemplate
from tokentide.runnables import RunnableGenerator, RunnableLambda, current_run


def by_event(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def make_lambda(model: FakeChatModel, kind: str) -> RunnableLambda:
    if kind == "sync":

        def call_model(text: str) -> str:
            return model.invoke(text).content

        return RunnableLambda(call_model)

    async def acall_model(text: str) -> str:
        return (await model.ainvoke(text)).content

    return RunnableLambda(acall_model)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_model_invoked_inside_lambda_streams_events_with_parent_ids(kind: str) -> None:
    model = FakeChatModel(responses=[["one", " two", " three"]])
    chain = ChatPromptTemplate.from_template("{q}") | (lambda v: v.to_string())
    chain = chain | make_lambda(model, kind)
    events = await events_of(chain, {"q": "hi"}, config={"tags": ["outer"]})
    root = events[0]
    assert root["event"] == "on_chain_start" and root["parent_ids"] == []
    lam_start = [
        e for e in by_event(events, "on_chain_start") if e["name"] in ("call_model", "acall_model")
    ][0]
    streams = by_event(events, "on_chat_model_stream")
    assert [e["data"]["chunk"].content for e in streams] == ["one", " two", " three", ""]
    for e in streams:
        assert e["parent_ids"] == [root["run_id"], lam_start["run_id"]]
        # Config tags are inherited; the lambda's position tag is its own (as LangChain).
        assert e["tags"] == ["outer"]
        assert e["metadata"]["ls_provider"] == "fake"
    assert events[-1]["event"] == "on_chain_end"
    assert events[-1]["data"]["output"] == "one two three"


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_model_in_root_lambda_nests_under_it(kind: str) -> None:
    model = FakeChatModel(responses=[["a", "b"]])
    lam = make_lambda(model, kind)
    events = await events_of(lam, "x", config={"metadata": {"user": "u1"}, "run_name": "outer"})
    assert events[0]["name"] == "outer"
    starts = by_event(events, "on_chat_model_start")
    assert len(starts) == 1
    assert starts[0]["parent_ids"] == [events[0]["run_id"]]
    assert starts[0]["metadata"]["user"] == "u1"
    assert starts[0]["data"]["input"]["messages"][0][0].content == "x"


async def test_generator_body_calls_are_nested() -> None:
    model = FakeChatModel(responses=[["z"]])

    def gen(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            yield model.invoke(chunk).content

    async def agen(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield (await model.ainvoke(chunk)).content

    events = await events_of(RunnableGenerator(gen, agen, name="g"), "x")
    starts = by_event(events, "on_chat_model_start")
    assert starts and starts[0]["parent_ids"] == [events[0]["run_id"]]


def test_no_listener_means_no_events_and_no_current_run() -> None:
    assert current_run() is None
    seen: list[Any] = []

    def look(x: int) -> int:
        run = current_run()
        seen.append((run.name if run else None, run.sink if run else "none"))
        return x

    RunnableLambda(look).invoke(1)
    assert seen == [("look", None)]
    assert current_run() is None


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_custom_events_without_config(kind: str) -> None:
    if kind == "sync":

        def step(x: int) -> int:
            dispatch_custom_event("progress", {"pct": 50})
            return x + 1

        lam = RunnableLambda(step)
    else:

        async def astep(x: int) -> int:
            await adispatch_custom_event("progress", {"pct": 50})
            dispatch_custom_event("sync-from-async", 1)
            return x + 1

        lam = RunnableLambda(astep)
    chain = RunnableLambda(lambda x: x) | lam
    events = await events_of(chain, 1)
    custom = by_event(events, "on_custom_event")
    assert custom[0]["name"] == "progress"
    assert custom[0]["data"] == {"pct": 50}
    step_start = [e for e in by_event(events, "on_chain_start") if e["name"] in ("step", "astep")]
    assert custom[0]["run_id"] == step_start[0]["run_id"]
    assert custom[0]["parent_ids"] == [events[0]["run_id"]]
    if kind == "async":
        assert custom[1]["name"] == "sync-from-async"
    assert events[-1]["data"]["output"] == 2


async def test_custom_event_outside_a_run_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="inside a runnable"):
        dispatch_custom_event("x", 1)
    with pytest.raises(RuntimeError, match="inside a runnable"):
        await adispatch_custom_event("x", 1)


def test_custom_event_with_no_listener_is_a_no_op() -> None:
    def step(x: int) -> int:
        dispatch_custom_event("x", 1)
        return x

    assert RunnableLambda(step).invoke(3) == 3


async def test_custom_events_filtered_by_name() -> None:
    def step(x: int) -> int:
        dispatch_custom_event("keep", 1)
        dispatch_custom_event("drop", 2)
        return x

    events = await events_of(RunnableLambda(step), 1, include_names=["keep"])
    assert [(e["event"], e["name"]) for e in events] == [("on_custom_event", "keep")]


async def test_concurrent_streams_do_not_mix_their_runs() -> None:
    model = FakeChatModel(responses=[["a", "b", "c"]], delay=0.001)

    async def call(x: str) -> str:
        return (await model.ainvoke(x)).content

    lam = RunnableLambda(call)
    first, second = await asyncio.gather(events_of(lam, "1"), events_of(lam, "2"))
    for events in (first, second):
        root_id = events[0]["run_id"]
        nested = [e for e in events if e["parent_ids"]]
        assert nested and all(e["parent_ids"] == [root_id] for e in nested)


def _node_run(inherited: list[str], metadata: dict[str, Any], **kwargs: Any) -> Any:
    """The run of a graph node at step 1 whose child runs are a sequence's first step."""
    from tokentide.runtime._context import RunContext

    parent = RunContext(
        "node",
        "chain",
        tags=[*inherited, "graph:step:1"],
        inheritable_tags=inherited,
        metadata=metadata,
        configurable={"thread_id": "t"},
        **kwargs,
    )
    parent.child_tags = ["seq:step:1"]
    return parent


@pytest.mark.parametrize("inherited", [[], ["a"], ["a", "b"]])
@pytest.mark.parametrize("local", [None, ["seq:step:2"], ["b", "a"]])
@pytest.mark.parametrize("own_tags", [None, ["t"], ["a"]])
def test_a_run_made_from_a_child_config_is_the_run_of_the_same_full_config(
    inherited: list[str], local: list[str] | None, own_tags: list[str] | None
) -> None:
    from tokentide.runtime._context import new_run

    parent = _node_run(inherited, {"langgraph_node": "node"}, recursion_limit=7, max_concurrency=3)
    child = parent.child_config(local_tags=local)
    full = {**child, "recursion_limit": 7}  # any key of a RunnableConfig: the general path
    for meta in (None, {"ls_provider": "x"}):
        a = new_run("m", "llm", child, tags=own_tags, metadata=meta)
        b = new_run("m", "llm", full, tags=own_tags, metadata=meta)  # type: ignore[arg-type]
        for attr in ("tags", "inheritable_tags", "metadata", "configurable", "sink", "parent"):
            assert getattr(a, attr) == getattr(b, attr), attr
        assert (a.recursion_limit, a.max_concurrency) == (b.recursion_limit, b.max_concurrency)


@pytest.mark.parametrize("inherited", [[], ["a"], ["a", "b"]])
@pytest.mark.parametrize("local", [None, ["seq:step:2"]])
@pytest.mark.parametrize(
    "change",
    [{}, {"tags": []}, {"tags": ["z"]}, {"metadata": {"k": 2}}, {"recursion_limit": 9}],
)
def test_a_run_made_from_a_node_config_handed_on_is_the_run_of_the_general_path(
    inherited: list[str], local: list[str] | None, change: dict[str, Any]
) -> None:
    from tokentide.runtime._context import LOCAL_TAGS_KEY, new_run

    parent = _node_run(inherited, {"k": 1})
    config: dict[str, Any] = {**parent.as_config(), **change}
    if local is not None:
        config[LOCAL_TAGS_KEY] = local
    a = new_run("m", "llm", config)  # type: ignore[arg-type]
    b = new_run("m", "llm", {**config, "run_name": "m"})  # type: ignore[arg-type]
    for attr in ("tags", "inheritable_tags", "metadata", "configurable", "sink", "parent"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.recursion_limit == b.recursion_limit
