"""``tokentide chat --tools module:attr``: the chat runs an agent that can call tools.

The tools (a list: ``@tool`` objects or plain functions with type hints and a docstring) are
loaded from ``module:attr``; each question runs ``create_react_agent(model, tools)`` on the
conversation. The answer streams on stdout as usual; each tool call and each result is a dim
line on stderr, shown when the model has finished asking and when the tool has answered.

Example::

    # tools.py
    def get_weather(city: str) -> str:
        \"\"\"Get the weather for a city.\"\"\"
        return f"It's always sunny in {city}!"

    TOOLS = [get_weather]

    tokentide chat --model local --tools tools:TOOLS

With ``--approve`` the agent is ``create_agent`` with a ``HumanInTheLoopMiddleware`` gating
every tool: before each call the chat asks ``y`` (run it), ``n`` (reject it; the model is told)
or ``e`` (edit the arguments as JSON, then run it).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokentide.messages import AIMessageChunk, BaseMessage

__all__ = ["AgentTurn", "ToolsSpecError", "load_tools", "make_agent"]

_RESULT_WIDTH = 160


class ToolsSpecError(ValueError):
    """``--tools`` names nothing that can be loaded as a list of tools."""


def load_tools(spec: str) -> list[Any]:
    """The tools named by ``module:attr`` (a list or tuple of tools or functions; a single
    tool is accepted too). The current directory is importable, as with ``serve --graph``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ToolsSpecError(f"--tools {spec!r}: expected MODULE:ATTR, e.g. mytools:TOOLS")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolsSpecError(f"--tools {spec!r}: cannot import {module_name!r}: {exc}") from exc
    value = getattr(module, attr, None)
    if value is None:
        raise ToolsSpecError(f"--tools {spec!r}: {module_name!r} has no {attr!r}")
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or not all(callable(item) or hasattr(item, "invoke") for item in items):
        raise ToolsSpecError(
            f"--tools {spec!r}: expected a list of tools (@tool objects or functions), "
            f"got {type(value).__name__}"
        )
    from tokentide.tools import BaseTool, tool

    return [item if isinstance(item, BaseTool) else tool(item) for item in items]


def make_agent(model: Any, tools: list[Any], *, approve: bool) -> Any:
    """The chat's agent: ``create_react_agent``, or with ``approve`` a ``create_agent`` that
    pauses before every tool call (a new thread per question, in memory)."""
    if not approve:
        from tokentide.prebuilt import create_react_agent

        return create_react_agent(model, tools)
    from tokentide.agents import create_agent
    from tokentide.agents.middleware import HumanInTheLoopMiddleware
    from tokentide.checkpoint import InMemorySaver

    review: Any = {"allowed_decisions": ["approve", "edit", "reject"]}
    gate = HumanInTheLoopMiddleware(interrupt_on={t.name: review for t in tools})
    return create_agent(model, tools, middleware=[gate], checkpointer=InMemorySaver())


class AgentTurn:
    """One question answered by the agent: its text chunks (what the terminal shows) and, as
    they complete, the messages it adds to the conversation.

    ``note`` receives the dim lines (``-> name {args}``, ``<- name: result``); ``messages``
    holds the agent's new messages (AI messages with tool calls, tool results, the answer);
    ``partial`` the text of a model turn that did not finish (after Ctrl-C or an error).
    ``ask`` (with ``--approve``) is given each action request of a paused agent and its
    review config, and returns the person's decision.
    """

    def __init__(
        self,
        agent: Any,
        note: Callable[[str], None],
        ask: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.agent = agent
        self.note = note
        self.ask = ask
        self.messages: list[BaseMessage] = []
        self.partial = ""
        self._seen: set[str] = set()

    def chunks(self, conversation: Sequence[BaseMessage]) -> Iterator[AIMessageChunk]:
        """The text of the agent's model turns as chunks, for `print_reply`; a paused agent
        is asked about and resumed until it ends."""
        import uuid

        value: Any = {"messages": list(conversation)}
        config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}} if self.ask else None
        while True:
            paused: list[Any] = []
            yield from self._one_run(value, config, paused)
            if not paused or self.ask is None:
                return
            value = self._decide(paused)

    def _one_run(self, value: Any, config: Any, paused: list[Any]) -> Iterator[AIMessageChunk]:
        from tokentide.messages import AIMessageChunk

        stream = self.agent.stream(value, config, stream_mode=["messages", "updates"])
        try:
            for mode, item in stream:
                if mode == "updates":
                    if isinstance(item, dict) and "__interrupt__" in item:
                        paused.extend(item["__interrupt__"])
                    else:
                        self._update(item)
                    continue
                chunk = item[0]
                if isinstance(chunk, AIMessageChunk) and (chunk.content or chunk.usage_metadata):
                    self.partial += chunk.content
                    yield AIMessageChunk(chunk.content, usage_metadata=chunk.usage_metadata)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def _decide(self, paused: list[Any]) -> Any:
        """The ``Command`` resuming the agent with a decision for every pending call."""
        from tokentide.graph import Command

        assert self.ask is not None
        decisions: list[dict[str, Any]] = []
        for interrupt in paused:
            request = interrupt.value
            pairs = zip(request["action_requests"], request["review_configs"], strict=True)
            decisions.extend(self.ask(action, review) for action, review in pairs)
        return Command(resume={"decisions": decisions})

    def _update(self, update: Any) -> None:
        from tokentide.messages import AIMessage, ToolMessage

        for value in update.values() if isinstance(update, dict) else ():
            found = value.get("messages", []) if isinstance(value, dict) else []
            for message in found if isinstance(found, list) else [found]:
                if message.id is not None and message.id in self._seen:
                    continue  # the review node hands the model's message on again
                if message.id is not None:
                    self._seen.add(message.id)
                self.messages.append(message)
                if isinstance(message, AIMessage):
                    self.partial = ""
                    for call in message.tool_calls:
                        args = json.dumps(call["args"], ensure_ascii=False)
                        self.note(f"-> {call['name']} {args}")
                elif isinstance(message, ToolMessage):
                    self.note(_result_line(message))


def _result_line(message: Any) -> str:
    text = " ".join(str(message.text).split())
    if len(text) > _RESULT_WIDTH:
        text = text[: _RESULT_WIDTH - 1] + "\u2026"
    failed = " (error)" if getattr(message, "status", "success") == "error" else ""
    return f"<- {message.name or 'tool'}{failed}: {text}"
