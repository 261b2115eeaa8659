"""Turning what users pass as "messages" into message objects, and messages into dicts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ._ai import AIMessage, AIMessageChunk
from ._base import (
    BaseMessage,
    ChatMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
)
from ._tools import InvalidToolCall, ToolCall, invalid_tool_call, tool_call

__all__ = [
    "MessageLikeRepresentation",
    "convert_to_messages",
    "message_from_dict",
    "message_to_openai_dict",
    "messages_to_dicts",
]

MessageLikeRepresentation = Union[
    BaseMessage, str, "tuple[str, Any]", "list[Any]", "dict[str, Any]"
]
"""One message as users write it: a message, a string, a ``(role, content)`` pair or a dict."""

_ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "developer": SystemMessage,
    "user": HumanMessage,
    "human": HumanMessage,
    "assistant": AIMessage,
    "ai": AIMessage,
    "tool": ToolMessage,
}
_EXPECTED_ROLES = "system, developer, user/human, assistant/ai, tool"
_TYPES: dict[str, type[BaseMessage]] = {
    **_ROLES,
    "chat": ChatMessage,
    "AIMessageChunk": AIMessageChunk,
    "HumanMessageChunk": HumanMessageChunk,
    "SystemMessageChunk": SystemMessageChunk,
}
_COMMON_KEYS = ("id", "name", "additional_kwargs", "response_metadata")
_EXTRA_KEYS: dict[type[BaseMessage], tuple[str, ...]] = {
    AIMessage: ("usage_metadata",),
    AIMessageChunk: ("usage_metadata", "tool_call_chunks", "chunk_position"),
    ToolMessage: ("tool_call_id", "status", "artifact"),
    ChatMessage: ("role",),
}


def convert_to_messages(messages: Any) -> list[BaseMessage]:
    """Coerce the usual ways of writing a conversation into a list of messages.

    Accepts a string (one human message), a message, a prompt value (anything with
    ``to_messages()``), a single message dict, or a sequence whose items are messages,
    strings, ``(role, content)`` pairs, OpenAI-style ``{"role": ..., "content": ...}`` dicts or
    ``{"type": ..., "content": ...}`` dicts. Errors say which item was wrong.

    Example::

        convert_to_messages([("system", "Be terse."), {"role": "user", "content": "hi"}])
        # [SystemMessage(content='Be terse.'), HumanMessage(content='hi')]
    """
    if type(messages) is list:  # the common case: a list of messages (nothing to convert)
        for item in messages:
            if not isinstance(item, BaseMessage):
                break
        else:
            return list(messages)
    if isinstance(messages, BaseMessage):
        return [messages]
    if isinstance(messages, str):
        return [HumanMessage(messages)]
    if isinstance(messages, Mapping):
        return [_from_mapping(messages, "message")]
    to_messages = getattr(messages, "to_messages", None)
    if callable(to_messages):
        return list(to_messages())
    if isinstance(messages, Iterable) and not isinstance(messages, (bytes, bytearray)):
        return [_convert_one(item, f"messages[{i}]") for i, item in enumerate(messages)]
    raise TypeError(
        "messages: expected a string, a message, a prompt value or a list of messages, "
        f"got {type(messages).__name__}"
    )


def message_from_dict(data: Mapping[str, Any]) -> BaseMessage:
    """Build a message from an OpenAI-style dict (``role``) or a LangChain-style one (``type``).

    Also reads LangChain's ``{"type": ..., "data": {...}}`` form, and the output of
    `BaseMessage.model_dump` and `BaseMessage.to_dict`.

    Example::

        message_from_dict({"role": "tool", "content": "4", "tool_call_id": "c1"})
        # ToolMessage(content='4', tool_call_id='c1')
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"message: expected a dict, got {type(data).__name__}")
    return _from_mapping(data, "message")


def message_to_openai_dict(message: BaseMessage) -> dict[str, Any]:
    """The message in OpenAI's chat format (tool-call arguments as JSON strings)."""
    return message.to_dict()


def messages_to_dicts(messages: Any) -> list[dict[str, Any]]:
    """Coerce with `convert_to_messages`, then convert each message to OpenAI's chat format.

    Example::

        messages_to_dicts([("user", "hi")])  # [{"role": "user", "content": "hi"}]
    """
    return [message.to_dict() for message in convert_to_messages(messages)]


# ---------------------------------------------------------------------------- one item


