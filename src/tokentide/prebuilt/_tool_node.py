"""`ToolNode`: run the tool calls of the last `AIMessage` in parallel, one `ToolMessage` each.

Same inputs, outputs and error wording as LangGraph's ``ToolNode``; a graph runs it directly as
a node (its sync and async functions), so each tool run is a child of the node's run.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import types
import typing
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Union, cast

from tokentide.errors import GraphBubbleUp
from tokentide.graph import END, Command, get_stream_writer
from tokentide.graph._stream import task_scope
from tokentide.messages import AIMessage, BaseMessage, ToolCall, ToolMessage
from tokentide.runtime import RunContext, Runnable, RunnableConfig, current_run
from tokentide.tools import BaseTool, InjectedToolArg, ToolInputError, ToolRuntime, tool

__all__ = [
    "INVALID_TOOL_NAME_ERROR_TEMPLATE",
    "TOOL_CALL_ERROR_TEMPLATE",
    "InjectedState",
    "ToolInvocationError",
    "ToolNode",
    "tools_condition",
]

INVALID_TOOL_NAME_ERROR_TEMPLATE = (
    "Error: {requested_tool} is not a valid tool, try one of [{available_tools}]."
)
TOOL_CALL_ERROR_TEMPLATE = "Error: {error}\n Please fix your mistakes."
TOOL_INVOCATION_ERROR_TEMPLATE = (
    "Error invoking tool '{tool_name}' with kwargs {tool_kwargs} with error:\n"
    " {error}\n"
    " Please fix the error and try again."
)

InputType = Literal["list", "dict", "tool_calls"]
ErrorHandling = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]


class InjectedState(InjectedToolArg):
    """Marks a tool parameter that receives the graph state (or one key of it) from
    ``ToolNode``; the model never sees it.

    Example::

        @tool
        def count_messages(state: Annotated[dict, InjectedState]) -> int:
            \"\"\"How long is this conversation?\"\"\"
            return len(state["messages"])

        @tool
        def last_words(messages: Annotated[list, InjectedState("messages")]) -> str:
            \"\"\"The last message.\"\"\"
            return messages[-1].content
    """

    def __init__(self, field: str | None = None) -> None:
        self.field = field


class ToolInvocationError(ValueError):
    """A tool was called with arguments that do not fit its schema (raised inside
    ``ToolNode``; the default error handling turns it into an error `ToolMessage`)."""

    def __init__(self, tool_name: str, source: ToolInputError, tool_kwargs: Any) -> None:
        self.tool_name = tool_name
        self.source = source
        self.tool_kwargs = tool_kwargs
        self.message = TOOL_INVOCATION_ERROR_TEMPLATE.format(
            tool_name=tool_name, tool_kwargs=tool_kwargs, error=source.details()
        )
        super().__init__(self.message)


def _default_handle_tool_errors(e: Exception) -> str:
    """LangGraph's default: bad arguments become a message for the model; other errors
    propagate."""
    if isinstance(e, ToolInvocationError):
        return e.message
    raise e


def _error_text(e: Exception, flag: ErrorHandling) -> str:
    if isinstance(flag, (bool, tuple)) or (isinstance(flag, type) and issubclass(flag, Exception)):
        return TOOL_CALL_ERROR_TEMPLATE.format(error=repr(e))
    if isinstance(flag, str):
        return flag
    if callable(flag):
        return str(cast(Callable[..., str], flag)(e))
    raise ValueError(
        "Got unexpected type of `handle_tool_error`. Expected bool, str or callable. "
        f"Received: {flag}"
    )


def _handled_types(flag: ErrorHandling) -> tuple[type[Exception], ...]:
    """Which exceptions ``handle_tool_errors`` catches (a handler's annotation may narrow it)."""
    if isinstance(flag, type) and issubclass(flag, Exception):
        return (flag,)
    if isinstance(flag, tuple):
        return flag
    if callable(flag) and not isinstance(flag, type):
        params = list(inspect.signature(flag).parameters.values())
        if params:
            try:
                hint = typing.get_type_hints(flag).get(params[0].name)
            except Exception:
                hint = None
            origin = typing.get_origin(hint)
            if origin is Union or origin is types.UnionType:
                return tuple(typing.get_args(hint))
            if isinstance(hint, type) and issubclass(hint, Exception):
                return (hint,)
    return (Exception,)


def _content(output: Any) -> str:
    if isinstance(output, str):
        return output
    try:
        return json.dumps(output, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(output)


class ToolNode(Runnable[Any, Any]):
    """A graph node that runs every tool call of the last `AIMessage` (in parallel: threads
    for ``invoke``, tasks for ``ainvoke``) and returns one `ToolMessage` per call, in call
    order.

    Input: a state dict with ``messages`` (returns ``{"messages": [...]}``), a list of
    messages (returns a list), or a list of tool calls / a ``Send`` payload.
    ``handle_tool_errors``: ``True`` (every error becomes
    ``"Error: {repr(e)}\\n Please fix your mistakes."``), a string, a function of the
    error, exception types, or ``False``; by default, as LangGraph, only bad arguments become
    messages and other errors propagate.

    Example::

        tool_node = ToolNode([get_weather], handle_tool_errors=True)
        graph.add_node("tools", tool_node)
        graph.add_conditional_edges("agent", tools_condition)
    """

    name = "tools"

    def __init__(
        self,
        tools: Sequence[BaseTool | Callable[..., Any]],
        *,
        name: str = "tools",
        tags: list[str] | None = None,
        handle_tool_errors: ErrorHandling = _default_handle_tool_errors,
        messages_key: str = "messages",
    ) -> None:
        self.name = name
        self.tags = list(tags) if tags else None
        self.handle_tool_errors = handle_tool_errors
        self.messages_key = messages_key
        self.tools_by_name: dict[str, BaseTool] = {}
        for item in tools:
            made = item if isinstance(item, BaseTool) else tool(item)
            self.tools_by_name[made.name] = made

    # ------------------------------------------------------------------ as a graph node

    def graph_node_functions(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """The sync and async functions a graph runs for this node."""
        return self._func, self._afunc

    def _func(self, input: Any, config: RunnableConfig) -> Any:
        calls, input_type, state = self._parse_input(input)
        if len(calls) <= 1:
            outputs = [self._run_one(c, state, config) for c in calls]
        else:
            with ThreadPoolExecutor(max_workers=min(32, len(calls))) as pool:
                futures = [
                    pool.submit(contextvars.copy_context().run, self._run_one, c, state, config)
                    for c in calls
                ]
                outputs = [f.result() for f in futures]
        return self._combine(outputs, input_type)

    async def _afunc(self, input: Any, config: RunnableConfig) -> Any:
        calls, input_type, state = self._parse_input(input)
        outputs = await asyncio.gather(*(self._arun_one(c, state, config) for c in calls))
        return self._combine(list(outputs), input_type)

    # ------------------------------------------------------------------ as a runnable

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return self._func(input, run.as_config())

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return await self._afunc(input, run.as_config())

    # ------------------------------------------------------------------ input and output

    def _parse_input(self, input: Any) -> tuple[list[ToolCall], InputType, Any]:
        """The tool calls to run, the input's shape, and the state tools may be given."""
        if isinstance(input, list):
            if input and isinstance(input[-1], dict) and input[-1].get("type") == "tool_call":
                return list(input), "tool_calls", _GRAPH_STATE
            messages: Any = input
            input_type: InputType = "list"
        elif isinstance(input, dict) and input.get("__type") == "tool_call_with_context":
            return [input["tool_call"]], "tool_calls", input.get("state")
        elif isinstance(input, dict) and input.get(self.messages_key):
            messages, input_type = input[self.messages_key], "dict"
        elif getattr(input, self.messages_key, None):
            messages, input_type = getattr(input, self.messages_key), "dict"
        else:
            raise ValueError("No message found in input")
        for message in reversed(messages):
            if isinstance(message, AIMessage):
                return list(message.tool_calls), input_type, input
        raise ValueError("No AIMessage found in input")

    def _combine(self, outputs: list[Any], input_type: InputType) -> Any:
        flat: list[Any] = []
        for output in outputs:
            flat.extend(output if isinstance(output, list) else [output])
        if not any(isinstance(o, Command) for o in flat):
            return flat if input_type == "list" else {self.messages_key: flat}
        return [
            o if isinstance(o, Command) else Command(update={self.messages_key: [o]}) for o in flat
        ]

    # ------------------------------------------------------------------ one call

    def _prepare(
        self, call: ToolCall, state: Any, config: RunnableConfig
    ) -> tuple[BaseTool | None, dict[str, Any] | ToolMessage]:
        found = self.tools_by_name.get(call["name"])
        if found is None:
            names = ", ".join(self.tools_by_name)
            content = INVALID_TOOL_NAME_ERROR_TEMPLATE.format(
                requested_tool=call["name"], available_tools=names
            )
            return None, ToolMessage(
                content, name=call["name"], tool_call_id=call["id"] or "", status="error"
            )
        args = self._inject(found, call, state, config)
        return found, {**call, "args": args, "type": "tool_call"}

    def _inject(
        self, found: BaseTool, call: ToolCall, state: Any, config: RunnableConfig
    ) -> dict[str, Any]:
        injected = found.schema.injected
        if not injected and type(call["args"]) is dict:
            return dict(call["args"])
        args = {k: v for k, v in call["args"].items() if k not in injected}
        if state is _GRAPH_STATE:
            state = current_graph_state()
        if isinstance(state, list):
            state = {self.messages_key: state}
        for spec in injected.values():
            marker = spec.marker
            if spec.injected == "runtime":
                args[spec.name] = ToolRuntime(
                    state=state,
                    tool_call_id=call["id"],
                    config=config,
                    stream_writer=get_stream_writer(),
                    tools=list(self.tools_by_name.values()),
                )
            elif isinstance(marker, InjectedState) or marker is InjectedState:
                field = marker.field if isinstance(marker, InjectedState) else None
                if field is None:
                    args[spec.name] = state
                elif isinstance(state, dict) and field in state:
                    args[spec.name] = state[field]
                elif hasattr(state, field):
                    args[spec.name] = getattr(state, field)
                elif spec.required:
                    raise KeyError(field)
        return args

    def _on_error(self, e: Exception, call: ToolCall) -> ToolMessage:
        flag = self.handle_tool_errors
        if isinstance(e, GraphBubbleUp):  # interrupt() in a tool pauses the graph
            raise e
        if not flag or not isinstance(e, _handled_types(flag)):
            raise e
        return ToolMessage(
            _error_text(e, flag), name=call["name"], tool_call_id=call["id"] or "", status="error"
        )

    def _run_one(self, call: ToolCall, state: Any, config: RunnableConfig) -> Any:
        found, prepared = self._prepare(call, state, config)
        if found is None:
            return prepared
        try:
            try:
                response = found.invoke(prepared, config)
            except ToolInputError as exc:
                raise ToolInvocationError(call["name"], exc, call["args"]) from exc
            return _normalize(response)
        except Exception as e:
            return self._on_error(e, call)

    async def _arun_one(self, call: ToolCall, state: Any, config: RunnableConfig) -> Any:
        found, prepared = self._prepare(call, state, config)
        if found is None:
            return prepared
        try:
            try:
                response = await found.ainvoke(prepared, config)
            except ToolInputError as exc:
                raise ToolInvocationError(call["name"], exc, call["args"]) from exc
            return _normalize(response)
        except Exception as e:
            return self._on_error(e, call)


#: Stands for the state of the graph step running the node (read only when a tool needs it).
_GRAPH_STATE: Any = object()


def _normalize(response: Any) -> Any:
    if isinstance(response, ToolMessage):
        if not isinstance(response.content, str):
            response.content = _content(response.content)
        return response
    return response


def current_graph_state() -> Any:
    """The state of the graph step running this node (for a ``Send`` of bare tool calls)."""
    scope = task_scope(current_run())
    if scope is None:
        return {}
    state = scope.task.state
    return dict(state) if state is not None else {}


def tools_condition(state: Any, messages_key: str = "messages") -> Literal["tools", "__end__"]:
    """Route to ``"tools"`` if the last message has tool calls, else to ``END``.

    Example::

        graph.add_conditional_edges("agent", tools_condition)
    """
    if isinstance(state, list):
        last: Any = state[-1]
    elif isinstance(state, dict) and state.get(messages_key):
        last = state[messages_key][-1]
    elif getattr(state, messages_key, None):
        last = getattr(state, messages_key)[-1]
    else:
        raise ValueError(f"No messages found in input state to tool_edge: {state}")
    if isinstance(last, BaseMessage) and getattr(last, "tool_calls", None):
        return "tools"
    return cast(Literal["__end__"], END)
