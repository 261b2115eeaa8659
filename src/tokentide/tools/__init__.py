"""Tools: functions a model can call, as runnables that stream (LangChain's tool API).

Example::

    from tokentide.tools import tool

    @tool
    def get_weather(city: str) -> str:
        \"\"\"Get the weather for a city.\"\"\"
        return f"It's always sunny in {city}!"

    get_weather.invoke({"city": "Paris"})          # "It's always sunny in Paris!"
    get_weather.invoke({"name": "get_weather", "args": {"city": "Paris"},
                        "id": "call_1", "type": "tool_call"})   # ToolMessage(...)
    model.bind_tools([get_weather])                # any tokentide chat model
"""

from tokentide.models._tools import convert_to_openai_tool

from ._base import BaseTool, ToolException, ToolInputError, is_tool_call
from ._runtime import ToolRuntime, emit_tool_output
from ._schema import InjectedToolArg, InjectedToolCallId
from ._structured import StructuredTool, tool

__all__ = [
    "BaseTool",
    "InjectedToolArg",
    "InjectedToolCallId",
    "StructuredTool",
    "ToolException",
    "ToolInputError",
    "ToolRuntime",
    "convert_to_openai_tool",
    "emit_tool_output",
    "is_tool_call",
    "tool",
]
