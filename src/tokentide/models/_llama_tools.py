"""Tool calls and JSON output for the embedded llama.cpp chat model (sans-I/O parts).

How a local model calls tools:

- The tools are described in the system message, with the reply format
  ``<tool_call>[{"name": ..., "arguments": {...}}, ...]</tool_call>`` (the format SmolLM2 and
  other small instruct models were tuned with; Hermes and Qwen models use the same tag).
- A forced call (``tool_choice="required"`` or a tool name) appends the opening tag to the
  prompt and samples the rest under a GBNF grammar built from the tools' JSON schemas
  (`call_grammar`): the model can only write well-formed calls, to tools that exist, with
  arguments that match their schemas.
- ``tool_choice="auto"`` samples freely; `OpenerWatcher` holds back the first characters
  while they could still be the opening tag. If the reply starts with it, free sampling stops
  and the call is sampled under the same grammar; otherwise the reply is text. So the model
  chooses, and a call it starts is always well-formed.

`ToolCallParser` turns the grammar-shaped text into ``tool_call_chunks`` as it streams: one
chunk with the id and name when a call's name is complete, then the arguments in pieces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import uuid4

from tokentide.messages import AIMessage, BaseMessage, ToolCallChunk, ToolMessage

from ._tools import convert_to_openai_tool

__all__ = [
    "OPENER",
    "CLOSER",
    "LocalTools",
    "OpenerWatcher",
    "ToolCallParser",
    "json_grammar",
    "render_chat",
]

OPENER = "<tool_call>"
CLOSER = "</tool_call>"
ChoiceMode = Literal["auto", "none", "required"]

_GBNF_LITERAL = re.compile(r'["\\\r\n]')
_GBNF_ESCAPES = {'"': '\\"', "\\": "\\\\", "\r": "\\r", "\n": "\\n"}


def _literal(text: str) -> str:
    return '"' + _GBNF_LITERAL.sub(lambda m: _GBNF_ESCAPES[m.group(0)], text) + '"'


def _converter() -> Any:
    from llama_cpp import llama_grammar

    converter: Any = llama_grammar.SchemaConverter
    return converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _visit(converter: Any, schema: Mapping[str, Any], rule: str) -> str:
    """Add the rules for ``schema`` to ``converter``; returns the name of its top rule."""
    schema = dict(schema) or {"type": "object"}
    resolved = converter.resolve_refs(schema, "")
    return str(converter.visit(resolved, rule))


def json_grammar(schema: Mapping[str, Any] | None) -> str:
    """GBNF for one JSON value following ``schema`` (any JSON object when ``None``)."""
    converter = _converter()
    _visit(converter, schema if schema is not None else {"type": "object"}, "")
    return str(converter.format_grammar())


# ------------------------------------------------------------------------------ tools


@dataclass
class LocalTools:
    """The tools offered to one call of a local model, with the caller's choice.

    ``mode``: ``"auto"`` (the model chooses), ``"none"`` (never call), ``"required"`` (at
    least one call) or ``"named"`` (one call of ``forced``). ``parallel``: whether a forced
    reply may hold several calls (each tool at most once: at most ``len(tools)`` calls).
    """

    tools: list[dict[str, Any]]
    mode: Literal["auto", "none", "required", "named"] = "auto"
    forced: str | None = None
    parallel: bool = True

    @classmethod
    def from_request(
        cls, tools: Sequence[Any], tool_choice: Any = None, parallel_tool_calls: bool | None = None
    ) -> LocalTools:
        """Validate what ``bind_tools`` (or a chat completion request) passed."""
        functions = [_function(tool) for tool in tools]
        names = [fn["name"] for fn in functions]
        if len(set(names)) != len(names):
            raise ValueError(f"two tools have the same name: {names}")
        mode, forced = _choice(tool_choice, names)
        return cls(functions, mode, forced, parallel_tool_calls is not False)

    @property
    def calls_possible(self) -> bool:
        return bool(self.tools) and self.mode != "none"

    @property
    def forces_call(self) -> bool:
        return self.calls_possible and self.mode in ("required", "named")

    def system_text(self) -> str:
        """What the system message says about the tools and the call format."""
        offered = [fn for fn in self.tools if self.forced in (None, fn["name"])]
        lines = "\n".join(json.dumps({"type": "function", "function": fn}) for fn in offered)
        return (
            "You can call these functions:\n<tools>\n"
            f"{lines}\n</tools>\n"
            "To call functions, reply only with the calls, in this format:\n"
            f'{OPENER}[{{"name": "function_name", "arguments": {{"argument": "value"}}}}]{CLOSER}\n'
            "When no function is needed, answer the user in plain text."
        )

    def grammar(self) -> str:
        """GBNF for what follows the opening tag: a JSON array of calls, then the closing
        tag. Each call names an offered tool and its arguments follow that tool's schema."""
        converter = _converter()
        rules: list[str] = []  # ours, added to the converter's rules for the arguments
        alternatives = []
        for i, fn in enumerate(self.tools):
            if self.forced not in (None, fn["name"]):
                continue
            args = _visit(converter, fn.get("parameters") or {"type": "object"}, f"tool{i}-args")
            head = _literal(f'{{"name": "{fn["name"]}", "arguments": ')
            rules.append(f'tool{i}-call ::= {head} {args} "}}"')
            alternatives.append(f"tool{i}-call")
        rules.append("call ::= " + " | ".join(alternatives))
        extra = len(alternatives) - 1 if self.parallel and self.mode != "named" else 0
        more = f' ( ", " call ){{0,{extra}}}' if extra > 0 else ""
        rules.append(f'root ::= "[" call{more} "]" {_literal(CLOSER)}')
        return "\n".join([str(converter.format_grammar()), *rules])


