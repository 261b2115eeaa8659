"""One contract, every saver: `MemorySaver`, `SqliteSaver` and the PostgreSQL savers behave
the same through their sync and their async methods (put / get / list with its filters,
``before`` and ``limit``, pending writes, metadata, parent configs, thread deletion), and a
scripted session of calls gives item for item what `MemorySaver` gives.
"""

from __future__ import annotations

from typing import Any

import pytest

from tokentide.checkpoint import Checkpoint, MemorySaver
from tokentide.messages import AIMessage, HumanMessage

from ._savers import Api, assert_same_trace

pytestmark = pytest.mark.timeout(60)


def conf(thread: str, ns: str = "", cid: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if cid is not None:
        configurable["checkpoint_id"] = cid
    return {"configurable": configurable}


def checkpoint(cid: str, step: int, **values: Any) -> Checkpoint:
    return {
        "v": 1,
        "id": cid,
        "ts": f"2026-01-01T00:00:{step + 10:02d}+00:00",
        "step": step,
        "values": values,
        "pending": {},
        "joins": {},
    }


def cid(n: int) -> str:
    """Checkpoint ids that sort as they are numbered (as real ones sort by time)."""
    return f"1f0c0000-0000-6000-8000-{n:012d}"


async def save_chain(api: Api, thread: str, count: int, ns: str = "") -> list[dict[str, Any]]:
    """``count`` checkpoints, each the child of the one before; their configs."""
    parent = conf(thread, ns)
    saved = []
    for i in range(count):
        meta: dict[str, Any] = {
            "source": "input" if i == 0 else "loop",
            "step": i - 1,
            "parents": {},
        }
        parent = await api.put(parent, checkpoint(cid(i), i - 1, n=i), meta)
        saved.append(parent)
    return saved


def ids(found: list[Any]) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in found]


async def test_put_returns_the_config_and_get_reads_it_back(api: Api) -> None:
    values = {
        "messages": [HumanMessage("hi", id="h1"), AIMessage("hello", id="a1")],
        "pair": (1, "two"),
        "tags": {"x"},
        "by_number": {1: "one"},
    }
    meta = {"source": "loop", "step": 0, "parents": {}, "writes": {"chat": {"n": 1}}}
    first = await api.put(conf("t1"), checkpoint(cid(1), -1), {"source": "input", "step": -1})
    second = await api.put(first, checkpoint(cid(2), 0, **values), meta)
    assert first == conf("t1", "", cid(1))
    assert second == conf("t1", "", cid(2))

    latest = await api.get_tuple(conf("t1"))
    assert latest is not None
    assert latest.config == second
    assert latest.parent_config == first
    assert latest.metadata == meta
    assert latest.checkpoint["values"] == values
    assert isinstance(latest.checkpoint["values"]["messages"][1], AIMessage)
    assert latest.checkpoint["values"]["pair"] == (1, "two")
    assert latest.pending_writes == []

    named = await api.get_tuple(conf("t1", "", cid(1)))
    assert named is not None and named.config == first and named.parent_config is None
    assert (await api.get(conf("t1", "", cid(1)))) == checkpoint(cid(1), -1)


async def test_missing_threads_and_ids_give_none(api: Api) -> None:
    await save_chain(api, "t1", 2)
    assert await api.get_tuple(conf("nobody")) is None
    assert await api.get_tuple(conf("t1", "", cid(99))) is None
    assert await api.get_tuple(conf("t1", "sub:1")) is None
    assert await api.get(conf("nobody")) is None
    assert await api.list(conf("nobody")) == []


async def test_list_is_newest_first_with_limit_before_and_filter(api: Api) -> None:
    await save_chain(api, "t1", 5)
    await save_chain(api, "t2", 2)
    assert ids(await api.list(conf("t1"))) == [cid(i) for i in (4, 3, 2, 1, 0)]
    assert ids(await api.list(conf("t1"), limit=2)) == [cid(4), cid(3)]
    assert ids(await api.list(conf("t1"), before=conf("t1", "", cid(3)))) == [
        cid(2),
        cid(1),
        cid(0),
    ]
    assert ids(await api.list(conf("t1"), before=conf("t1", "", cid(3)), limit=1)) == [cid(2)]
    assert ids(await api.list(conf("t1"), filter={"source": "input"})) == [cid(0)]
    assert ids(await api.list(conf("t1"), filter={"source": "loop", "step": 1})) == [cid(2)]
    assert ids(await api.list(conf("t1"), filter={"source": "loop"}, limit=2)) == [cid(4), cid(3)]
    assert ids(await api.list(conf("t1"), filter={"parents": {}}, limit=1)) == [cid(4)]
    assert await api.list(conf("t1"), filter={"missing": None}) == []
    assert await api.list(conf("t1"), filter={"step": "1"}) == []  # types must match
    assert await api.list(conf("t1"), limit=0) == []
    named = await api.list(conf("t1", "", cid(2)))
    assert ids(named) == [cid(2)]


async def test_list_without_a_config_spans_threads(api: Api) -> None:
    await save_chain(api, "t1", 2)
    await save_chain(api, "t2", 2)
    everything = await api.list(None)
    assert [(t.config["configurable"]["thread_id"], ids([t])[0]) for t in everything] == [
        ("t2", cid(1)),
        ("t2", cid(0)),
        ("t1", cid(1)),
        ("t1", cid(0)),
    ]
    assert ids(await api.list(None, filter={"source": "input"})) == [cid(0), cid(0)]


