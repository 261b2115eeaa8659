"""Chat and completion models: the fake scripted model, the embedded local model,
OpenAI-compatible clients (chat completions and Responses), and the Anthropic Messages client.

Example::

    from tokentide.models import FakeChatModel

    model = FakeChatModel(responses=[["Hel", "lo"]])
    for chunk in model.stream("hi"):
        print(chunk.content, end="|")
"""

from ._anthropic import ChatAnthropic
from ._base import BaseChatModel, LanguageModelInput
from ._completion_openai import OpenAI
from ._fake import FakeChatModel
from ._llamacpp import ChatLlamaCpp
from ._llamacpp_completion import LlamaCpp
from ._llm_base import (
    AsyncCompletionStream,
    BaseLLM,
    CompletionInfo,
    CompletionStream,
    CompletionText,
)
from ._openai import ChatOpenAI
from ._streams import AsyncChatStream, ChatStream

__all__ = [
    "AsyncChatStream",
    "AsyncCompletionStream",
    "BaseChatModel",
    "BaseLLM",
    "ChatAnthropic",
    "ChatLlamaCpp",
    "ChatOpenAI",
    "ChatStream",
    "CompletionInfo",
    "CompletionStream",
    "CompletionText",
    "FakeChatModel",
    "LanguageModelInput",
    "LlamaCpp",
    "OpenAI",
]
