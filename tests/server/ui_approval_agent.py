"""An agent that asks before sending e-mail (``HumanInTheLoopMiddleware``), for the AI SDK
tool-approval tests: served with ``--graph mailer=ui_approval_agent:mailer``.

Its scripted model first looks up the weather (runs without asking) and sends two e-mails
(each needs approval), then answers ``DONE``.
"""

from __future__ import annotations

from tokentide.agents import create_agent
from tokentide.agents.middleware import HumanInTheLoopMiddleware
from tokentide.checkpoint import InMemorySaver
from tokentide.messages import AIMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.tools import tool

DONE = "Both e-mails are handled."
SENT: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"Sunny in {city}."


@tool
def send_email(to: str, body: str) -> str:
    """Send an e-mail."""
    SENT.append(to)
    return f"Sent to {to}."


_CALLS = AIMessage(
    "I will check the weather and write.",
    tool_calls=[
        tool_call(name="get_weather", args={"city": "Paris"}, id="call_weather"),
        tool_call(name="send_email", args={"to": "alice", "body": "Sunny!"}, id="call_alice"),
        tool_call(name="send_email", args={"to": "bob", "body": "Sunny!"}, id="call_bob"),
    ],
)

mailer = create_agent(
    FakeChatModel([_CALLS, DONE], delay=0.01),
    [get_weather, send_email],
    middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
    checkpointer=InMemorySaver(),
)
