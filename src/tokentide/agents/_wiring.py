"""How ``create_agent`` puts a ``HumanInTheLoopMiddleware`` into its graph.

As LangChain v1: a node ``"HumanInTheLoopMiddleware.after_model"`` follows the model and
interrupts before flagged calls; the agent routes from it as it would from the model; the
tools node runs a reviewer's edited call in place of the model's, and says so in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from typing_extensions import NotRequired

from tokentide.graph import Command, CompiledStateGraph, StateGraph
from tokentide.messages import ToolCall, ToolMessage
from tokentide.prebuilt import ToolNode
from tokentide.prebuilt._tool_node import current_graph_state
from tokentide.runtime import RunnableConfig

from .middleware import HumanInTheLoopMiddleware
from .middleware._human_in_the_loop import EDITED_TOOL_CALLS_KEY
from .middleware._types import Action

__all__ = ["Node", "ReviewedAgent", "hitl_state", "wire_hitl", "wrap_tools"]


class Node:
    """A graph node given as its sync and async functions."""

    def __init__(self, func: Callable[..., Any], afunc: Callable[..., Any]) -> None:
        self.func = func
        self.afunc = afunc

    def graph_node_functions(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        return self.func, self.afunc


class ReviewedAgent(CompiledStateGraph):
    """An agent graph with a review node: as LangChain's, ``invoke`` leaves the reviewer's
    edits (a private key of the state) out of the state it returns; streams keep them."""

    @classmethod
    def adopt(cls, graph: CompiledStateGraph) -> CompiledStateGraph:
        graph.__class__ = cls
        return graph

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        result = super().invoke(input, config, **kwargs)
        if isinstance(result, dict):
            result.pop(EDITED_TOOL_CALLS_KEY, None)
        return result

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        result = await super().ainvoke(input, config, **kwargs)
        if isinstance(result, dict):
            result.pop(EDITED_TOOL_CALLS_KEY, None)
        return result


def hitl_state(base: type) -> type:
    """``base`` with the reviewer's edits (``hitl_edited_tool_calls``) as one more key."""
    annotations = {EDITED_TOOL_CALLS_KEY: NotRequired[dict[str, Any]]}
    return type(base.__name__, (base,), {"__annotations__": annotations})


def wire_hitl(graph: StateGraph, hitl: HumanInTheLoopMiddleware, after: str) -> str:
    """Add the review node after ``after``; returns its name."""

    def review(state: dict[str, Any]) -> dict[str, Any] | None:
        return hitl.after_model(state)

    async def areview(state: dict[str, Any]) -> dict[str, Any] | None:
        return hitl.after_model(state)

    name = f"{hitl.name}.after_model"
    graph.add_node(name, Node(review, areview))
    graph.add_edge(after, name)
    return name


def wrap_tools(tool_node: ToolNode, hitl: HumanInTheLoopMiddleware) -> Node:
    """The tools node, running each call as the reviewer left it."""

    def prepare(input: Any) -> tuple[Any, dict[str, Action]]:
        if not (isinstance(input, list) and input and input[-1].get("type") == "tool_call"):
            return input, {}
        state = current_graph_state()
        calls: list[ToolCall] = []
        edits: dict[str, Action] = {}
        for call in input:
            ran, executed = hitl.edited_call(call, state)
            if executed is not None:
                _check_tool(tool_node, call, executed)
                edits[call["id"] or ""] = executed
            calls.append(ran)
        return calls, edits

    def func(input: Any, config: RunnableConfig) -> Any:
        calls, edits = prepare(input)
        return _annotate(hitl, tool_node._func(calls, config), edits)

    async def afunc(input: Any, config: RunnableConfig) -> Any:
        calls, edits = prepare(input)
        return _annotate(hitl, await tool_node._afunc(calls, config), edits)

    return Node(func, afunc)


def _check_tool(tool_node: ToolNode, call: ToolCall, executed: Action) -> None:
    if executed["name"] not in tool_node.tools_by_name:
        names = ", ".join(sorted(tool_node.tools_by_name))
        raise ValueError(
            f"Reviewer edited tool call {call['id']!r} to {executed['name']!r}, which is not "
            f"an available tool. Available tools: {names}."
        )


def _annotate(hitl: HumanInTheLoopMiddleware, output: Any, edits: Mapping[str, Action]) -> Any:
    if not edits:
        return output

    def one(message: Any) -> Any:
        if isinstance(message, ToolMessage) and message.tool_call_id in edits:
            return hitl.annotate(message, edits[message.tool_call_id])
        return message

    if isinstance(output, dict):
        return {**output, "messages": [one(m) for m in output["messages"]]}
    out = []
    for item in output:
        if isinstance(item, Command) and isinstance(item.update, dict):
            messages = item.update.get("messages")
            if isinstance(messages, list):
                item.update["messages"] = [one(m) for m in messages]
        out.append(one(item))
    return out
