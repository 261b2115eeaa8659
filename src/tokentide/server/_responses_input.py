"""Validation of ``POST /v1/responses`` bodies: ``input`` (a string or a list of items),
``instructions``, tools and sampling options, into a `ResponsesRequest`.

Input items understood: messages (``{"role": "user"|"system"|"developer"|"assistant",
"content": str | [{"type": "input_text"|"output_text", "text": ...}]}``, ``"type": "message"``
optional), ``function_call`` items (the model's earlier tool calls) and
``function_call_output`` items (their results); ``reasoning`` items are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokentide.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)

from ._asgi import HTTPError
from ._openai_api import typed_field

__all__ = ["ResponsesRequest", "input_messages", "parse_responses_request"]

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})


@dataclass(slots=True)
class ResponsesRequest:
    """A validated Responses API request; ``messages`` excludes ``instructions`` and the
    stored conversation of ``previous_response_id`` (the handler prepends them)."""

    model: str
    messages: list[BaseMessage]
    instructions: str | None
    stream: bool
    store: bool
    background: bool
    previous_response_id: str | None
    options: dict[str, Any]
    tools: dict[str, Any] | None
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the response repeats


def bad_request(message: str, param: str | None = None) -> HTTPError:
    return HTTPError(400, message, param=param)


def parse_responses_request(body: Any) -> ResponsesRequest:
    """Validate a decoded JSON body; `HTTPError` 400 says which field is wrong and why."""
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required and must be a non-empty string", "model")
    raw = body.get("input")
    if raw is None:
        raise bad_request("'input' is required: a string or an array of input items", "input")
    messages = input_messages(raw)
    instructions = typed_field(body, "instructions", (str,), "a string")
    stream = bool(typed_field(body, "stream", (bool,), "a boolean"))
    store = typed_field(body, "store", (bool,), "a boolean")
    background = bool(typed_field(body, "background", (bool,), "a boolean"))
    if background and store is False:
        raise bad_request(
            "background responses need 'store': true (they are kept to be read later)"
        )
    previous = typed_field(body, "previous_response_id", (str,), "a string")
    options: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        value = typed_field(body, name, (int, float), "a number")
        if value is not None:
            options[name] = float(value)
    limit = typed_field(body, "max_output_tokens", (int,), "an integer")
    if limit is not None:
        if limit < 1:
            raise bad_request(
                f"'max_output_tokens' must be at least 1, got {limit}", "max_output_tokens"
            )
        options["max_tokens"] = limit
    tools, echo = _tools(body)
    echo.update(
        {
            "instructions": instructions,
            "max_output_tokens": limit,
            "temperature": options.get("temperature"),
            "top_p": options.get("top_p"),
            "previous_response_id": previous,
            "metadata": typed_field(body, "metadata", (dict,), "an object") or {},
            "background": background,
            "store": store is not False,
            "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        }
    )
    return ResponsesRequest(
        model,
        messages,
        instructions,
        stream,
        store is not False,
        background,
        previous,
        options,
        tools,
        echo,
    )


def _tools(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    tools = typed_field(body, "tools", (list,), "an array") or []
    choice = typed_field(body, "tool_choice", (str, dict), "a string or an object")
    chat_tools: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
            raise bad_request(
                f"'tools[{i}]': only function tools are supported, got {kind!r}", "tools"
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise bad_request(f"'tools[{i}].name' must be a non-empty string", "tools")
        function = {"name": tool["name"], "parameters": tool.get("parameters") or {}}
        if tool.get("description"):
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        chat_tools.append({"type": "function", "function": function})
    chat_choice: Any = choice
    if isinstance(choice, dict):
        if choice.get("type") != "function" or not isinstance(choice.get("name"), str):
            raise bad_request("'tool_choice' object must be {'type': 'function', 'name': ...}")
        chat_choice = {"type": "function", "function": {"name": choice["name"]}}
    echo = {"tools": tools, "tool_choice": choice if choice is not None else "auto"}
    if not chat_tools:
        return None, echo
    return {"tools": chat_tools, "tool_choice": chat_choice}, echo


def input_messages(raw: Any) -> list[BaseMessage]:
    """``input`` (a string or a list of items) as messages; 400 names the bad item."""
    if isinstance(raw, str):
        return [HumanMessage(raw)]
    if not isinstance(raw, list):
        raise bad_request(
            f"'input' must be a string or an array, got {type(raw).__name__}", "input"
        )
    out: list[BaseMessage] = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"'{where}' must be an object, got {type(item).__name__}", "input")
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            out.append(_message(item, where))
        elif kind == "function_call":
            _function_call(out, item, where)
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise bad_request(f"'{where}.call_id' must be a string", "input")
            output = item.get("output")
            text = output if isinstance(output, str) else _text(output, where)
            out.append(ToolMessage(text, tool_call_id=call_id))
        elif kind == "reasoning":
            continue
        else:
            raise bad_request(f"'{where}': input items of type {kind!r} are not supported", "input")
    if not out:
        raise bad_request("'input' holds no message", "input")
    return out


def _message(item: Mapping[str, Any], where: str) -> BaseMessage:
    role = item.get("role")
    text = _text(item.get("content"), where)
    if role == "user":
        return HumanMessage(text)
    if role in ("system", "developer"):
        return SystemMessage(text)
    if role == "assistant":
        return AIMessage(text)
    raise bad_request(
        f"'{where}.role' must be 'user', 'system', 'developer' or 'assistant', got {role!r}",
        "input",
    )


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"'{where}.content' must be a string or an array of parts", "input")
    parts: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _TEXT_PARTS or not isinstance(part.get("text"), str):
            raise bad_request(
                f"'{where}.content[{j}]': only text parts are supported, got {kind!r}", "input"
            )
        parts.append(part["text"])
    return "".join(parts)


def _function_call(out: list[BaseMessage], item: Mapping[str, Any], where: str) -> None:
    name, call_id = item.get("name"), item.get("call_id")
    if not isinstance(name, str) or not isinstance(call_id, str):
        raise bad_request(f"'{where}' needs string 'name' and 'call_id'", "input")
    try:
        args = json.loads(item.get("arguments") or "{}")
    except ValueError:
        raise bad_request(f"'{where}.arguments' is not valid JSON", "input") from None
    call: ToolCall = {"name": name, "args": args, "id": call_id, "type": "tool_call"}
    last = out[-1] if out else None
    if isinstance(last, AIMessage) and not isinstance(last, ToolMessage):
        last.tool_calls = [*last.tool_calls, call]  # consecutive calls: one assistant turn
    else:
        out.append(AIMessage("", tool_calls=[call]))
