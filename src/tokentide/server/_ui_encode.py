"""Sans-I/O encoder of the Vercel AI SDK's UI message stream (protocol ``v1``): run events in,
UI message chunks out.

`UIMessageEncoder` reads the events of one run as the run store keeps them (``metadata``, then
``messages`` items ``[message, metadata]`` and ``custom`` writes, then ``end`` or ``error``)
and turns them into the chunks that ``ai``'s ``processUIMessageStream`` (``useChat``,
``readUIMessageStream``) expects, as dicts:

- ``start`` (with ``messageId``) first;
- per model call a step: ``start-step``, then ``reasoning-start`` / ``-delta`` / ``-end``,
  ``text-start`` / ``text-delta`` / ``text-end``, and for each tool call
  ``tool-input-start``, ``tool-input-delta`` (the arguments as they stream),
  ``tool-input-available`` (the parsed arguments; ``tool-input-error`` when they are not
  JSON); the tools' results as ``tool-output-available`` / ``tool-output-error``; then
  ``finish-step``;
- a graph's custom writes as ``data-<name>`` parts: a write shaped like the AI SDK's own
  (``{"type": "data-weather", "data": ..., "id"?: ..., "transient"?: ...}``) passes as is,
  any other value becomes ``{"type": "data-custom", "data": value}``;
- an ``interrupt`` event of an approval middleware: one ``tool-approval-request`` per call
  waiting for approval (see `tokentide.server._ui_approvals`);
- one ending: ``finish`` (``finishReason`` from the last model reply: ``stop``, ``length``,
  ``tool-calls``, ``content-filter``), ``abort`` (the run was cancelled), or ``error``
  (``errorText``) followed by ``finish`` with ``finishReason: "error"``.

Part ids are derived from the events alone (no clock, no random), so two readers of the same
run, on any replica, produce the same chunks: a resumed stream is an exact replay.

Example::

    enc = UIMessageEncoder("msg_1")
    chunks = enc.feed("metadata", '{"run_id": "run_1"}')
    chunks += enc.feed("messages", '[{"type": "AIMessageChunk", "id": "m", "content": "Hi"}, {}]')
    chunks += enc.feed("end", '{"status": "success"}')
    [c["type"] for c in chunks]
    # ['start', 'start-step', 'text-start', 'text-delta', 'text-end', 'finish-step', 'finish']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._ui_approvals import approval_requests

__all__ = ["DONE_FRAME", "UI_STREAM_HEADERS", "UIMessageEncoder", "encode_chunks"]

Chunk = dict[str, Any]

UI_STREAM_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"x-vercel-ai-ui-message-stream", b"v1"),)
"""The header that tells the AI SDK the body is a UI message stream (besides the event-stream
headers: ``cache-control: no-cache``, ``x-accel-buffering: no``)."""

DONE_FRAME = b"data: [DONE]\n\n"
"""The last frame of a UI message stream."""

_FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool-calls",
    "tool_use": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
    "refusal": "content-filter",
}
_AI_TYPES = frozenset({"AIMessageChunk", "ai"})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode_chunks(chunks: list[Chunk]) -> bytes:
    """SSE frames (``data: <json>``) of UI message chunks."""
    text = "".join([f"data: {_dumps(chunk)}\n\n" for chunk in chunks])
    return text.encode("utf-8", "backslashreplace")


class _ToolCall:
    __slots__ = ("call_id", "name", "args", "closed")

    def __init__(self, call_id: str, name: str) -> None:
        self.call_id = call_id
        self.name = name
        self.args: list[str] = []
        self.closed = False


class UIMessageEncoder:
    """Turns one run's events into the UI message chunks of one assistant message.

    ``message_id``: the id of the assistant message (sent in ``start``). Feed every event of
    the run in order with :meth:`feed`; the chunks it returns are ready for
    :func:`encode_chunks`. :attr:`ended` tells that the run's last event was seen.
    """

    __slots__ = (
        "message_id",
        "ended",
        "_skip",
        "_denied",
        "_step_calls",
        "_started",
        "_step",
        "_current",
        "_text",
        "_reasoning",
        "_parts",
        "_calls",
        "_by_index",
        "_known",
        "_finish_reason",
    )

    def __init__(
        self,
        message_id: str,
        *,
        skip_calls: frozenset[str] = frozenset(),
        denied_calls: frozenset[str] = frozenset(),
    ) -> None:
        self.message_id = message_id
        self.ended = False
        # A run resuming approved calls: the page already shows the message that made them.
        self._skip = skip_calls
        self._denied = denied_calls
        self._step_calls: list[tuple[str, str]] = []  # (id, name) of the step's tool calls
        self._started = False
        self._step = False
        self._current: str | None = None  # id of the AI message being streamed
        self._text: str | None = None  # id of the open text part
        self._reasoning: str | None = None  # id of the open reasoning part
        self._parts = 0  # parts opened so far (for their ids)
        self._calls: list[_ToolCall] = []  # tool calls of the current AI message
        self._by_index: dict[Any, _ToolCall] = {}
        self._known: set[str] = set(skip_calls)  # tool call ids the client knows
        self._finish_reason = "stop"

    # ------------------------------------------------------------------ events

    def feed(self, event: str, data: str) -> list[Chunk]:
        """The chunks of one run event (``event``: its name; ``data``: its JSON text)."""
        out: list[Chunk] = []
        if not self._started:
            self._started = True
            out.append({"type": "start", "messageId": self.message_id})
        if self.ended:
            return out
        if event == "messages":
            item = json.loads(data)
            message = item[0] if isinstance(item, list) and item else item
            if isinstance(message, Mapping):
                out += self.message(message)
        elif event == "custom":
            out += self.custom(json.loads(data))
        elif event == "interrupt":
            out += self._close_message() + approval_requests(json.loads(data), self._step_calls)
        elif event == "end":
            status = json.loads(data).get("status", "success")
            out += self.abort() if status == "cancelled" else self.finish()
        elif event == "error":
            error = json.loads(data)
            text = error.get("message") if isinstance(error, Mapping) else None
            out += self.error(str(text or error))
        return out

    def message(self, message: Mapping[str, Any]) -> list[Chunk]:
        """The chunks of one streamed message (an AI chunk, a whole AI message or a tool
        result; other messages stream nothing)."""
        kind = message.get("type")
        if kind in _AI_TYPES:
            calls = message.get("tool_calls") or ()
            if kind == "ai" and calls and all(c.get("id") in self._skip for c in calls):
                return []  # re-sent by a resumed graph: the page has it
            return self._ai(message, whole=kind == "ai")
        if kind == "tool":
            return self._tool_result(message)
        return []

    def custom(self, value: Any) -> list[Chunk]:
        """A custom write as a ``data-<name>`` part."""
        if isinstance(value, Mapping):
            kind = value.get("type")
            if isinstance(kind, str) and kind.startswith("data-") and len(kind) > 5:
                chunk: Chunk = {"type": kind, "data": value.get("data")}
                if isinstance(value.get("id"), str):
                    chunk["id"] = value["id"]
                if isinstance(value.get("transient"), bool):
                    chunk["transient"] = value["transient"]
                return [chunk]
        return [{"type": "data-custom", "data": value}]

    def finish(self) -> list[Chunk]:
        """The run ended normally: close what is open, ``finish-step``, ``finish``."""
        out = self._close_message()
        if self._step:
            self._step = False
            out.append({"type": "finish-step"})
        out.append({"type": "finish", "finishReason": self._finish_reason})
        self.ended = True
        return out

    def abort(self) -> list[Chunk]:
        """The run was cancelled: ``abort``."""
        self.ended = True
        return [{"type": "abort", "reason": "the run was cancelled"}]

    def error(self, text: str) -> list[Chunk]:
        """The run failed: ``error`` with ``errorText``, then ``finish`` (reason ``error``)."""
        out = self._close_message()
        if self._step:
            self._step = False
            out.append({"type": "finish-step"})
        out.append({"type": "error", "errorText": text})
        out.append({"type": "finish", "finishReason": "error"})
        self.ended = True
        return out

    # ------------------------------------------------------------------ AI messages

    def _ai(self, message: Mapping[str, Any], *, whole: bool) -> list[Chunk]:
        message_id = message.get("id") or ""
        text = self._text
        if text is not None and message_id == self._current and not whole:
            # The common case: one more piece of the text being streamed.
            content = message.get("content")
            if (
                type(content) is str
                and not message.get("tool_call_chunks")
                and not message.get("additional_kwargs")
                and not message.get("response_metadata")
            ):
                return [{"type": "text-delta", "id": text, "delta": content}] if content else []
        out: list[Chunk] = []
        if message_id != self._current or whole:
            out += self._close_message()
            if self._step:
                out.append({"type": "finish-step"})
            out.append({"type": "start-step"})
            self._step = True
            self._current = message_id
            self._step_calls = []
            self._finish_reason = "stop"  # until this reply says otherwise
        kwargs = message.get("additional_kwargs") or {}
        reasoning = kwargs.get("reasoning_content") if isinstance(kwargs, Mapping) else None
        if isinstance(reasoning, str) and reasoning:
            out += self._reasoning_delta(reasoning)
        content = message.get("content")
        if isinstance(content, str):
            if content:
                out += self._text_delta(content)
        elif isinstance(content, list):
            for block in content:
                out += self._block(block)
        if whole:
            for call in message.get("tool_calls") or ():
                out += self._whole_call(call)
        else:
            for piece in message.get("tool_call_chunks") or ():
                out += self._call_piece(piece)
        reason = (message.get("response_metadata") or {}).get("finish_reason")
        if isinstance(reason, str) and reason:  # the model's reply is complete
            self._finish_reason = _FINISH_REASONS.get(reason, "other")
            out += self._close_message()
        if whole:
            out += self._close_message()
            self._current = None
        return out

    def _block(self, block: Any) -> list[Chunk]:
        if isinstance(block, str):
            return self._text_delta(block) if block else []
        if not isinstance(block, Mapping):
            return []
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return self._text_delta(str(block["text"]))
        if kind in ("reasoning", "thinking"):
            text = block.get(kind) or block.get("text") or ""
            if not text and isinstance(block.get("summary"), list):
                text = "".join(str(s.get("text", "")) for s in block["summary"] if s)
            return self._reasoning_delta(str(text)) if text else []
        return []

    def _new_id(self, kind: str) -> str:
        self._parts += 1
        return f"{self.message_id}-{kind}-{self._parts}"

    def _text_delta(self, text: str) -> list[Chunk]:
        out = self._close_reasoning()
        if self._text is None:
            self._text = self._new_id("text")
            out.append({"type": "text-start", "id": self._text})
        out.append({"type": "text-delta", "id": self._text, "delta": text})
        return out

    def _reasoning_delta(self, text: str) -> list[Chunk]:
        out = self._close_text()
        if self._reasoning is None:
            self._reasoning = self._new_id("reasoning")
            out.append({"type": "reasoning-start", "id": self._reasoning})
        out.append({"type": "reasoning-delta", "id": self._reasoning, "delta": text})
        return out

    def _close_text(self) -> list[Chunk]:
        if self._text is None:
            return []
        part, self._text = self._text, None
        return [{"type": "text-end", "id": part}]

    def _close_reasoning(self) -> list[Chunk]:
        if self._reasoning is None:
            return []
        part, self._reasoning = self._reasoning, None
        return [{"type": "reasoning-end", "id": part}]

    # ------------------------------------------------------------------ tool calls

    def _call_piece(self, piece: Mapping[str, Any]) -> list[Chunk]:
        key = piece.get("index")
        if key is None:
            key = piece.get("id")
        call = self._by_index.get(key)
        out: list[Chunk] = []
        if call is None or (piece.get("id") and piece.get("id") != call.call_id):
            out += self._close_text() + self._close_reasoning()
            call_id = piece.get("id") or self._new_id("call")
            call = _ToolCall(str(call_id), str(piece.get("name") or ""))
            self._by_index[key] = call
            self._calls.append(call)
            self._known.add(call.call_id)
            self._step_calls.append((call.call_id, call.name))
            start: Chunk = {
                "type": "tool-input-start",
                "toolCallId": call.call_id,
                "toolName": call.name,
            }
            out.append(start)
        args = piece.get("args")
        if isinstance(args, str) and args:
            call.args.append(args)
            out.append(
                {"type": "tool-input-delta", "toolCallId": call.call_id, "inputTextDelta": args}
            )
        return out

    def _whole_call(self, call: Mapping[str, Any]) -> list[Chunk]:
        out = self._close_text() + self._close_reasoning()
        call_id = str(call.get("id") or self._new_id("call"))
        name = str(call.get("name") or "")
        self._known.add(call_id)
        self._step_calls.append((call_id, name))
        out.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": name})
        args = call.get("args")
        out.append(
            {
                "type": "tool-input-available",
                "toolCallId": call_id,
                "toolName": name,
                "input": args if args is not None else {},
            }
        )
        return out

    def _close_calls(self) -> list[Chunk]:
        out: list[Chunk] = []
        for call in self._calls:
            if call.closed:
                continue
            call.closed = True
            raw = "".join(call.args)
            try:
                value = json.loads(raw) if raw.strip() else {}
            except ValueError:
                out.append(
                    {
                        "type": "tool-input-error",
                        "toolCallId": call.call_id,
                        "toolName": call.name,
                        "input": raw,
                        "errorText": f"the arguments of {call.name!r} are not valid JSON",
                    }
                )
                continue
            out.append(
                {
                    "type": "tool-input-available",
                    "toolCallId": call.call_id,
                    "toolName": call.name,
                    "input": value,
                }
            )
        self._calls = []
        self._by_index = {}
        return out

    def _close_message(self) -> list[Chunk]:
        return self._close_reasoning() + self._close_text() + self._close_calls()

    def _tool_result(self, message: Mapping[str, Any]) -> list[Chunk]:
        call_id = message.get("tool_call_id")
        out = self._close_message()
        if not isinstance(call_id, str) or call_id not in self._known:
            return out  # a call the client never saw: nothing to attach the result to
        content = message.get("content")
        if call_id in self._denied:
            out.append({"type": "tool-output-denied", "toolCallId": call_id})
        elif message.get("status") == "error":
            text = content if isinstance(content, str) else _dumps(content)
            out.append({"type": "tool-output-error", "toolCallId": call_id, "errorText": text})
        else:
            out.append({"type": "tool-output-available", "toolCallId": call_id, "output": content})
        return out
