"""Graphs that the ``tokentide serve`` thread tests serve (``--graph thread_graphs:chat``).

``chat`` streams its reply word by word and says which turn of the thread this is and every
user message it has seen: a reply on a thread continued elsewhere shows whether the earlier
turns were there.
"""

from __future__ import annotations

from typing import Any

from tokentide.graph import START, MessagesState, StateGraph
from tokentide.messages import AIMessage
from tokentide.models import FakeChatModel


async def reply(state: MessagesState) -> dict[str, Any]:
    heard = [m.text for m in state["messages"] if m.type == "human"]
    text = f"turn {len(heard)}: heard " + " | ".join(heard)
    model = FakeChatModel([text])
    streamed = await model.ainvoke(state["messages"])
    return {"messages": [AIMessage(streamed.text, id=streamed.id)]}


chat = StateGraph(MessagesState).add_node("reply", reply).add_edge(START, "reply").compile()
