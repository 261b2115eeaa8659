"""Shared by the server tests (no tests here): the events of a ``/v1/runs`` stream body, and
of a stream made with an SDK's sync or async client."""

from __future__ import annotations

import json
from typing import Any

from tokentide.wire import SSEDecoder

__all__ = ["run_events", "sdk_events"]


def run_events(body: bytes) -> list[dict[str, Any]]:
    """Each server-sent event of ``body``: its name, id and decoded JSON data."""
    decoder = SSEDecoder()
    return [
        {"event": sse.event, "id": sse.id, "data": json.loads(sse.data)}
        for sse in [*decoder.feed(body), *decoder.flush()]
    ]


async def sdk_events(client: Any, aclient: Any, sync: bool, api: str, **kwargs: Any) -> list[Any]:
    """Every event of ``client.API.create(stream=True, **kwargs)`` (``api``: ``"messages"``,
    ``"responses"``), with the sync client or the async one."""
    if sync:
        return list(getattr(client, api).create(stream=True, **kwargs))
    return [event async for event in await getattr(aclient, api).create(stream=True, **kwargs)]
