"""The conversation of ``tokentide chat``: its messages and token usage, saved as JSON.

The file written by ``/save`` is one JSON object::

    {
      "model": "local",
      "messages": [
        {"type": "system", "content": "Be brief.", ...},
        {"type": "human", "content": "Tell me a story", ...},
        {"type": "ai", "content": "Once upon", "response_metadata": {"interrupted": true}, ...}
      ],
      "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
    }

Each message is its ``model_dump()`` (LangChain's field names plus ``type``). ``/load`` also
accepts OpenAI-style messages (``{"role": "user", "content": "hi"}``). A reply cut short by
Ctrl-C is kept with ``response_metadata["interrupted"] = True``.

Example::

    conversation = Conversation(system="Be brief.")
    conversation.add_question("hi")
    conversation.add_reply(AIMessage("Hello!"))
    conversation.save("chat.json", model="fake")
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokentide.messages import AIMessage, BaseMessage, UsageMetadata

__all__ = ["Conversation", "ConversationFileError"]

_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")


class ConversationFileError(ValueError):
    """A conversation file that cannot be read, with a message that says why and where."""


class Conversation:
    """The messages of one chat (with the system message, if any) and the usage so far."""

    def __init__(self, system: str | None = None) -> None:
        self.system = system
        self.messages: list[BaseMessage] = []
        self.usage: UsageMetadata = _zero_usage()
        self.reset()

    def reset(self) -> None:
        """Forget everything but the system message."""
        from tokentide.messages import SystemMessage

        self.messages = [SystemMessage(self.system)] if self.system else []
        self.usage = _zero_usage()

    def add_question(self, text: str) -> None:
        from tokentide.messages import HumanMessage

        self.messages.append(HumanMessage(text))

    def drop_question(self) -> None:
        """Remove the last message if it is an unanswered question (its turn failed)."""
        if self.messages and self.messages[-1].type == "human":
            self.messages.pop()

    def add_reply(self, message: AIMessage) -> None:
        from tokentide.messages import add_usage

        self.messages.append(message)
        if message.usage_metadata:
            self.usage = add_usage(self.usage, message.usage_metadata) or self.usage

    def to_json(self, model: str) -> dict[str, Any]:
        """The saved form: ``{"model": ..., "messages": [...], "usage": {...}}``."""
        return {
            "model": model,
            "messages": [message.model_dump() for message in self.messages],
            "usage": dict(self.usage),
        }

    def save(self, path: str | os.PathLike[str], model: str) -> None:
        """Write the conversation to ``path`` as JSON (UTF-8)."""
        text = json.dumps(self.to_json(model), ensure_ascii=False, indent=2)
        with open(path, "w", encoding="utf-8") as file:
            file.write(text + "\n")

    def load(self, path: str | os.PathLike[str]) -> str | None:
        """Replace the conversation with the one saved in ``path``; returns its model spec.

        Raises `ConversationFileError` (the conversation is left unchanged) when the file
        cannot be read or does not hold a valid conversation.
        """
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except OSError as exc:
            raise ConversationFileError(exc.strerror or str(exc)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConversationFileError(f"not JSON: {exc}") from None
        messages, usage, model = _parse(data)
        self.messages, self.usage = messages, usage
        return model


def _zero_usage() -> UsageMetadata:
    return {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def _parse(data: Any) -> tuple[list[BaseMessage], UsageMetadata, str | None]:
    """Validate a loaded JSON document; returns its messages, usage and model spec."""
    from tokentide.messages import message_from_dict

    if not isinstance(data, Mapping) or not isinstance(data.get("messages"), list):
        raise ConversationFileError(
            "not a conversation: expected a JSON object with a 'messages' list"
        )
    messages = []
    for index, item in enumerate(data["messages"]):
        try:
            messages.append(message_from_dict(item))
        except (TypeError, ValueError, KeyError) as exc:
            raise ConversationFileError(f"messages[{index}]: {exc}") from None
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise ConversationFileError("'model' must be a string")
    return messages, _parse_usage(data.get("usage")), model


def _parse_usage(raw: Any) -> UsageMetadata:
    usage = _zero_usage()
    if raw is None:
        return usage
    if not isinstance(raw, Mapping):
        raise ConversationFileError("'usage' must be an object of token counts")
    for key in _USAGE_KEYS:
        value = raw.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConversationFileError(f"usage.{key} must be a count, got {value!r}")
        usage[key] = value  # type: ignore[literal-required]
    return usage
