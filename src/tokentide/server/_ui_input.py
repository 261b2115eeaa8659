"""The request of the AI SDK's ``useChat`` (``POST /api/chat``) and its ``UIMessage`` list as
tokentide messages.

``useChat`` (``ai`` 5 to 7, ``DefaultChatTransport``) sends ``{...body, id, messages,
trigger, messageId}``: ``id`` is the chat's id, ``messages`` the whole conversation as
``UIMessage`` objects (``{id, role, metadata?, parts: [...]}``), ``trigger`` is
``submit-message`` or ``regenerate-message``; any field the app adds to ``body`` comes along
(``model`` chooses the served model or graph here).

An assistant message becomes one ``AIMessage`` per step (the parts between two
``step-start`` parts): its text, and its tool calls (parts ``tool-<name>`` or
``dynamic-tool``) with their results as ``ToolMessage``s (``output-error`` and
``output-denied`` as results with ``status="error"``). Reasoning, sources, files of the
assistant and ``data-*`` parts are display-only and are not sent to the model; a tool call
without a result yet is left out.
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
    tool_call,
)

from ._asgi import HTTPError, shorten
from ._ui_approvals import ApprovalResponse, approval_responses

__all__ = ["UIChatRequest", "parse_ui_request", "ui_messages_to_messages"]

_TRIGGERS = frozenset({"submit-message", "regenerate-message"})
MAX_CHAT_ID = 200
"""Longest chat id accepted, in characters."""


@dataclass(slots=True)
class UIChatRequest:
    """A validated ``useChat`` request."""

    chat_id: str
    messages: list[BaseMessage]
    trigger: str
    message_id: str | None
    model: str | None
    body: dict[str, Any] = field(default_factory=dict)
    #: Answers to tool approval requests, on the last message (the assistant's).
    approvals: list[ApprovalResponse] = field(default_factory=list)
    #: The id of that last assistant message and the ids of its tool calls.
    page_message_id: str | None = None
    page_calls: list[str] = field(default_factory=list)


def _bad(message: str, param: str | None = None) -> HTTPError:
    return HTTPError(400, message, param=param)


def check_chat_id(value: Any) -> str:
    """The chat id, or a 400 saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise _bad("'id' (the chat id that useChat sends) must be a non-empty string", "id")
    if len(value) > MAX_CHAT_ID or any(not c.isprintable() for c in value):
        raise _bad(
            f"the chat id must be at most {MAX_CHAT_ID} printable characters, got {shorten(value)}",
            "id",
        )
    return value


def parse_ui_request(body: Any) -> UIChatRequest:
    """Validate a decoded ``useChat`` body; 400 says what is wrong."""
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object, got {type(body).__name__}")
    chat_id = check_chat_id(body.get("id"))
    trigger = body.get("trigger", "submit-message")
    if trigger not in _TRIGGERS:
        raise _bad(
            f"'trigger' must be 'submit-message' or 'regenerate-message', got {shorten(trigger)}",
            "trigger",
        )
    message_id = body.get("messageId")
    if message_id is not None and not isinstance(message_id, str):
        raise _bad("'messageId' must be a string", "messageId")
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _bad("'model' must be a non-empty string naming a served model or graph", "model")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("'messages' must be a non-empty array of UIMessage objects", "messages")
    messages = ui_messages_to_messages(raw)
    extra = {k: v for k, v in body.items() if k not in ("id", "messages", "trigger", "messageId")}
    request = UIChatRequest(chat_id, messages, trigger, message_id, model, extra)
    request.approvals = approval_responses(raw)
    if request.approvals:
        last = raw[-1]
        request.page_message_id = _id(last)
        request.page_calls = [
            str(p.get("toolCallId")) for p in last["parts"] if _tool_name(p) and p.get("toolCallId")
        ]
    return request


