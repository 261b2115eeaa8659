"""The async PostgreSQL checkpointer under LangGraph's module path
(``langgraph.checkpoint.postgres.aio``).

Example::

    from tokentide.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string("postgresql://app@db/app") as saver:
        await saver.setup()
        graph = builder.compile(checkpointer=saver)
"""

from .._postgres_aio import AsyncPostgresSaver

__all__ = ["AsyncPostgresSaver"]
