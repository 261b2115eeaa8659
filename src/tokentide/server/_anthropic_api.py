"""The Anthropic Messages API: ``POST /v1/messages`` (streamed or not) and
``POST /v1/messages/count_tokens``.

Requests are checked as Anthropic checks them (``max_tokens`` required, ``messages`` with
``user`` / ``assistant`` roles and content blocks, ``system``, ``tools`` / ``tool_choice``,
``stop_sequences``); the key comes in ``x-api-key`` (or ``Authorization: Bearer``) and is
checked when the server has one; ``anthropic-version`` is accepted whatever its value.

Every error is Anthropic's shape, ``{"type": "error", "error": {"type", "message"}}``, with its
status; after the first token, an ``event: error`` ends the stream. While the model is silent,
``event: ping`` keeps the connection alive; a client that leaves cancels the model.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from tokentide.runtime import aclose_if_closable

from ._anthropic_encode import MessagesEncoder, anthropic_error
from ._asgi import EventStream, HTTPError, Receive, Scope, Send, send_json, watch_disconnect
from ._assistants import Assistant
from ._openai_api import collect_reply, typed_field, upstream_error

__all__ = ["AnthropicHTTPError", "MessagesRequest", "check_api_key", "parse_messages_request"]

PING = b'event: ping\ndata: {"type":"ping"}\n\n'


class AnthropicHTTPError(HTTPError):
    """An `HTTPError` answered with Anthropic's error shape."""

    def body(self) -> dict[str, Any]:
        return anthropic_error(self.status, self.message)


def as_anthropic(error: HTTPError) -> AnthropicHTTPError:
    if isinstance(error, AnthropicHTTPError):
        return error
    return AnthropicHTTPError(error.status, error.message, headers=error.headers)


def bad_request(message: str) -> AnthropicHTTPError:
    return AnthropicHTTPError(400, message)


@dataclass(slots=True)
class MessagesRequest:
    """A validated Messages API request."""

    model: str
    messages: list[BaseMessage]
    stream: bool
    options: dict[str, Any]
    tools: dict[str, Any] | None


def check_api_key(scope: Scope, api_key: str | None) -> None:
    """401 ``authentication_error`` unless ``x-api-key`` (or a bearer token) is the key."""
    if api_key is None:
        return
    given = b""
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            given = value
        elif name == b"authorization" and not given and value[:7].lower() == b"bearer ":
            given = value[7:].strip()
    if not hmac.compare_digest(given, api_key.encode()):
        what = "no API key was given" if not given else "the API key is not valid"
        raise AnthropicHTTPError(401, f"invalid x-api-key: {what}. Send 'x-api-key: <key>'.")


def parse_messages_request(body: Any, *, count_only: bool = False) -> MessagesRequest:
    """Validate a decoded body; 400 ``invalid_request_error`` says what is wrong."""
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {type(body).__name__}")
    try:
        return _parse(body, count_only)
    except HTTPError as exc:
        raise as_anthropic(exc) from None


def _parse(body: dict[str, Any], count_only: bool) -> MessagesRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required (a non-empty string)")
    max_tokens = typed_field(body, "max_tokens", (int,), "an integer")
    if max_tokens is None and not count_only:
        raise bad_request("max_tokens: Field required")
    if max_tokens is not None and max_tokens < 1:
        raise bad_request(f"max_tokens: must be at least 1, got {max_tokens}")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages: Field required (a non-empty array)")
    messages: list[BaseMessage] = []
    system = body.get("system")
    if system is not None:
        messages.append(SystemMessage(_text(system, "system")))
    for i, message in enumerate(raw):
        messages += _message(message, f"messages.{i}")
    options: dict[str, Any] = {}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = typed_field(body, name, (int, float), "a number")
        if value is not None:
            options[name] = float(value)
    stops = typed_field(body, "stop_sequences", (list,), "an array of strings")
    if stops:
        if not all(isinstance(s, str) for s in stops):
            raise bad_request("stop_sequences: must be an array of strings")
        options["stop"] = stops
    stream = bool(typed_field(body, "stream", (bool,), "a boolean"))
    return MessagesRequest(model, messages, stream, options, _tools(body))


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where}: must be a string or an array of content blocks")
    parts = []
    for j, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text":
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise bad_request(f"{where}.{j}: only text blocks are supported here, got {kind!r}")
        parts.append(str(block.get("text", "")))
    return "".join(parts)


def _message(message: Any, where: str) -> list[BaseMessage]:
    if not isinstance(message, dict):
        raise bad_request(f"{where}: must be an object with 'role' and 'content'")
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        raise bad_request(f"{where}.role: must be 'user' or 'assistant', got {role!r}")
    if isinstance(content, str):
        return [HumanMessage(content) if role == "user" else AIMessage(content)]
    if not isinstance(content, list):
        raise bad_request(f"{where}.content: must be a string or an array of content blocks")
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[BaseMessage] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use" and role == "assistant":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise bad_request(f"{where}.content.{j}: tool_use needs string 'id' and 'name'")
            args = block.get("input") or {}
            calls.append(
                {"name": block["name"], "args": args, "id": block["id"], "type": "tool_call"}
            )
        elif kind == "tool_result" and role == "user":
            inner = block.get("content", "")
            text = inner if isinstance(inner, str) else _text(inner, f"{where}.content.{j}.content")
            status = "error" if block.get("is_error") else "success"
            results.append(
                ToolMessage(text, tool_call_id=str(block.get("tool_use_id", "")), status=status)
            )
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            continue
        else:
            raise bad_request(
                f"{where}.content.{j}: content blocks of type {kind!r} are not supported"
            )
    if role == "assistant":
        return [AIMessage("".join(texts), tool_calls=calls)]
    if texts:
        results.append(HumanMessage("".join(texts)))
    return results


