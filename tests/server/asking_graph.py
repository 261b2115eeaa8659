"""A one-node graph that asks the user a question (no tests here), for the interrupt tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokentide.checkpoint import InMemorySaver
from tokentide.graph import START, MessagesState, StateGraph, interrupt
from tokentide.messages import AIMessage


def asking_graph(reply: Callable[[Any], str]) -> Any:
    """Its node interrupts with ``{"question": "Which city?"}``, then answers ``reply(answer)``
    with the value the run was resumed with; threads are kept in memory."""

    def ask(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "Which city?"})
        return {"messages": [AIMessage(reply(answer))]}

    builder = StateGraph(MessagesState).add_node(ask).add_edge(START, "ask")
    return builder.compile(checkpointer=InMemorySaver())
