from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(params=[True, False], ids=["sync", "async"])
def sync(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def run_stream(
    graph: Any, input: Any, sync: bool, config: Any = None, **kw: Any
) -> list[Any]:
    if sync:
        return list(graph.stream(input, config, **kw))
    return [item async for item in graph.astream(input, config, **kw)]


async def run_invoke(graph: Any, input: Any, sync: bool, config: Any = None) -> Any:
    if sync:
        return graph.invoke(input, config)
    return await graph.ainvoke(input, config)
