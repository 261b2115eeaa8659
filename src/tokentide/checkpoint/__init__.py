"""Checkpointers: save a graph's state after every step so a thread can continue later.

Example::

    from tokentide.checkpoint import MemorySaver

    graph = builder.compile(checkpointer=MemorySaver())
    config = {"configurable": {"thread_id": "chat-1"}}
    graph.invoke({"messages": [("user", "hi")]}, config)
    graph.get_state(config).values

`PostgresSaver` / `AsyncPostgresSaver` keep threads in PostgreSQL (``pip install
'tokentide[postgres]'``), so that every server replica can continue every thread.
"""

from ._base import BaseCheckpointSaver, Checkpoint, CheckpointTuple, PendingWrite
from ._memory import InMemorySaver, MemorySaver
from ._postgres import PostgresSaver
from ._postgres_aio import AsyncPostgresSaver
from ._sqlite import SqliteSaver

__all__ = [
    "AsyncPostgresSaver",
    "BaseCheckpointSaver",
    "Checkpoint",
    "CheckpointTuple",
    "InMemorySaver",
    "MemorySaver",
    "PendingWrite",
    "PostgresSaver",
    "SqliteSaver",
]
