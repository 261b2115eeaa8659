"""The SQLite checkpointer under LangGraph's module path (``langgraph.checkpoint.sqlite``).

Example::

    from tokentide.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string("threads.db") as saver:
        graph = builder.compile(checkpointer=saver)
"""

from ._sqlite import SqliteSaver

__all__ = ["SqliteSaver"]
