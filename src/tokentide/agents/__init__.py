"""Agents (LangChain v1's ``langchain.agents``): ``create_agent``.

Example::

    from tokentide.agents import create_agent

    agent = create_agent(model, [get_weather], system_prompt="You are a helpful assistant")
    for chunk, metadata in agent.stream({"messages": [("user", "weather in sf?")]},
                                        stream_mode="messages"):
        print(chunk.content, end="")
"""

from ._factory import AgentState, create_agent

__all__ = ["AgentState", "create_agent"]
