"""Prebuilt agents and nodes (LangGraph's ``langgraph.prebuilt``): ``ToolNode``,
``tools_condition``, ``create_react_agent``.

Example::

    from tokentide.prebuilt import create_react_agent
    from tokentide.tools import tool

    @tool
    def get_weather(city: str) -> str:
        \"\"\"Get the weather for a city.\"\"\"
        return f"It's always sunny in {city}!"

    agent = create_react_agent(model, [get_weather], prompt="You are a helpful assistant")
    agent.invoke({"messages": [("user", "what is the weather in sf")]})
"""

from tokentide.tools import InjectedToolArg, InjectedToolCallId, ToolRuntime

from ._react import AgentState, create_react_agent
from ._tool_node import InjectedState, ToolInvocationError, ToolNode, tools_condition

__all__ = [
    "AgentState",
    "InjectedState",
    "InjectedToolArg",
    "InjectedToolCallId",
    "ToolInvocationError",
    "ToolNode",
    "ToolRuntime",
    "create_react_agent",
    "tools_condition",
]
