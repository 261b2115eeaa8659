"""Checkpointers: save a graph's state after every step so a thread can continue later.

Example::

    from tokentide.checkpoint import MemorySaver

    graph = builder.compile(checkpointer=MemorySaver())
    config = {"configurable": {"thread_id": "chat-1"}}
    graph.invoke({"messages": [("user", "hi")]}, config)
    graph.get_state(config).values
"""

from ._base import BaseCheckpointSaver, Checkpoint, CheckpointTuple
from ._memory import InMemorySaver, MemorySaver
from ._sqlite import SqliteSaver

__all__ = [
    "BaseCheckpointSaver",
    "Checkpoint",
    "CheckpointTuple",
    "InMemorySaver",
    "MemorySaver",
    "SqliteSaver",
]
