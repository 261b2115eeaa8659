"""The PostgreSQL checkpointer under LangGraph's module path (``langgraph.checkpoint.postgres``).

Example::

    from tokentide.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string("postgresql://app@db/app") as saver:
        saver.setup()
        graph = builder.compile(checkpointer=saver)
"""

from .._postgres import PostgresSaver

__all__ = ["PostgresSaver"]
