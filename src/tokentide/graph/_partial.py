"""A run that fails or is cancelled in the middle of a step keeps what its models produced.

LangGraph drops the whole step (langgraph #5672): the tokens a person already read are gone
from the thread, and the next turn's model never sees them. Here, when a step of a graph with a
checkpointer ends with an exception (a model's ``StreamError``, a node's error, ``break`` /
``aclose()`` / task cancellation / Ctrl-C), the messages its models had produced so far (the
``StreamError.partial`` of a failed stream, the chunks streamed in ``"messages"`` mode) are
added to the state's messages key and saved as a checkpoint that still has the step to run next:
the next turn starts from them, ``invoke(None, config)`` retries the step.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tokentide.checkpoint._base import new_checkpoint_id
from tokentide.errors import GraphBubbleUp, StreamError
from tokentide.messages import AIMessage, AIMessageChunk, BaseMessage, message_chunk_to_message

from ._stream import GraphSink
from .message import add_messages

if TYPE_CHECKING:
    from tokentide.checkpoint import Checkpoint

    from ._loop import GraphRun

__all__ = ["kept_checkpoint"]


def _errors(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return chain


def _usable(chunk: Any) -> BaseMessage | None:
    if not isinstance(chunk, AIMessage) or not (chunk.content or chunk.tool_calls):
        return None
    message = message_chunk_to_message(chunk) if isinstance(chunk, AIMessageChunk) else chunk
    # Tool calls cut in the middle cannot be run: keep the text only.
    if getattr(message, "tool_calls", None) or getattr(message, "invalid_tool_calls", None):
        message = type(message)(content=message.content, id=message.id)
    message.response_metadata = {**message.response_metadata, "partial": True}
    return message


def produced(g: GraphRun, exc: BaseException) -> list[BaseMessage]:
    """The messages the failed step's models produced before it stopped."""
    found: dict[Any, BaseMessage] = {}
    sink = g.run.sink
    if isinstance(sink, GraphSink) and sink.partials:
        for chunk in list(sink.partials.values()):
            message = _usable(chunk)
            if message is not None:
                found[message.id] = message
    for error in _errors(exc):
        if isinstance(error, StreamError):
            message = _usable(error.partial)
            if message is not None and message.id not in found:
                found[message.id] = message
    return list(found.values())


def _messages_key(g: GraphRun) -> str | None:
    schema = g.spec.schema
    for key, reducer in schema.reducers.items():
        if reducer is add_messages:
            return key
    return "messages" if "messages" in schema.keys else None


def kept_checkpoint(g: GraphRun, exc: BaseException) -> tuple[Checkpoint, dict[str, Any]] | None:
    """The checkpoint that keeps the stopped step's partial messages (the checkpoint the step
    started from, with them added), or ``None`` when there is nothing to keep."""
    saving = g.saving
    if saving is None or saving.last is None or isinstance(exc, GraphBubbleUp):
        return None
    key = _messages_key(g)
    messages = produced(g, exc) if key is not None else []
    if key is None or not messages:
        return None
    last = saving.last
    values = dict(last["values"])
    g.spec.schema.apply(values, [(key, messages)])
    checkpoint: Checkpoint = {
        **last,
        "id": new_checkpoint_id(),
        "ts": datetime.now(timezone.utc).isoformat(),
        "values": values,
    }
    metadata = {
        "source": "loop",
        "step": last["step"],
        "parents": dict(saving.parents),
        "stopped": type(exc).__name__,
    }
    return checkpoint, metadata
