"""Message state: the ``add_messages`` reducer and ``MessagesState``.

Same module path as LangGraph's ``langgraph.graph.message``.

Example::

    from typing import Annotated, TypedDict
    from tokentide.graph.message import add_messages

    class State(TypedDict):
        messages: Annotated[list, add_messages]
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict, cast

from tokentide.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from tokentide.messages._ids import fast_uuid4

__all__ = ["MessagesState", "add_messages"]

#: The finished message classes themselves (a subclass takes the general path).
_FINISHED = frozenset({AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage})


def _as_messages(value: Any) -> list[BaseMessage]:
    if not isinstance(value, list):
        value = [value]
    finished = _FINISHED
    for msg in value:  # the common case: finished messages that have ids (nothing to do)
        if type(msg) not in finished or msg.id is None:
            break
    else:
        return cast("list[BaseMessage]", value)
    out = convert_to_messages(value)
    for i, msg in enumerate(out):
        if isinstance(msg, BaseMessageChunk):
            msg = out[i] = message_chunk_to_message(msg)
        if msg.id is None:
            msg.id = fast_uuid4()
    return out


def add_messages(left: Any, right: Any) -> list[BaseMessage]:
    """Merge two lists of messages: a message in ``right`` whose id is already in ``left``
    replaces it; the others are appended. Messages without an id get a new one; message-like
    values (``("user", "hi")``, dicts, strings) are converted to messages.

    Example::

        add_messages([HumanMessage("hi", id="1")], [AIMessage("hello", id="2")])
        # [HumanMessage("hi", id="1"), AIMessage("hello", id="2")]
    """
    merged = _as_messages(left)
    if merged is left:
        merged = list(left)  # never change the caller's list
    incoming = _as_messages(right)
    index = {msg.id: i for i, msg in enumerate(merged)}
    for msg in incoming:
        at = index.get(msg.id)
        if at is None:
            index[msg.id] = len(merged)
            merged.append(msg)
        else:
            merged[at] = msg
    return merged


class MessagesState(TypedDict):
    """A state holding one list of messages, merged with :func:`add_messages`.

    Example::

        graph = StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()
        graph.invoke({"messages": [("user", "hi")]})
    """

    messages: Annotated[list[BaseMessage], add_messages]