def _function(tool: Any) -> dict[str, Any]:
    """The OpenAI ``function`` dict of one tool (tokentide tools, functions, pydantic models,
    TypedDicts, JSON schemas, OpenAI tool dicts or bare function dicts)."""
    if isinstance(tool, Mapping) and "name" in tool and "type" not in tool:
        fn = dict(tool)  # a bare function dict: {"name", "description", "parameters"}
    else:
        fn = dict(convert_to_openai_tool(tool)["function"])
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ValueError(f"a tool needs a name: {tool!r}")
    given = fn.get("parameters")
    fn["parameters"] = dict(given) if isinstance(given, Mapping) else {"type": "object"}
    return fn


def _choice(choice: Any, names: list[str]) -> tuple[Any, str | None]:
    if choice is None or choice is False or choice == "auto":
        return "auto", None
    if choice == "none":
        return "none", None
    if choice is True or choice in ("required", "any"):
        return "required", None
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
        if not isinstance(name, str):
            raise ValueError(f"tool_choice={dict(choice)!r} names no function")
        choice = name
    if isinstance(choice, str) and choice in names:
        return "named", choice
    raise ValueError(
        f"tool_choice={choice!r} is not 'auto', 'none', 'required' or the name of a bound "
        f"tool (tools: {names})"
    )


# ------------------------------------------------------------------------------ prompts


def render_chat(messages: Sequence[BaseMessage], system_extra: str | None) -> list[dict[str, str]]:
    """``{"role", "content"}`` dicts for the chat template: tool calls written in the
    ``<tool_call>`` format, tool results as ``tool`` messages, ``system_extra`` (what the tools
    or the JSON schema require) added to the system message (one is created if needed)."""
    chat: list[dict[str, str]] = []
    for message in messages:
        role = message.to_dict()["role"]
        content = message.text
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = [{"name": c["name"], "arguments": c["args"]} for c in message.tool_calls]
            content = (content + "\n" if content else "") + OPENER + json.dumps(calls) + CLOSER
        elif isinstance(message, ToolMessage):
            role = "tool"
        chat.append({"role": role, "content": content})
    if system_extra:
        if chat and chat[0]["role"] == "system":
            chat[0] = {"role": "system", "content": f"{chat[0]['content']}\n\n{system_extra}"}
        else:
            chat.insert(0, {"role": "system", "content": system_extra})
    return chat


