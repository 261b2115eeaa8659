"""Graph value types, under the module path LangGraph users import them from
(``langgraph.types``).

Example::

    from tokentide.types import Command, Send, interrupt

    def route(state) -> Command:
        return Command(update={"n": 1}, goto="next")
"""

from tokentide.graph._interrupt import interrupt
from tokentide.graph._types import (
    Command,
    Interrupt,
    PregelTask,
    RetryPolicy,
    Send,
    StateSnapshot,
    StreamMode,
    StreamWriter,
)

__all__ = [
    "Command",
    "Interrupt",
    "PregelTask",
    "RetryPolicy",
    "Send",
    "StateSnapshot",
    "StreamMode",
    "StreamWriter",
    "interrupt",
]
