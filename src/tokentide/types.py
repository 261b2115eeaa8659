"""Graph value types, under the module path LangGraph users import them from
(``langgraph.types``).

Example::

    from tokentide.types import Command, Send

    def route(state) -> Command:
        return Command(update={"n": 1}, goto="next")
"""

from tokentide.graph._types import Command, Interrupt, RetryPolicy, Send, StreamMode, StreamWriter

__all__ = ["Command", "Interrupt", "RetryPolicy", "Send", "StreamMode", "StreamWriter"]
