"""Stateful graphs that stream: ``StateGraph``, reducers, stream modes (LangGraph's API).

Example::

    from tokentide.graph import START, MessagesState, StateGraph
    from tokentide.models import FakeChatModel

    model = FakeChatModel(responses=["Hello there!"])

    def chat(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()
    for chunk, metadata in graph.stream({"messages": [("user", "hi")]}, stream_mode="messages"):
        print(chunk.content, end="|")
"""

from ._builder import StateGraph
from ._compiled import CompiledStateGraph
from ._interrupt import interrupt
from ._stream import get_stream_writer
from ._types import (
    END,
    START,
    Command,
    Interrupt,
    PregelTask,
    Send,
    StateSnapshot,
    StreamMode,
    StreamWriter,
)
from .message import MessagesState, add_messages

__all__ = [
    "END",
    "START",
    "Command",
    "CompiledStateGraph",
    "Interrupt",
    "MessagesState",
    "PregelTask",
    "Send",
    "StateGraph",
    "StateSnapshot",
    "StreamMode",
    "StreamWriter",
    "add_messages",
    "get_stream_writer",
    "interrupt",
]
