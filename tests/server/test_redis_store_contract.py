"""`RedisStreamStore` passes the `StreamStore` contract (``store_contract.py``) against a real
``redis-server``; each store gets a fresh key prefix and its replicas are separate store
instances (separate connections) on the same prefix, as separate server processes would be."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from fakes.redis_server import RedisServer
from tokentide.server import StreamStore
from tokentide.server._redis_store import RedisStreamStore

from .store_contract import StreamStoreContract

pytestmark = pytest.mark.timeout(30)


class TestRedisStreamStore(StreamStoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer) -> None:
        self.url = redis_server.url
        self.replicas: list[RedisStreamStore] = []

    async def new_store(self, *, max_events: int, ttl: float, **options: int) -> StreamStore:
        prefix = f"c{uuid.uuid4().hex[:10]}"
        limits: dict[str, Any] = dict(options)  # max_finished_runs, max_finished_bytes
        return RedisStreamStore(self.url, max_events=max_events, ttl=ttl, prefix=prefix, **limits)

    async def replica(self, store: StreamStore) -> StreamStore:
        assert isinstance(store, RedisStreamStore)
        other = RedisStreamStore(
            self.url,
            max_events=store.max_events,
            ttl=store.ttl,
            prefix=store.prefix,
            max_finished_runs=store.max_finished_runs,
            max_finished_bytes=store.max_finished_bytes,
        )
        self.replicas.append(other)
        return other

    @asynccontextmanager
    async def opened(
        self, *, max_events: int | None = None, ttl: float | None = None, **options: int
    ) -> AsyncIterator[StreamStore]:
        try:
            async with super().opened(max_events=max_events, ttl=ttl, **options) as store:
                yield store
        finally:
            for other in self.replicas:
                await other.aclose()
            self.replicas.clear()
