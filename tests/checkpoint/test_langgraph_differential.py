"""The savers against LangGraph's own `InMemorySaver` (langgraph 1.2.22): the same calls with
LangGraph-shaped checkpoints (``channel_values``, ``channel_versions``...) give the same
configs, parent configs, values, metadata, listings (``filter`` / ``before`` / ``limit``,
namespaces, every thread) and pending writes, item by item."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver as LangGraphInMemorySaver

from ._savers import Api, assert_same_trace

pytestmark = pytest.mark.timeout(60)


def checkpoint(i: int, **values: Any) -> dict[str, Any]:
    return {
        "v": 4,
        "ts": f"2026-01-01T00:00:{i:02d}+00:00",
        "id": f"1f0c0000-0000-6000-8000-{i:012d}",
        "channel_values": values,
        "channel_versions": {name: i + 1 for name in values},
        "versions_seen": {},
        "updated_channels": sorted(values),
    }


def thread(thread_id: str, ns: str = "") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


def summary(found: Any) -> Any:
    if found is None:
        return None
    return (
        found.config,
        found.checkpoint["id"],
        found.checkpoint["channel_values"],
        found.metadata,
        found.parent_config,
        found.pending_writes,
    )


async def session(api: Api) -> list[Any]:
    trace: list[Any] = []
    config = thread("1")
    for i in range(4):
        meta: dict[str, Any] = {
            "source": "input" if i == 0 else "loop",
            "step": i - 1,
            "parents": {},
        }
        config = await api.put(config, checkpoint(i, n=i * 10, msgs=["a"] * i), meta)
    child = await api.put(thread("1", "sub:1"), checkpoint(4, n=-1), {"source": "loop", "step": 0})
    await api.put(thread("2"), checkpoint(5, n=5), {"source": "input", "step": -1})
    # Each task saves once (a task saving again replaces its writes here; LangGraph's
    # memory saver keeps the first of its ordinary writes instead).
    await api.put_writes(config, [("n", 1), ("__interrupt__", "ask"), ("msgs", ["b"])], "task1")
    await api.put_writes(config, [("n", 3)], "task0")
    await api.put_writes(child, [("n", 4)], "task2", "~sub")
    for read in (
        {"configurable": {"thread_id": "1"}},
        thread("1", "sub:1"),
        # (LangGraph's memory saver echoes this config as given; its PostgreSQL saver, and
        # ours, return it complete: given complete, the two agree)
        {"configurable": {**thread("1")["configurable"], "checkpoint_id": checkpoint(1)["id"]}},
        thread("nobody"),
    ):
        trace.append(summary(await api.get_tuple(read)))
    # Across namespaces and threads, LangGraph's memory saver lists namespace by namespace,
    # its PostgreSQL saver (and ours) newest first overall: compared as sets.
    for where in ({"configurable": {"thread_id": "1"}}, None):
        found = [summary(found) for found in await api.list(where)]
        trace.append(sorted(found, key=lambda item: (str(item[0]), item[1])))
    for where, options in (
        (thread("1"), {}),
        (thread("1"), {"limit": 2}),
        (thread("1"), {"filter": {"source": "loop"}}),
        (thread("1"), {"filter": {"step": 1, "source": "loop"}}),
        (thread("1"), {"before": {"configurable": {"checkpoint_id": checkpoint(2)["id"]}}}),
        (thread("2"), {"filter": {"source": "input"}}),
    ):
        trace.append([summary(found) for found in await api.list(where, **options)])
    await api.delete_thread("1")
    trace.append([summary(found) for found in await api.list(None)])
    return trace


async def test_the_same_calls_give_what_langgraph_gives(api: Api) -> None:
    await assert_same_trace(session, api, LangGraphInMemorySaver())
