"""Graphs that the two-replica Agent Server tests serve with ``tokentide serve --graph``,
compiled without a checkpointer: ``--checkpointer`` (a SQLite file or PostgreSQL shared by
both replicas) keeps their threads."""

from __future__ import annotations

from typing import Any

from tokentide.graph import START, MessagesState, StateGraph, interrupt
from tokentide.messages import AIMessage
from tokentide.models import FakeChatModel

SLOW_WORDS = [f"s{i} " for i in range(60)]

_model = FakeChatModel([list(SLOW_WORDS)], delay=0.02)


async def _chat(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await _model.ainvoke(state["messages"])]}


slow = StateGraph(MessagesState).add_node("chat", _chat).add_edge(START, "chat").compile()


def _review(state: MessagesState) -> dict[str, Any]:
    answer = interrupt({"question": "Send the reply?", "draft": state["messages"][-1].text})
    return {"messages": [AIMessage(f"reviewed: {answer}")]}


approval = (
    StateGraph(MessagesState)
    .add_node("chat", _chat)
    .add_node("review", _review)
    .add_edge(START, "chat")
    .add_edge("chat", "review")
    .compile()
)