def _tools(body: Mapping[str, Any]) -> dict[str, Any] | None:
    tools = typed_field(body, "tools", (list,), "an array") or []
    choice = typed_field(body, "tool_choice", (dict,), "an object")
    chat_tools = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise bad_request(f"tools.{i}: must be an object with a string 'name'")
        function = {"name": tool["name"], "parameters": tool.get("input_schema") or {}}
        if tool.get("description"):
            function["description"] = tool["description"]
        chat_tools.append({"type": "function", "function": function})
    if not chat_tools:
        return None
    chat_choice: Any = None
    if choice is not None:
        kind = choice.get("type")
        if kind == "tool":
            chat_choice = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "any", "none"):
            chat_choice = {"auto": "auto", "any": "required", "none": "none"}[kind]
        else:
            raise bad_request(
                f"tool_choice.type: must be 'auto', 'any', 'tool' or 'none', got {kind!r}"
            )
    return {"tools": chat_tools, "tool_choice": chat_choice}


# ---------------------------------------------------------------------- replies


def _frames(events: list[tuple[str, str]]) -> bytes:
    return "".join([f"event: {name}\ndata: {data}\n\n" for name, data in events]).encode()


async def stream_messages(
    assistant: Assistant,
    request: MessagesRequest,
    send: Send,
    receive: Receive,
    *,
    heartbeat: float | None,
) -> None:
    """Answer a ``stream: true`` request; it starts with the first token (or an error
    status); a client that leaves cancels generation."""
    ticket = assistant.gate.reserve() if assistant.gate is not None else None
    encoder = MessagesEncoder(f"msg_{uuid.uuid4().hex[:24]}", request.model)

    async def produce(events: EventStream) -> None:
        stream: Any = None
        try:
            if ticket is not None:
                await ticket.wait()
            encoder.input_tokens = await prompt_tokens(assistant, request)
            try:
                stream = assistant.open_chat(request.messages, request.options, request.tools)
                first = await stream.__anext__()
            except StopAsyncIteration:
                first = AIMessageChunk("")
            except HTTPError as exc:
                raise as_anthropic(exc) from exc
            except Exception as exc:
                raise as_anthropic(upstream_error(exc)) from exc
            await events.send(_frames(encoder.start() + encoder.chunk(first)) + PING)
            encode, send_frames = encoder.chunk, events.send
            try:
                async for chunk in stream:
                    batch = encode(chunk)
                    if batch:
                        await send_frames(_frames(batch))
                await events.send(_frames(encoder.finish()))
            except Exception as exc:
                status = 529 if "overload" in type(exc).__name__.lower() else 500
                await events.send(_frames(encoder.fail(status, f"{type(exc).__name__}: {exc}")))
        finally:
            if stream is not None:
                await aclose_if_closable(stream)
            if ticket is not None:
                ticket.release()

    await EventStream(send, receive, heartbeat=heartbeat, ping=PING).run(produce)


async def prompt_tokens(assistant: Assistant, request: MessagesRequest) -> int:
    """The prompt's size for ``message_start``, from a model that knows it before generating
    (``get_num_tokens_from_messages``: the embedded model, exactly; `FakeChatModel`); 0 for
    the others, whose count arrives with ``message_delta``. A count that fails is 0 too: it
    is informative, and the reply must not fail for it."""
    count = getattr(assistant.target, "get_num_tokens_from_messages", None)
    if assistant.kind != "model" or count is None:
        return 0
    tools = request.tools or {}
    kwargs = {"tool_choice": tools["tool_choice"]} if tools.get("tool_choice") else {}
    try:
        n = await asyncio.to_thread(count, request.messages, tools.get("tools"), **kwargs)
    except Exception:
        return 0
    return n if isinstance(n, int) else 0


async def create_message(
    assistant: Assistant, request: MessagesRequest, send: Send, receive: Receive
) -> None:
    """Answer a ``stream: false`` request with one ``message`` object."""
    ticket = assistant.gate.reserve() if assistant.gate is not None else None
    acc = ChunkAccumulator()

    async def collect() -> None:
        chunks = assistant.chat(request.messages, request.options, request.tools)
        try:
            await collect_reply(chunks, ticket, acc.add)
        except HTTPError as exc:
            raise as_anthropic(exc) from exc

    disconnected, _ = await watch_disconnect(receive, collect())
    if disconnected:
        return
    encoder = MessagesEncoder(f"msg_{uuid.uuid4().hex[:24]}", request.model)
    encoder.chunk(acc.result())
    encoder.finish()
    await send_json(send, 200, encoder.message())


async def count_tokens(assistant: Assistant, request: MessagesRequest, send: Send) -> None:
    """``{"input_tokens": n}`` with the model's own tokenizer and chat template."""
    if assistant.kind != "model" or getattr(assistant.target, "provider", "") != "llamacpp":
        raise AnthropicHTTPError(
            400,
            f"count_tokens needs a model with a local tokenizer (the embedded llama.cpp "
            f"model); {assistant.name!r} has none",
        )
    chat = [{"role": m.to_dict()["role"], "content": m.text} for m in request.messages]
    for tool in (request.tools or {}).get("tools", []):
        chat.insert(0, {"role": "system", "content": json.dumps(tool["function"])})

    def count() -> int:
        runtime: Any = assistant.target.runtime
        return len(runtime.tokenize(runtime.format_chat(chat)))

    n = await asyncio.to_thread(count)
    await send_json(send, 200, {"input_tokens": n})
