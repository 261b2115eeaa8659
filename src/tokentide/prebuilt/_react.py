"""`create_react_agent`: LangGraph's prebuilt tool-calling agent (nodes ``"agent"``, ``"tools"``).

An ordinary compiled graph: the model node streams its tokens (``messages`` mode), each tool
call runs as one ``Send`` task of the ``ToolNode``, and every stream mode works on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, cast

from typing_extensions import NotRequired, TypedDict

from tokentide.graph import END, START, CompiledStateGraph, Send, StateGraph
from tokentide.graph.message import add_messages
from tokentide.messages import AIMessage, BaseMessage, SystemMessage
from tokentide.runtime import (
    LOCAL_TAGS_KEY,
    RunContext,
    Runnable,
    RunnableBinding,
    RunnableConfig,
    RunnableLambda,
    current_run,
    new_run,
)

from ._tool_node import ToolNode

__all__ = ["AgentState", "create_react_agent"]

Prompt = str | SystemMessage | Callable[[Any], Any] | Runnable[Any, Any]


class AgentState(TypedDict):
    """The state of a prebuilt agent: the conversation (and, with ``response_format``, the
    structured response)."""

    messages: Annotated[list[BaseMessage], add_messages]
    structured_response: NotRequired[Any]


def _prompt_runnable(prompt: Prompt | None) -> Runnable[Any, Any]:
    """The step that turns the state into the model's input (LangGraph's "Prompt")."""
    if prompt is None:
        return RunnableLambda(lambda state: state["messages"], name="Prompt")
    if isinstance(prompt, str):
        system = SystemMessage(prompt)
        return RunnableLambda(lambda state: [system, *state["messages"]], name="Prompt")
    if isinstance(prompt, SystemMessage):
        message = prompt
        return RunnableLambda(lambda state: [message, *state["messages"]], name="Prompt")
    if isinstance(prompt, Runnable):
        return prompt
    if callable(prompt):
        return RunnableLambda(prompt, name="Prompt")
    raise TypeError(
        "prompt must be a string, a SystemMessage, a function of the state or a runnable, "
        f"got {prompt!r:.80}"
    )


def _remaining_steps() -> int | None:
    """Steps left before the recursion limit (LangGraph's ``remaining_steps``)."""
    run = current_run()
    step = run.metadata.get("langgraph_step") if run is not None else None
    if run is None or not isinstance(step, int):
        return None
    return run.recursion_limit - step


def _bind(model: Any, tools: list[Any]) -> Any:
    if not tools:
        return model
    if isinstance(model, RunnableBinding) and "tools" in model.kwargs:
        _check_bound(model.kwargs["tools"], tools)  # bound by the caller (e.g. a tool_choice)
        return model
    bind_tools = getattr(model, "bind_tools", None)
    if bind_tools is None:
        raise TypeError(
            f"{type(model).__name__} has no bind_tools(): use a chat model that can call tools"
        )
    return bind_tools(tools)


def _check_bound(bound: Sequence[Any], tools: list[Any]) -> None:
    """As LangGraph: a model bound with tools beforehand must be bound with these tools."""
    names = set()
    for item in bound:
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else getattr(item, "name", None)
        if isinstance(name, str):
            names.add(name)
    missing = {t.name for t in tools} - names
    if len(bound) != len(tools) or missing:
        raise ValueError(
            f"the model was bound to other tools than the agent's: bind_tools() got "
            f"{sorted(names)}, the agent has {sorted(t.name for t in tools)}"
        )


def create_react_agent(
    model: Any,
    tools: Sequence[Any] | ToolNode,
    *,
    prompt: Prompt | None = None,
    response_format: Any = None,
    checkpointer: Any = None,
    interrupt_before: Sequence[str] | None = None,
    interrupt_after: Sequence[str] | None = None,
    name: str | None = None,
) -> CompiledStateGraph:
    """A graph that calls ``model`` with ``tools`` until it answers without tool calls.

    ``interrupt_before`` / ``interrupt_after`` (``["agent"]``, ``["tools"]``) pause the agent
    there (a ``checkpointer`` is needed); continue with ``agent.invoke(None, config)``.

    ``prompt``: a system prompt string or `SystemMessage`, a function of the state returning
    the model's input, or a runnable. ``response_format``: a schema (or ``(system prompt,
    schema)``) for a final structured answer (``state["structured_response"]``), made by
    ``model.with_structured_output``. ``name`` names the graph and the agent's messages.

    Example::

        agent = create_react_agent(model, [get_weather], prompt="You are helpful.")
        for chunk, meta in agent.stream({"messages": [("user", "weather in sf?")]},
                                        stream_mode="messages"):
            print(chunk.content, end="")
    """
    tool_node = tools if isinstance(tools, ToolNode) else ToolNode(list(tools))
    tool_list = list(tool_node.tools_by_name.values())
    bound = _prompt_runnable(prompt) | _bind(model, tool_list)
    return_direct = {t.name for t in tool_list if t.return_direct}

    def finish(state: dict[str, Any], response: Any) -> dict[str, Any]:
        response.name = name
        remaining = _remaining_steps()
        if isinstance(response, AIMessage) and remaining is not None:
            calls = response.tool_calls
            all_direct = bool(calls) and all(c["name"] in return_direct for c in calls)
            if (remaining < 1 and all_direct) or (remaining < 2 and calls):
                text = "Sorry, need more steps to process this request."
                return {"messages": [AIMessage(text, id=response.id)]}
        return {"messages": [response]}

    def call_model(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        run = _inner_run("call_model", state)
        try:
            update = finish(state, bound.invoke(state, _first_step(config)))
        except BaseException as exc:
            _inner_failed(run, exc)
            raise
        _inner_ended(run, update, state)
        return update

    async def acall_model(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        run = _inner_run("call_model", state)
        try:
            update = finish(state, await bound.ainvoke(state, _first_step(config)))
        except BaseException as exc:
            _inner_failed(run, exc)
            raise
        _inner_ended(run, update, state)
        return update

    should_continue = _make_should_continue(response_format is not None)
    route_tool_responses = _make_route_tool_responses(return_direct)

    graph = StateGraph(AgentState)
    graph.add_node("agent", _Node(call_model, acall_model))
    graph.add_node("tools", tool_node)
    graph.add_edge(START, "agent")
    paths = ["tools"]
    if response_format is not None:
        graph.add_node("generate_structured_response", _structured_node(model, response_format))
        graph.add_edge("generate_structured_response", END)
        paths.append("generate_structured_response")
    else:
        paths.append(END)
    graph.add_conditional_edges("agent", should_continue, paths)
    if return_direct:
        graph.add_conditional_edges("tools", route_tool_responses, ["agent", END])
    else:
        graph.add_edge("tools", "agent")
    return graph.compile(
        checkpointer=checkpointer,
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        name=name or "LangGraph",
    )


def _make_should_continue(structured: bool) -> Callable[[dict[str, Any]], Any]:
    """After the agent: one ``Send`` (call and state) per tool call, else the end."""

    def should_continue(state: dict[str, Any]) -> Any:
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return "generate_structured_response" if structured else END
        return [
            Send("tools", {"__type": "tool_call_with_context", "tool_call": call, "state": state})
            for call in last.tool_calls
        ]

    return should_continue


def _make_route_tool_responses(return_direct: set[str]) -> Callable[[dict[str, Any]], str]:
    """After the tools: the end if a ``return_direct`` tool ran, else the agent."""

    def route_tool_responses(state: dict[str, Any]) -> str:
        message: Any = None
        for message in reversed(state["messages"]):
            if message.type != "tool":
                break
            if message.name in return_direct:
                return END
        if isinstance(message, AIMessage) and any(
            c["name"] in return_direct for c in message.tool_calls
        ):
            return END
        return "agent"

    return route_tool_responses


def _inner_run(name: str, state: Any) -> RunContext | None:
    """The run LangGraph reports for a node's own function (``call_model``), when someone
    listens to the node's run. As in LangGraph, it is not the parent of the model call: the
    function is handed the node's config, so the model's runs nest in the node's run."""
    node = current_run()
    if node is None or node.sink is None or not node.sink.wants_chain_runs:
        return None
    run = new_run(name, "chain", node.child_config(local_tags=["seq:step:1"]))
    node.sink.on_start(run, state)
    return run


def _inner_ended(run: RunContext | None, output: Any, state: Any) -> None:
    if run is not None and run.sink is not None:
        run.sink.on_end(run, output, state)


def _inner_failed(run: RunContext | None, exc: BaseException) -> None:
    if run is not None and run.sink is not None:
        run.sink.on_error(run, exc)


def _first_step(config: RunnableConfig) -> RunnableConfig:
    """The node's config, tagging the model call as the node's first step (LangGraph's tag)."""
    tagged: dict[str, Any] = {**config, LOCAL_TAGS_KEY: ["seq:step:1"]}
    return cast("RunnableConfig", tagged)


class _Node:
    """A node with a sync and an async function (run directly by the graph)."""

    def __init__(self, func: Callable[..., Any], afunc: Callable[..., Any]) -> None:
        self.func = func
        self.afunc = afunc

    def graph_node_functions(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        return self.func, self.afunc


def _structured_node(model: Any, response_format: Any) -> _Node:
    schema = response_format
    system: list[SystemMessage] = []
    if isinstance(response_format, tuple):
        system = [SystemMessage(response_format[0])]
        schema = response_format[1]
    make = getattr(model, "with_structured_output", None)
    if make is None:
        raise TypeError(
            f"response_format needs a model with with_structured_output(); "
            f"{type(model).__name__} has none"
        )
    structured = make(schema)

    def generate(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return {"structured_response": structured.invoke([*system, *state["messages"]], config)}

    async def agenerate(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        value = await structured.ainvoke([*system, *state["messages"]], config)
        return {"structured_response": value}

    return _Node(generate, agenerate)
