"""Graphs that the two-replica Agent Server tests serve with ``tokentide serve --graph``,
compiled without a checkpointer: ``--checkpointer`` (a SQLite file or PostgreSQL shared by
both replicas) keeps their threads."""

from __future__ import annotations

from typing import Any

from tokentide.graph import START, MessagesState, StateGraph
from tokentide.models import FakeChatModel

SLOW_WORDS = [f"s{i} " for i in range(60)]

_model = FakeChatModel([list(SLOW_WORDS)], delay=0.05)


async def _chat(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await _model.ainvoke(state["messages"])]}


slow = StateGraph(MessagesState).add_node("chat", _chat).add_edge(START, "chat").compile()
