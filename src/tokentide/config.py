"""The running node's stream writer and config, under LangGraph's module path
(``langgraph.config``).

Example::

    from tokentide.config import get_stream_writer

    def node(state):
        get_stream_writer()({"progress": 0.5})
        return {}
"""

from tokentide.graph._stream import get_config, get_stream_writer

__all__ = ["get_config", "get_stream_writer"]
