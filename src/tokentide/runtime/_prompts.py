"""Prompt templates: fill ``{variable}`` slots and hand the model a prompt value.

A template string is compiled once into literal pieces and slots, so formatting is one join.
Templates are runnables of run type ``"prompt"``: in a chain they report ``on_prompt_start`` and
``on_prompt_end`` (never stream events, as LangChain), and their output (a prompt value) is what
chat models accept as input.
"""

from __future__ import annotations

import string
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from tokentide.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
)

from ._base import Runnable, fold
from ._config import RunnableConfig
from ._context import RunContext

__all__ = [
    "AIMessagePromptTemplate",
    "BasePromptTemplate",
    "ChatPromptTemplate",
    "ChatPromptValue",
    "HumanMessagePromptTemplate",
    "MessagesPlaceholder",
    "MissingVariablesError",
    "PromptTemplate",
    "PromptValue",
    "StringPromptValue",
    "SystemMessagePromptTemplate",
    "get_buffer_string",
]

_PREFIXES = {"human": "Human", "ai": "AI", "system": "System", "tool": "Tool"}


def get_buffer_string(messages: Sequence[BaseMessage]) -> str:
    """The conversation as text, one ``Role: content`` line per message (LangChain's format).

    Example::

        get_buffer_string([HumanMessage("hi")])  # "Human: hi"
    """
    lines = []
    for message in messages:
        if isinstance(message, ChatMessage):
            prefix = message.role
        else:
            prefix = _PREFIXES.get(message.type, message.type.capitalize())
        lines.append(f"{prefix}: {message.content}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- values


class PromptValue:
    """What a prompt template produces: text for completion models, messages for chat models."""

    __slots__ = ()

    def to_string(self) -> str:
        raise NotImplementedError

    def to_messages(self) -> list[BaseMessage]:
        raise NotImplementedError


class StringPromptValue(PromptValue):
    """A filled-in text prompt.

    Example::

        value = PromptTemplate.from_template("Tell me about {topic}").invoke({"topic": "owls"})
        value.to_string()    # "Tell me about owls"
        value.to_messages()  # [HumanMessage("Tell me about owls")]
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def to_string(self) -> str:
        return self.text

    def to_messages(self) -> list[BaseMessage]:
        return [HumanMessage(self.text)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StringPromptValue) and other.text == self.text

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StringPromptValue(text={self.text!r})"


class ChatPromptValue(PromptValue):
    """A filled-in chat prompt: a list of messages.

    Example::

        value = ChatPromptTemplate.from_messages([("human", "hi {name}")]).invoke({"name": "Bo"})
        value.to_messages()  # [HumanMessage("hi Bo")]
        value.to_string()    # "Human: hi Bo"
    """

    __slots__ = ("messages",)

    def __init__(self, messages: Sequence[BaseMessage]) -> None:
        self.messages = list(messages)

    def to_string(self) -> str:
        return get_buffer_string(self.messages)

    def to_messages(self) -> list[BaseMessage]:
        return list(self.messages)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatPromptValue) and other.messages == self.messages

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChatPromptValue(messages={self.messages!r})"


# ---------------------------------------------------------------------------------- errors


class MissingVariablesError(KeyError):
    """A prompt was formatted without some of its variables (a ``KeyError``, as LangChain's).

    ``missing`` and ``expected`` hold the variable names.
    """

    def __init__(self, owner: str, missing: Sequence[str], expected: Sequence[str], got: Any):
        self.missing = sorted(missing)
        self.expected = sorted(expected)
        self.message = (
            f"Input to {owner} is missing variables {self.missing}. Expected: {self.expected}. "
            f"Received: {sorted(got)}. Write {{{{ and }}}} for literal braces in a template."
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------------------------- templates

_Piece = tuple[str, str | None, str | None, str]  # (literal, variable, conversion, spec)
_FORMATTER = string.Formatter()
_CONVERSIONS: dict[str | None, Callable[[Any], Any]] = {
    None: lambda v: v,
    "s": str,
    "r": repr,
    "a": ascii,
}


def _compile(template: str) -> tuple[list[_Piece], list[str]]:
    """Split a ``str.format`` template into pieces; return them and the variable names."""
    if not isinstance(template, str):
        raise TypeError(f"a prompt template must be a string, got {type(template).__name__}")
    pieces: list[_Piece] = []
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid prompt template ({exc}): {template!r:.80}") from exc
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None, None, ""))
            continue
        if not field.isidentifier():
            raise ValueError(
                f"invalid variable name {field!r} in prompt template {template!r:.80}: use a "
                "name like {topic} (no attribute access, indexing or positional fields)"
            )
        if spec and ("{" in spec):
            raise ValueError(f"nested fields are not supported in a prompt template: {spec!r}")
        pieces.append((literal, field, conversion, spec or ""))
        if field not in names:
            names.append(field)
    return pieces, names


def _render(pieces: list[_Piece], values: Mapping[str, Any]) -> str:
    out: list[str] = []
    for literal, name, conversion, spec in pieces:
        out.append(literal)
        if name is not None:
            value = _CONVERSIONS[conversion](values[name])
            out.append(value if type(value) is str and not spec else format(value, spec))
    return "".join(out)


class BasePromptTemplate(Runnable[Any, PromptValue]):
    """Common behaviour of prompt templates: input checks, partials, runnable hooks."""

    run_type = "prompt"
    input_variables: list[str]
    optional_variables: list[str]
    partial_variables: dict[str, Any]

    def _all_variables(self) -> list[str]:
        raise NotImplementedError

    def _set_variables(self, partial_variables: Mapping[str, Any] | None) -> None:
        self.partial_variables = dict(partial_variables or {})
        optional = set(self.optional_variables)
        self.input_variables = sorted(
            v
            for v in self._all_variables()
            if v not in self.partial_variables and v not in optional
        )

    def _values(self, input: Any) -> dict[str, Any]:
        """The variables for one call: partials, then the input (a dict, or the one value)."""
        if not isinstance(input, Mapping):
            if len(self.input_variables) == 1:
                input = {self.input_variables[0]: input}
            else:
                raise TypeError(
                    f"{self.get_name()} expects a dict of variables {self.input_variables} as "
                    f"input, got {type(input).__name__}"
                )
        values = {
            key: value() if callable(value) else value
            for key, value in self.partial_variables.items()
        }
        values.update(input)
        missing = [v for v in self.input_variables if v not in values]
        if missing:
            raise MissingVariablesError(self.get_name(), missing, self.input_variables, input)
        return values

    def _prompt_value(self, values: dict[str, Any]) -> PromptValue:
        raise NotImplementedError

    def format_prompt(self, **kwargs: Any) -> PromptValue:
        """The prompt value for these variables (what ``invoke`` returns)."""
        return self._prompt_value(self._values(kwargs))

    def partial(self, **kwargs: Any) -> BasePromptTemplate:
        """A copy with some variables filled in (values, or functions called at format time)."""
        raise NotImplementedError

    # A prompt's output is one value: it reports start and end, never stream events.
    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> PromptValue:
        return self._prompt_value(self._values(input))

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[PromptValue]:
        yield self.invoke(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[PromptValue]:
        yield await self.ainvoke(input, config, **kwargs)

    def transform(
        self, inputs: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[PromptValue]:
        yield self.invoke(fold(list(inputs)), config, **kwargs)

    async def atransform(
        self, inputs: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[PromptValue]:
        yield await self.ainvoke(fold([item async for item in inputs]), config, **kwargs)

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> PromptValue:
        return self._call(input, run)


class PromptTemplate(BasePromptTemplate):
    """A text prompt with ``{variable}`` slots (``{{`` and ``}}`` for literal braces).

    Example::

        prompt = PromptTemplate.from_template("Tell me about {topic}")
        prompt.invoke({"topic": "owls"}).to_string()  # "Tell me about owls"
        prompt.format(topic="owls")                   # same text
    """

    def __init__(
        self,
        template: str,
        *,
        partial_variables: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self.template = template
        self._pieces, self._names = _compile(template)
        self.optional_variables = []
        self.name = name
        self._set_variables(partial_variables)

    @classmethod
    def from_template(
        cls, template: str, *, partial_variables: Mapping[str, Any] | None = None
    ) -> PromptTemplate:
        return cls(template, partial_variables=partial_variables)

    def _all_variables(self) -> list[str]:
        return list(self._names)

    def format(self, **kwargs: Any) -> str:
        """The filled-in text."""
        return _render(self._pieces, self._values(kwargs))

    def _prompt_value(self, values: dict[str, Any]) -> StringPromptValue:
        return StringPromptValue(_render(self._pieces, values))

    def partial(self, **kwargs: Any) -> PromptTemplate:
        return PromptTemplate(
            self.template, partial_variables={**self.partial_variables, **kwargs}, name=self.name
        )

    def __repr__(self) -> str:
        return f"PromptTemplate(template={self.template!r})"


# ---------------------------------------------------------------------------------- chat


class _MessageTemplate:
    """One message of a chat prompt whose content is a template."""

    message_class: ClassVar[type[BaseMessage]] = HumanMessage

    def __init__(self, template: str) -> None:
        self.template = template
        self._pieces, self.variables = _compile(template)

    @classmethod
    def from_template(cls, template: str) -> _MessageTemplate:
        return cls(template)

    def format_messages(self, values: Mapping[str, Any]) -> list[BaseMessage]:
        return [self.message_class(_render(self._pieces, values))]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(template={self.template!r})"


class SystemMessagePromptTemplate(_MessageTemplate):
    """A system message with ``{variable}`` slots (same as ``("system", "...")``)."""

    message_class = SystemMessage


class HumanMessagePromptTemplate(_MessageTemplate):
    """A human message with ``{variable}`` slots (same as ``("human", "...")``)."""

    message_class = HumanMessage


class AIMessagePromptTemplate(_MessageTemplate):
    """An AI message with ``{variable}`` slots (same as ``("ai", "...")``)."""

    message_class = AIMessage


class MessagesPlaceholder:
    """A slot for a list of messages (chat history) in a chat prompt.

    ``optional=True`` makes the variable optional (missing means no messages); ``n_messages``
    keeps only the last ``n`` messages.

    Example::

        prompt = ChatPromptTemplate.from_messages(
            [("system", "Be terse."), MessagesPlaceholder("history"), ("human", "{q}")]
        )
        prompt.invoke({"history": [("human", "hi"), ("ai", "hello")], "q": "bye"})
    """

    def __init__(
        self, variable_name: str, *, optional: bool = False, n_messages: int | None = None
    ) -> None:
        if not isinstance(variable_name, str) or not variable_name.isidentifier():
            raise ValueError(f"MessagesPlaceholder needs a variable name, got {variable_name!r}")
        self.variable_name = variable_name
        self.optional = optional
        self.n_messages = n_messages
        self.variables = [variable_name]

    def format_messages(self, values: Mapping[str, Any]) -> list[BaseMessage]:
        value = values.get(self.variable_name) if self.optional else values[self.variable_name]
        if value is None:
            return []
        if isinstance(value, str):
            raise TypeError(
                f"MessagesPlaceholder {self.variable_name!r} expects a list of messages, got a "
                "string; pass [('human', text)] for one message"
            )
        try:
            messages = convert_to_messages(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"MessagesPlaceholder {self.variable_name!r}: {exc}") from exc
        if self.n_messages is not None:
            messages = messages[-self.n_messages :] if self.n_messages > 0 else []
        return messages

    def __repr__(self) -> str:
        return f"MessagesPlaceholder(variable_name={self.variable_name!r})"


_ROLE_TEMPLATES: dict[str, type[_MessageTemplate]] = {
    "system": SystemMessagePromptTemplate,
    "developer": SystemMessagePromptTemplate,
    "human": HumanMessagePromptTemplate,
    "user": HumanMessagePromptTemplate,
    "ai": AIMessagePromptTemplate,
    "assistant": AIMessagePromptTemplate,
}


class _FixedMessage:
    """A message object given as is (its content is not a template)."""

    def __init__(self, message: BaseMessage) -> None:
        self.message = message
        self.variables: list[str] = []

    def format_messages(self, values: Mapping[str, Any]) -> list[BaseMessage]:
        return [self.message]


def _placeholder_from(text: Any, where: str) -> MessagesPlaceholder:
    if isinstance(text, str) and text.startswith("{") and text.endswith("}"):
        inner = text[1:-1]
        if inner.isidentifier():
            return MessagesPlaceholder(inner, optional=True)
    raise ValueError(f"{where}: a placeholder is written ('placeholder', '{{name}}'), got {text!r}")


def _part(item: Any, where: str) -> list[Any]:
    if isinstance(item, (_MessageTemplate, MessagesPlaceholder)):
        return [item]
    if isinstance(item, BaseMessage):
        return [_FixedMessage(item)]
    if isinstance(item, ChatPromptTemplate):
        return list(item.parts)
    if isinstance(item, str):
        return [HumanMessagePromptTemplate(item)]
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
        role, content = item
        if role == "placeholder":
            return [_placeholder_from(content, where)]
        cls = _ROLE_TEMPLATES.get(role)
        if cls is None:
            raise ValueError(
                f"{where}: unknown role {role!r}; expected one of "
                f"{', '.join([*_ROLE_TEMPLATES, 'placeholder'])}"
            )
        if not isinstance(content, str):
            raise TypeError(f"{where}: the template must be a string, got {type(content).__name__}")
        return [cls(content)]
    raise TypeError(
        f"{where}: expected a (role, template) pair, a template string, a message, a "
        f"MessagesPlaceholder or a message template, got {type(item).__name__}: {item!r:.60}"
    )


class ChatPromptTemplate(BasePromptTemplate):
    """A chat prompt: message templates with ``{variable}`` slots and message placeholders.

    Items of :meth:`from_messages`: ``(role, template)`` pairs (role ``system``, ``human``/
    ``user``, ``ai``/``assistant``), ``("placeholder", "{history}")`` (an optional list of
    messages), :class:`MessagesPlaceholder`, message objects (used as they are), template
    strings (a human message) and message templates.

    Example::

        prompt = ChatPromptTemplate.from_messages(
            [("system", "You are {role}."), MessagesPlaceholder("history"), ("human", "{question}")]
        )
        prompt.input_variables  # ["history", "question", "role"]
        chain = prompt | model | StrOutputParser()
        for text in chain.stream({"role": "a poet", "history": [], "question": "Why?"}):
            print(text, end="")
    """

    def __init__(
        self,
        messages: Sequence[Any],
        *,
        partial_variables: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
            raise TypeError(
                "ChatPromptTemplate takes a list of messages, e.g. [('human', '{question}')]; "
                "use ChatPromptTemplate.from_template() for one template string"
            )
        self.parts: list[Any] = []
        for i, item in enumerate(messages):
            self.parts.extend(_part(item, f"messages[{i}]"))
        self.optional_variables = sorted(
            p.variable_name for p in self.parts if isinstance(p, MessagesPlaceholder) and p.optional
        )
        self.name = name
        self._set_variables(partial_variables)

    @classmethod
    def from_messages(
        cls, messages: Sequence[Any], *, partial_variables: Mapping[str, Any] | None = None
    ) -> ChatPromptTemplate:
        return cls(messages, partial_variables=partial_variables)

    @classmethod
    def from_template(cls, template: str) -> ChatPromptTemplate:
        """A chat prompt of one human message."""
        return cls([HumanMessagePromptTemplate(template)])

    @property
    def messages(self) -> list[Any]:
        return list(self.parts)

    def _all_variables(self) -> list[str]:
        names: list[str] = []
        for part in self.parts:
            names.extend(v for v in part.variables if v not in names)
        return names

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The filled-in messages."""
        return self._messages(self._values(kwargs))

    def _messages(self, values: dict[str, Any]) -> list[BaseMessage]:
        out: list[BaseMessage] = []
        for part in self.parts:
            out.extend(part.format_messages(values))
        return out

    def _prompt_value(self, values: dict[str, Any]) -> ChatPromptValue:
        return ChatPromptValue(self._messages(values))

    def format(self, **kwargs: Any) -> str:
        """The filled-in messages as one text (``Role: content`` lines)."""
        return get_buffer_string(self.format_messages(**kwargs))

    def partial(self, **kwargs: Any) -> ChatPromptTemplate:
        new = ChatPromptTemplate.__new__(ChatPromptTemplate)
        new.parts = list(self.parts)
        new.optional_variables = list(self.optional_variables)
        new.name = self.name
        new._set_variables({**self.partial_variables, **kwargs})
        return new

    def __add__(self, other: Any) -> ChatPromptTemplate:
        """Concatenate two chat prompts (or a prompt and message-like items)."""
        others = other.parts if isinstance(other, ChatPromptTemplate) else _part(other, "other")
        new = ChatPromptTemplate([*self.parts, *others])
        new._set_variables(self.partial_variables)
        return new

    def __repr__(self) -> str:
        return f"ChatPromptTemplate(messages={self.parts!r})"