# ------------------------------------------------------------------------------ streaming


@dataclass
class OpenerWatcher:
    """Decides, from the first characters of a freely sampled reply, whether it is text or a
    tool call (it starts with ``<tool_call>``, after any white space).

    ``feed`` returns the text that can be shown now; ``decision`` becomes ``"text"`` or
    ``"call"``; ``lead`` keeps the white space before the tag.
    """

    decision: Literal["text", "call"] | None = None
    _held: str = field(default="", repr=False)

    @property
    def lead(self) -> str:
        return self._held[: len(self._held) - len(self._held.lstrip())]

    def feed(self, text: str) -> str:
        if self.decision == "text":
            return text
        if self.decision == "call":
            return ""
        self._held += text
        stripped = self._held.lstrip()
        if stripped.startswith(OPENER):
            self.decision = "call"
            return ""
        if stripped and not OPENER.startswith(stripped):
            self.decision = "text"
            held, self._held = self._held, ""
            return held
        return ""

    def flush(self) -> str:
        """The text held back when the reply ended undecided (it was text after all)."""
        held, self._held = self._held, ""
        if self.decision is None:
            self.decision = "text"
        return held


@dataclass
class ToolCallParser:
    """Turns the text that follows ``<tool_call>`` (shaped by `LocalTools.grammar`) into
    ``tool_call_chunks`` as it streams.

    Example::

        parser = ToolCallParser()
        parser.feed('[{"name": "add", "arguments": {"a": ')  # [{id, name "add", args ""}, {args '{"a": '}]
        parser.feed('1}}]</tool_call>')                      # [{args "1}"}]
    """

    count: int = 0
    _state: str = "between"  # between | head | args | tail
    _head: str = ""
    _depth: int = 0
    _in_string: bool = False
    _escape: bool = False

    def feed(self, text: str) -> list[ToolCallChunk]:
        out: list[ToolCallChunk] = []
        args: list[str] = []
        for ch in text:
            if self._state == "between":
                if ch == "{":
                    self._state, self._head = "head", "{"
            elif self._state == "head":
                self._head += ch
                if self._head.endswith('"arguments":'):
                    out.append(self._start())
                    self._state = "args"
            elif self._state == "args":
                if self._step(ch):
                    args.append(ch)
                    if self._depth == 0 and not self._in_string:
                        self._state = "tail"
                        out.append(self._args("".join(args)))
                        args = []
            elif ch == "}":  # the end of the call object
                self._state = "between"
        if args:
            out.append(self._args("".join(args)))
        return out

    def _step(self, ch: str) -> bool:
        """Track strings and nesting in the arguments; False for white space before them."""
        if self._depth == 0 and not self._in_string and ch in " \t\n\r":
            return False
        if self._in_string:
            if self._escape:
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_string = False
        elif ch == '"':
            self._in_string = True
        elif ch in "{[":
            self._depth += 1
        elif ch in "}]":
            self._depth -= 1
        return True

    def _start(self) -> ToolCallChunk:
        match = re.search(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"', self._head)
        name = json.loads(f'"{match.group(1)}"') if match else ""
        index = self.count
        self.count += 1
        self._depth, self._in_string, self._escape = 0, False, False
        call_id = f"call_{uuid4().hex[:24]}"
        return {"name": name, "args": "", "id": call_id, "index": index, "type": "tool_call_chunk"}

    def _args(self, piece: str) -> ToolCallChunk:
        return {
            "name": None,
            "args": piece,
            "id": None,
            "index": self.count - 1,
            "type": "tool_call_chunk",
        }