def ui_messages_to_messages(raw: list[Any]) -> list[BaseMessage]:
    """tokentide messages of a ``UIMessage`` list (`HTTPError` 400 for a malformed one)."""
    out: list[BaseMessage] = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, Mapping):
            raise _bad(f"{where} must be a UIMessage object, got {type(item).__name__}", where)
        role = item.get("role")
        parts = item.get("parts")
        if not isinstance(parts, list):
            raise _bad(f"{where}.parts must be an array of parts", f"{where}.parts")
        if not all(isinstance(p, Mapping) for p in parts):
            raise _bad(f"{where}.parts must hold part objects", f"{where}.parts")
        if role == "user":
            content: Any = _user_content(parts)  # text, or blocks with images
            out.append(HumanMessage(content, id=_id(item)))
        elif role == "system":
            out.append(SystemMessage(_text(parts), id=_id(item)))
        elif role == "assistant":
            out += _assistant(parts, _id(item))
        else:
            raise _bad(
                f"{where}.role must be 'user', 'assistant' or 'system', got {shorten(role)}",
                f"{where}.role",
            )
    return out


def _id(item: Mapping[str, Any]) -> str | None:
    value = item.get("id")
    return value if isinstance(value, str) and value else None


def _text(parts: list[Any]) -> str:
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def _user_content(parts: list[Any]) -> str | list[dict[str, Any]]:
    """Plain text, or content blocks when the message carries images."""
    images = [
        p
        for p in parts
        if p.get("type") == "file" and str(p.get("mediaType", "")).startswith("image/")
    ]
    text = _text(parts)
    if not images:
        return text
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for image in images:
        blocks.append({"type": "image_url", "image_url": {"url": str(image.get("url", ""))}})
    return blocks


def _tool_name(part: Mapping[str, Any]) -> str | None:
    kind = str(part.get("type", ""))
    if kind == "dynamic-tool":
        name = part.get("toolName")
        return name if isinstance(name, str) else None
    if kind.startswith("tool-") and kind not in ("tool-approval-request", "tool-result"):
        return kind[5:]
    return None


def _assistant(parts: list[Any], message_id: str | None) -> list[BaseMessage]:
    """One AIMessage per step, each followed by the results of its tool calls."""
    steps: list[list[Any]] = [[]]
    for part in parts:
        if part.get("type") == "step-start":
            if steps[-1]:
                steps.append([])
            continue
        steps[-1].append(part)
    out: list[BaseMessage] = []
    for number, step in enumerate(s for s in steps if s):
        calls: list[ToolCall] = []
        results: list[BaseMessage] = []
        for part in step:
            name = _tool_name(part)
            if name is None:
                continue
            result = _tool_result(part, name)
            if result is None:
                continue  # no result yet: the model never saw this call complete
            call_id = str(part.get("toolCallId", ""))
            args = part.get("input")
            calls.append(
                tool_call(name=name, args=args if isinstance(args, dict) else {}, id=call_id)
            )
            results.append(result)
        text = _text(step)
        if not text and not calls:
            continue
        ident = f"{message_id}-{number}" if message_id and number else message_id
        out.append(AIMessage(text, tool_calls=calls, id=ident))
        out += results
    return out


def _tool_result(part: Mapping[str, Any], name: str) -> ToolMessage | None:
    state = part.get("state")
    call_id = str(part.get("toolCallId", ""))
    if state == "output-available":
        output = part.get("output")
        content = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        return ToolMessage(content, tool_call_id=call_id, name=name)
    if state == "output-error":
        text = str(part.get("errorText") or "the tool failed")
        return ToolMessage(text, tool_call_id=call_id, name=name, status="error")
    if state == "output-denied":
        approval = part.get("approval")
        reason = approval.get("reason") if isinstance(approval, Mapping) else None
        text = f"The user denied this tool call{': ' + reason if reason else '.'}"
        return ToolMessage(text, tool_call_id=call_id, name=name, status="error")
    return None
