"""`LanguageModel`: what chat models and completion models share.

Both kinds of model are named, tagged and described the same way, report the same options
(``provider``, ``model_name``, ``temperature``, ``max_tokens``) and build the same run metadata;
only their input handling and chunk types differ (`BaseChatModel`, `BaseLLM`).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from tokentide.runtime import Runnable, RunnableConfig

__all__ = ["LanguageModel", "LanguageModelInput", "StreamArgs"]

LanguageModelInput = Any
"""A str, a message, a list of messages / ``(role, content)`` tuples / OpenAI-style dicts, or a
prompt value."""

StreamArgs = tuple[LanguageModelInput, "RunnableConfig | None", "list[str] | None", dict[str, Any]]
"""A model call's arguments as ``stream`` / ``invoke`` received them: input, config, stop and
the provider's keyword arguments."""

Output = TypeVar("Output")


class LanguageModel(Runnable[LanguageModelInput, Output]):
    """Base of `BaseChatModel` and `BaseLLM`: identity, reported options and run metadata.

    ``ls_model_type`` names the kind in the run metadata (``"chat"`` or ``"llm"``).
    """

    provider: ClassVar[str] = "unknown"
    ls_model_type: ClassVar[str] = "chat"
    model_name: str = "unknown"
    temperature: float | None = None
    max_tokens: int | None = None
    #: Whether ``invoke`` reports each token to callback handlers (``on_llm_new_token``), as
    #: LangChain's ``streaming=True``; ``stream()`` always does. Generation streams either way.
    streaming: bool = False

    def __init__(
        self,
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        callbacks: Any = None,
        streaming: bool = False,
    ) -> None:
        self.name = name
        self.tags = list(tags) if tags else None
        self.metadata = dict(metadata) if metadata else None
        if callbacks is not None:
            from tokentide.callbacks._dispatch import handlers_of

            self.callbacks = handlers_of(callbacks) or None  # a clear TypeError if not handlers
        self.streaming = bool(streaming)

    def _run_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "ls_provider": self.provider,
            "ls_model_name": self.model_name,
            "ls_model_type": self.ls_model_type,
            "ls_temperature": self.temperature,
        }
        if self.max_tokens is not None:
            meta["ls_max_tokens"] = self.max_tokens
        if self.metadata:
            meta.update(self.metadata)
        return meta
