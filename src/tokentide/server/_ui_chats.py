"""Which run is a chat's active stream, and who is reading it: shared by the replicas.

Besides, a run that resumes an agent after tool approvals has a *context*: the tool calls the
page already shows (not streamed again) and those it denied.

The AI SDK resumes a chat by its id alone (``GET /api/chat/{chatId}/stream``), so the server
keeps, per chat, the id of the run that answers it now; and, per run, a *reader generation*
that grows each time a client (re)attaches. When a reader disconnects, the replica it was on
waits a grace period and cancels the run only if no reader attached since (the generation is
unchanged): a reload resumes, a Stop stops.

`MemoryChatRegistry` serves one process (beside a `MemoryStreamStore`); `RedisChatRegistry`
keeps the same in the Redis of a `RedisStreamStore`, so a client may come back on any replica.
Entries expire with the run store's ``ttl``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["ChatRegistry", "MemoryChatRegistry", "RedisChatRegistry", "registry_for"]


class ChatRegistry(Protocol):
    """Chat id -> active run id, and each run's reader generation."""

    async def set_active(self, chat_id: str, run_id: str) -> None: ...

    async def active(self, chat_id: str) -> str | None: ...

    async def clear(self, chat_id: str, run_id: str) -> None: ...

    async def attach(self, run_id: str) -> int: ...

    async def generation(self, run_id: str) -> int: ...

    async def set_context(self, run_id: str, context: dict[str, Any]) -> None: ...

    async def context(self, run_id: str) -> dict[str, Any] | None: ...


class MemoryChatRegistry:
    """A `ChatRegistry` in this process's memory, bounded: at most ``max_entries`` chats and
    runs each (the oldest are forgotten first), each kept ``ttl`` seconds."""

    def __init__(self, *, ttl: float = 3600.0, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._chats: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._readers: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._contexts: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()

    def _put(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = (value, time.monotonic() + self.ttl)
        table.move_to_end(key)
        while len(table) > self.max_entries:
            table.popitem(last=False)

    @staticmethod
    def _get(table: OrderedDict[str, Any], key: str) -> Any:
        entry = table.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del table[key]
            return None
        return entry[0]

    async def set_active(self, chat_id: str, run_id: str) -> None:
        self._put(self._chats, chat_id, run_id)

    async def active(self, chat_id: str) -> str | None:
        value = self._get(self._chats, chat_id)
        return value if isinstance(value, str) else None

    async def clear(self, chat_id: str, run_id: str) -> None:
        if self._get(self._chats, chat_id) == run_id:
            del self._chats[chat_id]

    async def attach(self, run_id: str) -> int:
        generation = int(self._get(self._readers, run_id) or 0) + 1
        self._put(self._readers, run_id, generation)
        return generation

    async def generation(self, run_id: str) -> int:
        return int(self._get(self._readers, run_id) or 0)

    async def set_context(self, run_id: str, context: dict[str, Any]) -> None:
        self._put(self._contexts, run_id, context)

    async def context(self, run_id: str) -> dict[str, Any] | None:
        value = self._get(self._contexts, run_id)
        return value if isinstance(value, dict) else None


_CLEAR = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisChatRegistry:
    """A `ChatRegistry` in Redis (the client and key prefix of a `RedisStreamStore`; ``guard``:
    its context manager that turns "Redis is down" into `StoreUnavailable`)."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "tokentide",
        ttl: float = 3600.0,
        guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self._client = client
        self._guard = guard
        self.prefix = prefix
        self._ttl_ms = max(1, int(ttl * 1000))
        self._clear = client.register_script(_CLEAR)

    def _chat_key(self, chat_id: str) -> str:
        return f"{self.prefix}:uichat:{chat_id}"

    def _readers_key(self, run_id: str) -> str:
        return f"{self.prefix}:uireaders:{run_id}"

    def _context_key(self, run_id: str) -> str:
        return f"{self.prefix}:uicontext:{run_id}"

    async def set_active(self, chat_id: str, run_id: str) -> None:
        with self._guard():
            await self._client.set(self._chat_key(chat_id), run_id, px=self._ttl_ms)

    async def active(self, chat_id: str) -> str | None:
        with self._guard():
            value = await self._client.get(self._chat_key(chat_id))
        return str(value) if value is not None else None

    async def clear(self, chat_id: str, run_id: str) -> None:
        with self._guard():
            await self._clear(keys=[self._chat_key(chat_id)], args=[run_id])

    async def attach(self, run_id: str) -> int:
        key = self._readers_key(run_id)
        with self._guard():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.pexpire(key, self._ttl_ms)
                generation, _ = await pipe.execute()
        return int(generation)

    async def generation(self, run_id: str) -> int:
        with self._guard():
            value = await self._client.get(self._readers_key(run_id))
        return int(value) if value is not None else 0

    async def set_context(self, run_id: str, context: dict[str, Any]) -> None:
        with self._guard():
            await self._client.set(self._context_key(run_id), json.dumps(context), px=self._ttl_ms)

    async def context(self, run_id: str) -> dict[str, Any] | None:
        with self._guard():
            value = await self._client.get(self._context_key(run_id))
        loaded = json.loads(value) if value is not None else None
        return loaded if isinstance(loaded, dict) else None


def registry_for(store: Any) -> ChatRegistry:
    """The registry that fits a run store: in its Redis when it is a `RedisStreamStore`, in
    this process otherwise."""
    ttl = float(getattr(store, "ttl", 3600.0))
    client = getattr(store, "_client", None)
    guard = getattr(store, "_guard", None)
    if type(store).__name__ == "RedisStreamStore" and client is not None and guard is not None:
        prefix = str(getattr(store, "prefix", "tokentide"))
        return RedisChatRegistry(client, prefix=prefix, ttl=ttl, guard=guard)
    return MemoryChatRegistry(ttl=ttl)
