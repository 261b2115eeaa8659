"""`create_agent`: LangChain v1's agent (nodes ``"model"`` and ``"tools"``), as a plain graph.

The model node calls the model with the tools bound; each pending tool call is one ``Send``
task of the ``ToolNode``; after the tools the agent returns to the model, unless every tool
that ran has ``return_direct``. With ``response_format`` the schema is offered as one more
tool and the agent ends once the model calls it (LangChain's tool strategy).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from typing_extensions import NotRequired, TypedDict

from tokentide.graph import END, START, CompiledStateGraph, Send, StateGraph
from tokentide.graph._node import untraced
from tokentide.graph.message import add_messages
from tokentide.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from tokentide.models._tools import convert_to_openai_tool, schema_kind
from tokentide.prebuilt import ToolNode
from tokentide.runtime import RunnableConfig

from ._wiring import Node as _Node
from ._wiring import ReviewedAgent, hitl_state, wire_hitl, wrap_tools
from .middleware import HumanInTheLoopMiddleware

__all__ = ["AgentState", "create_agent"]


class AgentState(TypedDict):
    """The state of an agent made by :func:`create_agent`."""

    messages: Annotated[list[BaseMessage], add_messages]
    structured_response: NotRequired[Any]


class _Structured:
    """The response schema offered as a tool, and how to read the model's answer in it."""

    def __init__(self, schema: Any) -> None:
        schema_kind(schema)  # a clear TypeError for anything that is not a schema
        self.schema = schema
        self.tool = convert_to_openai_tool(schema)
        self.name: str = self.tool["function"]["name"]

    def parse(self, args: dict[str, Any]) -> Any:
        if isinstance(self.schema, type) and hasattr(self.schema, "model_validate"):
            return self.schema.model_validate(args)
        return args


def _check_middleware(middleware: Sequence[Any]) -> HumanInTheLoopMiddleware | None:
    """The one supported middleware (``HumanInTheLoopMiddleware``), if given."""
    found: HumanInTheLoopMiddleware | None = None
    for item in middleware:
        if not isinstance(item, HumanInTheLoopMiddleware):
            raise TypeError(
                f"create_agent(middleware=[...]): {type(item).__name__} is not supported; the "
                "middleware available in tokentide is "
                "tokentide.agents.middleware.HumanInTheLoopMiddleware"
            )
        if found is not None:
            raise ValueError("create_agent(middleware=[...]): give one HumanInTheLoopMiddleware")
        found = item
    return found


def _system(system_prompt: str | SystemMessage | None) -> list[BaseMessage]:
    if system_prompt is None:
        return []
    if isinstance(system_prompt, SystemMessage):
        return [system_prompt]
    if isinstance(system_prompt, str):
        return [SystemMessage(system_prompt)]
    raise TypeError(f"system_prompt must be a string or a SystemMessage, got {system_prompt!r:.80}")


def _last_ai(messages: list[BaseMessage]) -> tuple[AIMessage | None, list[ToolMessage]]:
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, AIMessage):
            return message, [m for m in messages[i + 1 :] if isinstance(m, ToolMessage)]
    return None, []


