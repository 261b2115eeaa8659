"""Graphs that the ``tokentide serve`` thread tests serve (``--graph checkpoint.served.thread_graphs:chat``,
with ``tests`` on the import path).

``chat`` streams its reply word by word and says which turn of the thread this is and every
user message it has seen: a reply on a thread continued elsewhere shows whether the earlier
turns were there. ``approve`` pauses (``interrupt()``) with the user messages it has seen and
answers with the value it was resumed with. ``mailer`` is an agent whose ``send_email`` tool
needs a person's approval (``HumanInTheLoopMiddleware``); its model answers from the thread's
messages (a tool call, then a reply quoting the tool's result), so a replica that did not
start the thread answers the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokentide.agents import create_agent
from tokentide.agents.middleware import HumanInTheLoopMiddleware
from tokentide.graph import START, MessagesState, StateGraph, interrupt
from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall, ToolMessage
from tokentide.models import FakeChatModel


async def reply(state: MessagesState) -> dict[str, Any]:
    heard = [m.text for m in state["messages"] if m.type == "human"]
    text = f"turn {len(heard)}: heard " + " | ".join(heard)
    model = FakeChatModel([text])
    streamed = await model.ainvoke(state["messages"])
    return {"messages": [AIMessage(streamed.text, id=streamed.id)]}


chat = StateGraph(MessagesState).add_node("reply", reply).add_edge(START, "reply").compile()


async def ask(state: MessagesState) -> dict[str, Any]:
    heard = [m.text for m in state["messages"] if m.type == "human"]
    answer = interrupt({"question": "send it?", "heard": heard})
    return {"messages": [AIMessage(f"resumed with {answer!r} after " + " | ".join(heard))]}


approve = StateGraph(MessagesState).add_node("ask", ask).add_edge(START, "ask").compile()


CALL: ToolCall = {"name": "send_email", "args": {"to": "bob", "body": "hi"}, "id": "call-1"}


class ThreadModel(FakeChatModel):
    """Calls ``send_email`` until the thread holds its result, then quotes the result."""

    def _plan(
        self, messages: list[BaseMessage]
    ) -> tuple[Sequence[str | AIMessageChunk], AIMessage | None, int]:
        results = [m.text for m in messages if isinstance(m, ToolMessage)]
        self.responses = [f"Done: {results[-1]}"] if results else [AIMessage("", tool_calls=[CALL])]
        self._next = 0
        return super()._plan(messages)


def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


gate = HumanInTheLoopMiddleware(interrupt_on={"send_email": True})
mailer = create_agent(ThreadModel(), [send_email], middleware=[gate])
