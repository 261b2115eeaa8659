"""Graphs that the two-replica Agent Server tests serve with ``tokentide serve --graph``: their
checkpoints (and so the threads and runs of the Agent Server API) are in the SQLite file named
by ``TOKENTIDE_AGENT_DB``, shared by both replicas."""

from __future__ import annotations

import os
from typing import Any

from tokentide.checkpoint import SqliteSaver
from tokentide.graph import START, MessagesState, StateGraph
from tokentide.models import FakeChatModel

SLOW_WORDS = [f"s{i} " for i in range(60)]

_saver = SqliteSaver(os.environ["TOKENTIDE_AGENT_DB"])
_model = FakeChatModel([list(SLOW_WORDS)], delay=0.05)


async def _chat(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await _model.ainvoke(state["messages"])]}


slow = (
    StateGraph(MessagesState)
    .add_node("chat", _chat)
    .add_edge(START, "chat")
    .compile(checkpointer=_saver)
)