def create_agent(
    model: Any,
    tools: Sequence[Any] | None = None,
    *,
    system_prompt: str | SystemMessage | None = None,
    middleware: Sequence[Any] = (),
    response_format: Any = None,
    checkpointer: Any = None,
    name: str | None = None,
) -> CompiledStateGraph:
    """An agent graph (LangChain v1's ``create_agent``): ``"model"`` calls the model with
    ``tools`` bound, ``"tools"`` runs its tool calls, until the model answers without calls.

    ``response_format``: a pydantic model, TypedDict or JSON schema; the agent ends with
    ``state["structured_response"]`` once the model calls the schema's tool. ``middleware``:
    a :class:`~tokentide.agents.middleware.HumanInTheLoopMiddleware` pauses the agent before
    the tool calls it flags (node ``"HumanInTheLoopMiddleware.after_model"``; needs a
    ``checkpointer``).

    Example::

        agent = create_agent(model, [get_weather], system_prompt="You are helpful.")
        for mode, chunk in agent.stream({"messages": [("user", "weather in sf?")]},
                                        stream_mode=["updates", "messages", "tools"]):
            print(mode, chunk)
    """
    hitl = _check_middleware(middleware)
    tool_node = ToolNode(list(tools or ())) if tools else None
    structured = _Structured(response_format) if response_format is not None else None
    offered: list[Any] = list(tool_node.tools_by_name.values()) if tool_node else []
    if structured is not None:
        offered.append(structured.tool)
    if offered:
        bound = model.bind_tools(offered, tool_choice="any" if structured else None)
    else:
        bound = model
    system = _system(system_prompt)

    def output(response: Any) -> dict[str, Any]:
        return _model_output(response, name, structured)

    def model_node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return output(bound.invoke([*system, *state["messages"]], config))

    async def amodel_node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return output(await bound.ainvoke([*system, *state["messages"]], config))

    graph = StateGraph(hitl_state(AgentState) if hitl else AgentState)
    graph.add_node("model", _Node(model_node, amodel_node))
    graph.add_edge(START, "model")
    # The node after which the agent decides where to go: the model, or the review node.
    decide = wire_hitl(graph, hitl, "model") if hitl else "model"
    if tool_node is None:
        graph.add_edge(decide, END)
        return _compile(graph, checkpointer, name, hitl)
    graph.add_node("tools", wrap_tools(tool_node, hitl) if hitl else tool_node)
    skip = {structured.name} if structured else set()
    # As LangChain's create_agent: its edges report no runs of their own.
    model_to_tools = untraced(_make_model_to_tools(skip))
    tools_to_model = untraced(_make_tools_to_model(tool_node))
    graph.add_conditional_edges(decide, model_to_tools, ["tools", END, "model"])
    graph.add_conditional_edges("tools", tools_to_model, ["model", END])
    return _compile(graph, checkpointer, name, hitl)


def _compile(
    graph: StateGraph, checkpointer: Any, name: str | None, hitl: HumanInTheLoopMiddleware | None
) -> CompiledStateGraph:
    compiled = graph.compile(checkpointer=checkpointer, name=name or "LangGraph")
    return ReviewedAgent.adopt(compiled) if hitl else compiled


def _model_output(
    response: Any, name: str | None, structured: _Structured | None
) -> dict[str, Any]:
    """The model node's update: the reply (named after the agent), and with a response
    format the structured response (``None`` until the model calls the schema's tool)."""
    if name:
        response.name = name
    update: dict[str, Any] = {"messages": [response]}
    if structured is None:
        return update
    update["structured_response"] = None
    calls = [c for c in response.tool_calls if c["name"] == structured.name]
    if calls:
        value = structured.parse(calls[0]["args"])
        shown = value.model_dump() if hasattr(value, "model_dump") else value
        update["messages"].append(
            ToolMessage(
                f"Returning structured response: {json.dumps(shown, default=str)}",
                tool_call_id=calls[0]["id"] or "",
                name=structured.name,
            )
        )
        update["structured_response"] = value
    return update


def _make_model_to_tools(skip: set[str]) -> Callable[[dict[str, Any]], Any]:
    """After the model: one ``Send`` per pending tool call, else the end (or the model again
    when only synthetic tool results are missing)."""

    def model_to_tools(state: dict[str, Any]) -> Any:
        last, tool_messages = _last_ai(state["messages"])
        if last is None or not last.tool_calls:
            return END
        done = {m.tool_call_id for m in tool_messages}
        pending = [c for c in last.tool_calls if c["id"] not in done and c["name"] not in skip]
        if pending:
            return [Send("tools", [call]) for call in pending]
        if state.get("structured_response") is not None:
            return END
        return "model"

    return model_to_tools


def _make_tools_to_model(tool_node: ToolNode) -> Callable[[dict[str, Any]], str]:
    """After the tools: the end if every tool that ran has ``return_direct``, else the model."""
    tools = tool_node.tools_by_name

    def tools_to_model(state: dict[str, Any]) -> str:
        last, tool_messages = _last_ai(state["messages"])
        if last is None:
            return "model"
        by_id = {m.tool_call_id: m.name for m in tool_messages if m.name in tools}
        names = [n for c in last.tool_calls if (n := by_id.get(c["id"] or "", c["name"])) in tools]
        if names and all(tools[n].return_direct for n in names):
            return END
        return "model"

    return tools_to_model
