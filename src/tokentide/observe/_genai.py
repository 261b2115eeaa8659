"""What observers read off a run: the GenAI operation, model, usage and finish reason.

Shared by the OpenTelemetry sink and the server's metrics, so both name and count the same
things. Pure functions of a `RunContext` and a run's output; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentide.runtime import AGENT_RUN, RunContext

__all__ = [
    "DURATION_BUCKETS",
    "TOKEN_BUCKETS",
    "TPOT_BUCKETS",
    "TTFT_BUCKETS",
    "Reply",
    "operation_of",
    "reply_of",
]

#: Bucket boundaries advised by the GenAI semantic conventions.
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
TPOT_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip

_OPERATIONS = {"chat_model": "chat", "llm": "text_completion", "tool": "execute_tool"}


def operation_of(run: RunContext) -> str | None:
    """The GenAI operation a run is (``chat``, ``text_completion``, ``execute_tool``,
    ``invoke_agent``), or ``None`` for runs that get no span of their own."""
    op = _OPERATIONS.get(run.run_type)
    if op is None and run.extra.get(AGENT_RUN):
        return "invoke_agent"
    return op


class Reply:
    """What a model run's output says: usage, finish reason, the model that answered."""

    __slots__ = ("finish_reason", "input_tokens", "model", "output_tokens")

    def __init__(self) -> None:
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None


def reply_of(run_type: str, output: Any) -> Reply:
    """Read usage, finish reason and response model from a chat model's message or a
    completion model's ``on_llm_end`` output (LangChain's ``LLMResult`` shape)."""
    reply = Reply()
    if run_type == "chat_model":
        usage = getattr(output, "usage_metadata", None)
        meta = getattr(output, "response_metadata", None) or {}
        if getattr(output, "tool_call_chunks", None) or getattr(output, "tool_calls", None):
            meta = {**meta, "finish_reason": "tool_calls"}
    elif isinstance(output, Mapping) and output.get("generations"):
        gen = output["generations"][0][0] if output["generations"][0] else {}
        meta = gen.get("generation_info") or {}
        usage = meta.get("usage_metadata")
    else:
        return reply
    if usage:
        reply.input_tokens = int(usage.get("input_tokens", 0))
        reply.output_tokens = int(usage.get("output_tokens", 0))
    reason = meta.get("finish_reason")
    if reason:
        reply.finish_reason = str(reason)
    model = meta.get("model_name") or meta.get("model")
    reply.model = str(model) if model else None
    return reply
