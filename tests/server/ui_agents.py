"""Scripted models and agents that the AI SDK tests serve with ``tokentide serve --graph
NAME=ui_agents:ATTR`` (this directory on ``PYTHONPATH``).

- ``agent``: an agent (``create_react_agent`` on `FakeChatModel`) that says a few words,
  calls ``get_weather`` (which sends a custom ``data-weather`` write while it works) and
  ``get_time`` (which fails), then answers; slow enough to stop and to reload mid-answer.
- ``story``: a model telling a long story, one word every ``STORY_DELAY`` seconds.
- ``hello``: a model answering one short sentence at once.
- ``broken``: a model that fails after three words.
"""

from __future__ import annotations

import os

from tokentide.graph import get_stream_writer
from tokentide.messages import AIMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.prebuilt import create_react_agent
from tokentide.tools import ToolException, tool

STORY = " ".join(f"word{i:03d}" for i in range(100)) + " The end."
STORY_DELAY = float(os.environ.get("UI_STORY_DELAY", "0.05"))
HELLO = "Hello from tokentide over the UI message stream."
ANSWER = "It is sunny in Paris, and " + " ".join(f"more{i:02d}" for i in range(60)) + " done."


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    write = get_stream_writer()
    write({"type": "data-weather", "id": "weather-1", "data": {"city": city, "status": "done"}})
    return f"It's always sunny in {city}!"


@tool
def get_time(city: str) -> str:
    """Get the local time in a city."""
    raise ToolException(f"no clock in {city}")


get_time.handle_tool_error = True  # the error becomes a ToolMessage with status="error"


def _agent() -> object:
    calls = AIMessage(
        "Let me check.",
        tool_calls=[
            tool_call(name="get_weather", args={"city": "Paris"}, id="call_weather"),
            tool_call(name="get_time", args={"city": "Paris"}, id="call_time"),
        ],
    )
    model = FakeChatModel([calls, ANSWER], delay=float(os.environ.get("UI_AGENT_DELAY", "0.03")))
    return create_react_agent(model, [get_weather, get_time])


agent = _agent()
story = FakeChatModel([STORY], delay=STORY_DELAY)
hello = FakeChatModel([HELLO])
broken = FakeChatModel(["Partial answer then boom"], error_after=3)