async def test_namespaces_are_separate_and_listed_together(api: Api) -> None:
    await save_chain(api, "t1", 2)
    await save_chain(api, "t1", 1, ns="child:7")
    root = await api.get_tuple({"configurable": {"thread_id": "t1"}})
    child = await api.get_tuple(conf("t1", "child:7"))
    assert root is not None and root.config == conf("t1", "", cid(1))
    assert child is not None and child.config == conf("t1", "child:7", cid(0))
    assert len(await api.list(conf("t1"))) == 2  # the config names the root namespace
    every_ns = await api.list({"configurable": {"thread_id": "t1"}})
    assert sorted(t.config["configurable"]["checkpoint_ns"] for t in every_ns) == [
        "",
        "",
        "child:7",
    ]


async def test_saving_an_id_again_replaces_the_checkpoint(api: Api) -> None:
    saved = await save_chain(api, "t1", 3)
    await api.put(saved[0], checkpoint(cid(1), 5, n="new"), {"source": "update", "step": 5})
    again = await api.get_tuple(conf("t1", "", cid(1)))
    assert again is not None
    assert again.checkpoint["values"] == {"n": "new"}
    assert again.metadata == {"source": "update", "step": 5}
    assert ids(await api.list(conf("t1"))) == [cid(2), cid(1), cid(0)]


async def test_pending_writes_belong_to_their_checkpoint(api: Api) -> None:
    saved = await save_chain(api, "t1", 2)
    message = AIMessage("partial", id="m1")
    await api.put_writes(saved[1], [("messages", [message]), ("count", 1)], "task-b")
    await api.put_writes(saved[1], [("answer", "x")], "task-a")
    await api.put_writes(saved[1], [("__interrupt__", ("first",))], "task-c")
    await api.put_writes(saved[0], [("old", True)], "task-z", "~path")

    latest = await api.get_tuple(conf("t1"))
    assert latest is not None
    assert latest.pending_writes == [  # by task, then position
        ("task-a", "answer", "x"),
        ("task-b", "messages", [message]),
        ("task-b", "count", 1),
        ("task-c", "__interrupt__", ("first",)),
    ]
    older = await api.get_tuple(conf("t1", "", cid(0)))
    assert older is not None and older.pending_writes == [("task-z", "old", True)]
    listed = await api.list(conf("t1"))
    assert [len(t.pending_writes or []) for t in listed] == [4, 1]


async def test_a_task_saving_again_replaces_its_writes(api: Api) -> None:
    saved = await save_chain(api, "t1", 1)
    await api.put_writes(saved[0], [("__interrupt__", ["ask 1"]), ("x", 1)], "paused")
    await api.put_writes(saved[0], [("y", 2)], "done")
    await api.put_writes(
        saved[0], [("__resume__", ["yes"]), ("__interrupt__", ["ask 2"])], "paused"
    )
    found = await api.get_tuple(conf("t1"))
    assert found is not None
    assert found.pending_writes == [  # the special channels first: __resume__, __interrupt__
        ("done", "y", 2),
        ("paused", "__resume__", ["yes"]),
        ("paused", "__interrupt__", ["ask 2"]),
    ]
    await api.put_writes(saved[0], [], "paused")
    found = await api.get_tuple(conf("t1"))
    assert found is not None and found.pending_writes == [("done", "y", 2)]


async def test_put_writes_needs_a_checkpoint_id(api: Api) -> None:
    with pytest.raises(ValueError, match="checkpoint_id"):
        await api.put_writes(conf("t1"), [("a", 1)], "task")


async def test_delete_thread_removes_every_namespace_and_its_writes(api: Api) -> None:
    saved = await save_chain(api, "t1", 2)
    await save_chain(api, "t1", 1, ns="child:1")
    await save_chain(api, "t2", 1)
    await api.put_writes(saved[1], [("a", 1)], "task")
    await api.delete_thread("t1")
    assert await api.list({"configurable": {"thread_id": "t1"}}) == []
    assert await api.get_tuple(conf("t1")) is None
    assert ids(await api.list(conf("t2"))) == [cid(0)]
    await api.put(conf("t1"), checkpoint(cid(1), 0), {})  # a new life, no old writes
    fresh = await api.get_tuple(conf("t1"))
    assert fresh is not None and fresh.pending_writes == [] and fresh.parent_config is None


async def test_a_thread_is_required(api: Api) -> None:
    with pytest.raises(ValueError, match="thread_id"):
        await api.get_tuple({"configurable": {}})


# ---------------------------------------------------------------- a scripted session


async def scripted_session(api: Api) -> list[Any]:
    """A mixed sequence of calls; the trace of what each read returned."""
    trace: list[Any] = []
    a = await save_chain(api, "a", 4)
    await save_chain(api, "b", 3)
    await save_chain(api, "a", 2, ns="sub:1")
    await api.put_writes(a[3], [("x", 1), ("__error__", "boom"), ("y", (2, 3))], "t9", "p")
    await api.put_writes(a[3], [("z", {"k": 1})], "t1")
    await api.put(a[1], checkpoint(cid(7), 2, fork=True), {"source": "fork", "step": 2})
    cases: list[tuple[Any, dict[str, Any]]] = [
        (conf("a"), {}),
        ({"configurable": {"thread_id": "a"}}, {"limit": 3}),
        (None, {"filter": {"source": "loop"}, "limit": 4}),
        (conf("a"), {"before": conf("a", "", cid(3))}),
        (conf("b"), {"filter": {"step": 0}}),
        (conf("a", "sub:1"), {}),
    ]
    for config, options in cases:
        trace.append([tuple(found) for found in await api.list(config, **options)])
    trace.append(tuple(await api.get_tuple(conf("a")) or ()))
    await api.delete_thread("b")
    trace.append([tuple(found) for found in await api.list(None)])
    return trace


async def test_every_saver_gives_what_the_memory_saver_gives(api: Api) -> None:
    await assert_same_trace(scripted_session, api, MemorySaver())
