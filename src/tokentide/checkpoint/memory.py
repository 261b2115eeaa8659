"""In-memory checkpointers under LangGraph's module path (``langgraph.checkpoint.memory``).

Example::

    from tokentide.checkpoint.memory import InMemorySaver

    graph = builder.compile(checkpointer=InMemorySaver())
"""

from ._memory import InMemorySaver, MemorySaver

__all__ = ["InMemorySaver", "MemorySaver"]