def _convert_one(item: Any, where: str) -> BaseMessage:
    if isinstance(item, BaseMessage):
        return item
    if isinstance(item, str):
        return HumanMessage(item)
    if isinstance(item, Mapping):
        return _from_mapping(item, where)
    if isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise ValueError(f"{where}: a (role, content) pair needs 2 items, got {len(item)}")
        role, content = item
        if not isinstance(role, str):
            raise TypeError(f"{where}: the role must be a string, got {type(role).__name__}")
        return _from_role(role, {"content": content}, where)
    raise TypeError(
        f"{where}: expected a message, a string, a (role, content) pair or a dict with "
        f"'role' or 'type', got {type(item).__name__}"
    )


def _from_mapping(data: Mapping[str, Any], where: str) -> BaseMessage:
    if "role" in data and "type" not in data:
        role = data["role"]
        if not isinstance(role, str):
            raise TypeError(f"{where}: 'role' must be a string, got {type(role).__name__}")
        return _from_role(role, data, where)
    if "type" in data:
        inner = data.get("data")
        fields = inner if isinstance(inner, Mapping) else data
        return _from_type(data["type"], fields, where)
    raise ValueError(
        f"{where}: a message dict needs a 'role' or a 'type' key, got keys {sorted(data)}"
    )


def _from_role(role: str, data: Mapping[str, Any], where: str) -> BaseMessage:
    cls = _ROLES.get(role)
    if cls is None:
        raise ValueError(f"{where}: unknown role {role!r}; expected one of {_EXPECTED_ROLES}")
    return _build(cls, data, where)


def _from_type(kind: Any, data: Mapping[str, Any], where: str) -> BaseMessage:
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"{where}: unknown message type {kind!r}; expected one of {', '.join(_TYPES)}"
        )
    return _build(cls, data, where)


def _build(cls: type[BaseMessage], data: Mapping[str, Any], where: str) -> BaseMessage:
    is_ai = issubclass(cls, AIMessage)
    raw = data.get("content")
    if raw is None and not (is_ai and ("tool_calls" in data or "tool_call_chunks" in data)):
        if "content" not in data:
            raise ValueError(f"{where}: missing 'content'")
        if not is_ai:
            raise ValueError(f"{where}: 'content' is None")
    kwargs: dict[str, Any] = {key: data[key] for key in _COMMON_KEYS if data.get(key) is not None}
    for key in _EXTRA_KEYS.get(cls, ()):
        if data.get(key) is not None:
            kwargs[key] = data[key]
    if is_ai:
        calls, invalid = _tool_calls(data.get("tool_calls") or (), where)
        calls_invalid = data.get("invalid_tool_calls") or []
        if cls is AIMessage or "tool_call_chunks" not in kwargs:
            kwargs["tool_calls"] = calls
            kwargs["invalid_tool_calls"] = [*invalid, *calls_invalid]
    elif cls is ToolMessage and "tool_call_id" not in kwargs:
        raise ValueError(f"{where}: a tool message needs a 'tool_call_id'")
    elif cls is ChatMessage and "role" not in kwargs:
        raise ValueError(f"{where}: a chat message needs a 'role'")
    content = _text(raw, where)
    return cls(content, **kwargs)


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, (list, tuple)):
        pieces: list[str] = []
        for j, part in enumerate(content):
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise ValueError(f"{where}.content[{j}]: a text part needs a string 'text'")
                pieces.append(text)
            else:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise ValueError(
                    f"{where}.content[{j}]: unsupported content part {kind!r}; "
                    "only text parts are supported"
                )
        return "".join(pieces)
    raise TypeError(
        f"{where}.content: expected a string or a list of text parts, got {type(content).__name__}"
    )


def _tool_calls(raw: Iterable[Any], where: str) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Read tool calls in OpenAI's shape (``function.arguments``) or LangChain's (``args``)."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for k, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise TypeError(f"{where}.tool_calls[{k}]: expected a dict, got {type(item).__name__}")
        function = item.get("function")
        if isinstance(function, Mapping):
            name, arguments = function.get("name"), function.get("arguments")
        elif "args" in item:
            name, arguments = item.get("name"), item["args"]
        else:
            raise ValueError(f"{where}.tool_calls[{k}]: expected 'function' or 'name'/'args' keys")
        if isinstance(arguments, Mapping):
            calls.append(tool_call(name=name or "", args=dict(arguments), id=item.get("id")))
            continue
        try:
            args = json.loads(arguments) if arguments else {}
        except (TypeError, ValueError) as exc:
            args, error = None, str(exc)
        else:
            error = "the arguments are not a JSON object"
        if isinstance(args, dict):
            calls.append(tool_call(name=name or "", args=args, id=item.get("id")))
        else:
            bad = arguments if isinstance(arguments, str) else None
            invalid.append(invalid_tool_call(name=name, args=bad, id=item.get("id"), error=error))
    return calls, invalid
