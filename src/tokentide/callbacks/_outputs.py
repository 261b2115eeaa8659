"""The result objects LangChain hands to callback handlers (``langchain_core.outputs`` shapes).

Handlers read ``chunk.message`` / ``chunk.text`` in ``on_llm_new_token`` and
``response.generations[0][0].message`` / ``response.llm_output`` in ``on_llm_end``; these small
slotted classes give them exactly those attributes, built only when a handler is attached.
"""

from __future__ import annotations

from typing import Any

from tokentide.messages import BaseMessage

__all__ = ["ChatGeneration", "ChatGenerationChunk", "Generation", "GenerationChunk", "LLMResult"]


class Generation:
    """One generated text (a completion model's output) and what the provider said about it."""

    __slots__ = ("generation_info", "text")
    type = "Generation"

    def __init__(self, text: str = "", generation_info: dict[str, Any] | None = None) -> None:
        self.text = text
        self.generation_info = generation_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}(text={self.text!r})"


class GenerationChunk(Generation):
    """One streamed piece of a completion (``on_llm_new_token``'s ``chunk`` for an LLM run)."""

    __slots__ = ()
    type = "GenerationChunk"


class ChatGeneration(Generation):
    """One chat reply: ``message`` (an ``AIMessage``) and its ``text``."""

    __slots__ = ("message",)
    type = "ChatGeneration"

    def __init__(
        self,
        message: BaseMessage,
        generation_info: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> None:
        self.message = message
        self.text = message.text if text is None else text
        self.generation_info = generation_info


class ChatGenerationChunk(ChatGeneration):
    """One streamed piece of a chat reply (``on_llm_new_token``'s ``chunk``): ``message`` is
    the ``AIMessageChunk`` the model produced, the same object the stream yields; ``text`` is
    its text. Built once per token for handlers, so it holds the message only."""

    __slots__ = ()
    type = "ChatGenerationChunk"

    def __init__(self, message: BaseMessage) -> None:
        self.message = message

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.message.text

    @property
    def generation_info(self) -> dict[str, Any] | None:  # type: ignore[override]
        return None


class LLMResult:
    """What ``on_llm_end`` receives: ``generations`` (one list per prompt) and
    ``llm_output`` (provider-wide details such as ``token_usage`` and ``model_name``)."""

    __slots__ = ("generations", "llm_output", "run")

    def __init__(
        self, generations: list[list[Generation]], llm_output: dict[str, Any] | None = None
    ) -> None:
        self.generations = generations
        self.llm_output = llm_output
        self.run = None

    def __repr__(self) -> str:
        return f"LLMResult(generations={self.generations!r}, llm_output={self.llm_output!r})"
