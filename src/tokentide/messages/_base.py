"""The message types every layer passes around: system, human, chat and tool messages.

Messages are plain slotted objects: building one is a few attribute stores, and the metadata
dicts are only created when somebody reads them.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from ._merge import merge_dicts, merge_ids

__all__ = [
    "BaseMessage",
    "BaseMessageChunk",
    "ChatMessage",
    "HumanMessage",
    "HumanMessageChunk",
    "SystemMessage",
    "SystemMessageChunk",
    "ToolMessage",
]

_COMMON_FIELDS: tuple[tuple[str, Any], ...] = (
    ("content", ""),
    ("additional_kwargs", {}),
    ("response_metadata", {}),
    ("name", None),
    ("id", None),
)


def _title(text: str, width: int = 80) -> str:
    text = f" {text} "
    side = "=" * ((width - len(text)) // 2)
    return f"{side}{text}{side}{'=' if len(text) % 2 else ''}"


def _plain_copy(value: Any) -> Any:
    """Copy nested dicts and lists (much cheaper than ``copy.deepcopy`` for JSON-like data)."""
    if isinstance(value, dict):
        return {key: _plain_copy(item) for key, item in value.items()} if value else {}
    if isinstance(value, list):
        return [_plain_copy(item) for item in value] if value else []
    return value


class BaseMessage:
    """Base class of all messages: ``content`` text plus optional id, name and metadata.

    Subclasses set the class attribute ``type`` (LangChain's values). Messages compare equal
    when they have the same class and the same fields.

    Example::

        msg = HumanMessage("Hello")
        msg.content, msg.type  # ("Hello", "human")
    """

    __slots__ = ("content", "id", "name", "_additional_kwargs", "_response_metadata")

    type: ClassVar[str] = "base"
    # (field, default) in the order used by model_dump(), repr() and ==.
    _fields: ClassVar[tuple[tuple[str, Any], ...]] = _COMMON_FIELDS
    _openai_role: ClassVar[str] = ""

    content: str
    id: str | None
    name: str | None

    def __init__(
        self,
        content: str = "",
        *,
        id: str | None = None,
        name: str | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
    ) -> None:
        self.content = content
        self.id = id
        self.name = name
        self._additional_kwargs = additional_kwargs
        self._response_metadata = response_metadata

    @property
    def additional_kwargs(self) -> dict[str, Any]:
        """Provider-specific extra fields of the message."""
        value = self._additional_kwargs
        if value is None:
            value = self._additional_kwargs = {}
        return value

    @additional_kwargs.setter
    def additional_kwargs(self, value: dict[str, Any]) -> None:
        self._additional_kwargs = value

    @property
    def response_metadata(self) -> dict[str, Any]:
        """Metadata of the response, such as ``finish_reason`` and ``model_name``."""
        value = self._response_metadata
        if value is None:
            value = self._response_metadata = {}
        return value

    @response_metadata.setter
    def response_metadata(self, value: dict[str, Any]) -> None:
        self._response_metadata = value

    @property
    def text(self) -> str:
        """The text content of the message."""
        return self.content

    # ------------------------------------------------------------------ comparison and display

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented if not isinstance(other, BaseMessage) else False
        return all(getattr(self, key) == getattr(other, key) for key, _ in self._fields)

    __hash__ = None  # type: ignore[assignment]  # messages are mutable

    def __repr__(self) -> str:
        shown = [f"content={self.content!r}"]
        for key, default in self._fields[1:]:
            value = getattr(self, key)
            if value != default:
                shown.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def pretty_repr(self) -> str:
        """A human-readable block: a title line, the name if any, then the content."""
        lines = [_title(f"{self.type.title()} Message")]
        if self.name is not None:
            lines.append(f"Name: {self.name}")
        lines.append("")
        lines.append(self.content)
        return "\n".join(lines)

    def pretty_print(self) -> None:
        """Print `pretty_repr()`."""
        print(self.pretty_repr())

    # ------------------------------------------------------------------ serialization

    def model_dump(self) -> dict[str, Any]:
        """The fields as a plain dict (LangChain's field names plus ``type``)."""
        out = self._dump_common()
        for key, _ in self._fields[len(_COMMON_FIELDS) :]:
            value = getattr(self, key)
            out[key] = _plain_copy(value) if isinstance(value, (dict, list)) else value
        return out

    def _dump_common(self) -> dict[str, Any]:
        kwargs, metadata = self._additional_kwargs, self._response_metadata
        return {
            "content": self.content,
            "additional_kwargs": _plain_copy(kwargs) if kwargs else {},
            "response_metadata": _plain_copy(metadata) if metadata else {},
            "type": self.type,
            "name": self.name,
            "id": self.id,
        }

    def to_dict(self) -> dict[str, Any]:
        """The message in OpenAI's chat format, e.g. ``{"role": "user", "content": "hi"}``."""
        out: dict[str, Any] = {"role": self._openai_role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        return out

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy of the message, with the fields in ``update`` replaced."""
        new = copy.deepcopy(self) if deep else copy.copy(self)
        for key, value in (update or {}).items():
            setattr(new, key, value)
        return new


class SystemMessage(BaseMessage):
    """Instructions for the model.

    Example::

        SystemMessage("You are terse.")
    """

    __slots__ = ()
    type: ClassVar[str] = "system"
    _openai_role: ClassVar[str] = "system"


class HumanMessage(BaseMessage):
    """A message from the user.

    Example::

        HumanMessage("What is 2 + 2?")
    """

    __slots__ = ()
    type: ClassVar[str] = "human"
    _openai_role: ClassVar[str] = "user"


class ChatMessage(BaseMessage):
    """A message with an arbitrary ``role``.

    Example::

        ChatMessage("hi", role="critic")
    """

    __slots__ = ("role",)
    type: ClassVar[str] = "chat"
    _fields: ClassVar[tuple[tuple[str, Any], ...]] = (*_COMMON_FIELDS, ("role", ""))

    def __init__(
        self,
        content: str = "",
        *,
        role: str,
        id: str | None = None,
        name: str | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
    ) -> None:
        self.content = content
        self.role = role
        self.id = id
        self.name = name
        self._additional_kwargs = additional_kwargs
        self._response_metadata = response_metadata

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["role"] = self.role
        return out


class ToolMessage(BaseMessage):
    """The result of a tool call, sent back to the model.

    ``content`` that is not a string is converted with ``str()``; keep the raw value in
    ``artifact``.

    Example::

        ToolMessage("4", tool_call_id="call_1")
    """

    __slots__ = ("tool_call_id", "status", "artifact")
    type: ClassVar[str] = "tool"
    _openai_role: ClassVar[str] = "tool"
    _fields: ClassVar[tuple[tuple[str, Any], ...]] = (
        *_COMMON_FIELDS,
        ("tool_call_id", ""),
        ("artifact", None),
        ("status", "success"),
    )

    def __init__(
        self,
        content: Any = "",
        *,
        tool_call_id: str,
        status: str = "success",
        artifact: Any = None,
        id: str | None = None,
        name: str | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
    ) -> None:
        self.content = content if type(content) is str else str(content)
        self.tool_call_id = tool_call_id
        self.status = status
        self.artifact = artifact
        self.id = id
        self.name = name
        self._additional_kwargs = additional_kwargs
        self._response_metadata = response_metadata

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["tool_call_id"] = self.tool_call_id
        return out


class BaseMessageChunk(BaseMessage):
    """A piece of a streamed message; pieces of the same class merge with ``+``.

    Content is concatenated, metadata dicts are merged (see `merge_dicts`), the id is the first
    one seen (preferring provider ids over ``run-`` ids). `AIMessageChunk` overrides ``+`` with
    a merge that stays linear when thousands of chunks are folded.

    Example::

        HumanMessageChunk("Hel") + HumanMessageChunk("lo")  # HumanMessageChunk(content='Hello')
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Any:
        if type(other) is not type(self):
            return NotImplemented
        new = copy.copy(self)
        new.content = self.content + other.content
        new.id = merge_ids(self.id, other.id)
        new.name = self.name if self.name is not None else other.name
        new._additional_kwargs = _merge_optional(self._additional_kwargs, other._additional_kwargs)
        new._response_metadata = _merge_optional(self._response_metadata, other._response_metadata)
        return new


def _merge_optional(
    left: dict[str, Any] | None, right: dict[str, Any] | None
) -> dict[str, Any] | None:
    if not right:
        return dict(left) if left else None
    if not left:
        return dict(right)
    return merge_dicts(left, right)


class HumanMessageChunk(HumanMessage, BaseMessageChunk):
    """A streamed piece of a `HumanMessage`.

    Example::

        HumanMessageChunk("Hel") + HumanMessageChunk("lo")  # HumanMessageChunk(content='Hello')
    """

    __slots__ = ()
    type: ClassVar[str] = "HumanMessageChunk"


class SystemMessageChunk(SystemMessage, BaseMessageChunk):
    """A streamed piece of a `SystemMessage`.

    Example::

        SystemMessageChunk("Be ") + SystemMessageChunk("terse.")
    """

    __slots__ = ()
    type: ClassVar[str] = "SystemMessageChunk"
