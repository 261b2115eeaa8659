"""Scripted Anthropic Messages and OpenAI Responses streams for the scripted SSE server
(helpers of the protocol client tests; no tests here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fakes.sse_server import Script, Step, raw


def event(name: str, payload: dict[str, Any]) -> Step:
    """``event: <name>`` + ``data: <payload>`` (``type`` set to ``name`` when missing)."""
    body = json.dumps({"type": name, **payload})
    return raw(f"event: {name}\ndata: {body}\n\n".encode())


# ---------------------------------------------------------------------- Anthropic


def anthropic_head(
    input_tokens: int = 5, cache_read: int = 0, model: str = "claude-fake"
) -> list[Step]:
    usage = {"input_tokens": input_tokens, "output_tokens": 1}
    if cache_read:
        usage["cache_read_input_tokens"] = cache_read
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "usage": usage,
    }
    return [
        event("message_start", {"message": message}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
    ]


def anthropic_text(text: str, index: int = 0) -> Step:
    return event(
        "content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": text}}
    )


def anthropic_tail(output_tokens: int, stop_reason: str = "end_turn") -> list[Step]:
    return [
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        event("message_stop", {}),
    ]


def anthropic_error(kind: str = "overloaded_error", message: str = "Overloaded") -> Step:
    return event("error", {"error": {"type": kind, "message": message}})


def anthropic_tokens(tokens: Sequence[str], *, after: Sequence[Step] = (), **head: Any) -> Script:
    steps = [*anthropic_head(**head), *[anthropic_text(t) for t in tokens]]
    steps += list(after) if after else anthropic_tail(len(tokens))
    return Script(steps)


def anthropic_status(status: int, kind: str, message: str = "scripted", **extra: Any) -> Script:
    headers = {"Content-Type": "application/json", **extra}
    body = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return Script(status=status, headers=headers, body=body)


# ---------------------------------------------------------------------- Responses


def _response(status: str, usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-fake",
        "status": status,
        "output": [],
        "usage": usage,
        **extra,
    }


def responses_head() -> list[Step]:
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    return [
        event("response.created", {"sequence_number": 0, "response": _response("in_progress")}),
        event("response.in_progress", {"sequence_number": 1, "response": _response("in_progress")}),
        event("response.output_item.added", {"output_index": 0, "item": {**item, "content": []}}),
        event(
            "response.content_part.added",
            {"item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part},
        ),
    ]


def responses_text(text: str) -> Step:
    return event(
        "response.output_text.delta",
        {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text, "logprobs": []},
    )


def responses_usage(n_in: int, n_out: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": n_in,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": n_out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": n_in + n_out,
    }


def responses_completed(n_in: int, n_out: int, **usage: Any) -> Step:
    return event(
        "response.completed",
        {"response": _response("completed", responses_usage(n_in, n_out, **usage))},
    )


def responses_failed(code: str = "server_error", message: str = "The model failed") -> Step:
    failed = _response("failed", error={"code": code, "message": message})
    return event("response.failed", {"response": failed})


def responses_tokens(tokens: Sequence[str], *, after: Sequence[Step] = ()) -> Script:
    steps = [*responses_head(), *[responses_text(t) for t in tokens]]
    steps += list(after) if after else [responses_completed(5, len(tokens))]
    return Script(steps)


def openai_status(status: int, code: str, message: str = "scripted", **extra: Any) -> Script:
    headers = {"Content-Type": "application/json", **extra}
    body = json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()
    return Script(status=status, headers=headers, body=body)
