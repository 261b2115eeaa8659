"""Message and chunk types, chunk merging, token usage, tool calls and input coercion.

Example::

    from tokentide.messages import AIMessageChunk, convert_to_messages

    messages = convert_to_messages([("system", "Be terse."), ("user", "hi")])
    acc = AIMessageChunk("Hel") + AIMessageChunk("lo")
    acc.content  # "Hello"
"""

from __future__ import annotations

from ._accumulate import ChunkAccumulator, merge_message_chunks, message_chunk_to_message
from ._ai import AIMessage, AIMessageChunk
from ._base import (
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
)
from ._convert import (
    MessageLikeRepresentation,
    convert_to_messages,
    message_from_dict,
    message_to_openai_dict,
    messages_to_dicts,
)
from ._merge import merge_dicts
from ._tools import (
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
    invalid_tool_call,
    merge_tool_call_chunks,
    parse_tool_call_chunks,
    tool_call,
    tool_call_chunk,
)
from ._usage import InputTokenDetails, OutputTokenDetails, UsageMetadata, add_usage

__all__ = [
    "AIMessage",
    "AIMessageChunk",
    "BaseMessage",
    "BaseMessageChunk",
    "ChatMessage",
    "ChunkAccumulator",
    "HumanMessage",
    "HumanMessageChunk",
    "InputTokenDetails",
    "InvalidToolCall",
    "MessageLikeRepresentation",
    "OutputTokenDetails",
    "SystemMessage",
    "SystemMessageChunk",
    "ToolCall",
    "ToolCallChunk",
    "ToolMessage",
    "UsageMetadata",
    "add_usage",
    "convert_to_messages",
    "invalid_tool_call",
    "merge_dicts",
    "merge_message_chunks",
    "merge_tool_call_chunks",
    "message_chunk_to_message",
    "message_from_dict",
    "message_to_openai_dict",
    "messages_to_dicts",
    "parse_tool_call_chunks",
    "tool_call",
    "tool_call_chunk",
]
