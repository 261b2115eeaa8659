"""The two libraries side by side for the agent differential suite.

Each recipe builds its agent from a :class:`Lib`: tokentide's names, or LangChain's /
LangGraph's. Both sides get the same scripted replies: LangChain's model is a thin
``langchain_core`` chat model (``fakes.langchain_model``) that streams the very pieces
tokentide's ``FakeChatModel`` streams (converted chunk by chunk), so any difference comes
from the agents, not the models.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import langchain.agents as lc_agents
import langchain.tools as lc_tools
import langchain_core.messages as lc_messages
import langgraph.prebuilt as lg_prebuilt

import tokentide.agents as tt_agents
import tokentide.graph as tt_graph
import tokentide.messages as tt_messages
import tokentide.prebuilt as tt_prebuilt
import tokentide.tools as tt_tools
from differential_support import UUID, comparable_fields
from fakes.langchain_model import ScriptedLCModel
from tokentide.models import FakeChatModel

__all__ = ["LANGCHAIN", "TOKENTIDE", "Lib", "norm", "normalize"]


@dataclass
class Lib:
    name: str
    tools: Any
    messages: Any
    writer: Any

    def model(self, replies: list[Any]) -> Any:
        script = [self._reply(r) for r in replies]
        fake = FakeChatModel(script)
        if self.name == "tokentide":
            return fake
        return ScriptedLCModel(fake=fake)

    @staticmethod
    def _reply(reply: Any) -> Any:
        if isinstance(reply, str):
            return [p for p in re.split(r"(\s)", reply) if p]
        text, calls = reply
        return tt_messages.AIMessage(text, tool_calls=calls)

    def create_agent(self, model: Any, tools: list[Any], **kw: Any) -> Any:
        if self.name == "tokentide":
            return tt_agents.create_agent(model, tools, **kw)
        return lc_agents.create_agent(model, tools, **kw)

    def create_react_agent(self, model: Any, tools: list[Any], **kw: Any) -> Any:
        if self.name == "tokentide":
            return tt_prebuilt.create_react_agent(model, tools, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated in favour of create_agent
            return lg_prebuilt.create_react_agent(model, tools, **kw)

    def tool_node(self, tools: list[Any], **kw: Any) -> Any:
        if self.name == "tokentide":
            return tt_prebuilt.ToolNode(tools, **kw)
        return lg_prebuilt.ToolNode(tools, **kw)


TOKENTIDE = Lib("tokentide", tt_tools, tt_messages, tt_graph.get_stream_writer)


def _lg_writer() -> Any:
    import langgraph.config

    try:
        return langgraph.config.get_stream_writer()
    except RuntimeError:
        # LangGraph loses its run context in async code before Python 3.11 (its documented
        # limitation); the custom-mode cases are skipped there, other modes ignore the writes.
        if sys.version_info >= (3, 11):
            raise
        return lambda data: None


LANGCHAIN = Lib("langchain", lc_tools, lc_messages, _lg_writer)

# ------------------------------------------------------------------------------- normalizer

_BASE_MESSAGES = (lc_messages.BaseMessage, tt_messages.BaseMessage)


def _message(m: Any) -> tuple[Any, ...]:
    out: tuple[Any, ...] = (type(m).__name__, m.content, m.id is not None, m.name)
    if m.type == "tool":
        out += (m.tool_call_id, m.status, norm(m.artifact))
    calls = getattr(m, "tool_calls", None)
    if calls:
        out += (tuple((c["name"], repr(c["args"]), c["id"]) for c in calls),)
    chunks = getattr(m, "tool_call_chunks", None)
    if chunks:
        out += (tuple((c["name"], c["args"], c["id"], c["index"]) for c in chunks),)
    return out


def norm(value: Any) -> Any:
    """Messages -> their meaningful fields; ids, timestamps, run metadata the libraries fill
    differently (model options, LangSmith keys, our extra ``tool_call_id``) left out."""
    if isinstance(value, _BASE_MESSAGES):
        return _message(value)
    if isinstance(value, str):
        if value.startswith("1 validation error for "):
            return value.split("\n", 2)[:2]  # pydantic's text goes on with its own details
        return UUID.sub("<id>", value)
    if isinstance(value, dict):
        value = comparable_fields(value)
        return {
            k: norm(v) for k, v in value.items() if k not in ("id", "metadata", "remaining_steps")
        }
    if isinstance(value, (list, tuple)):
        return type(value)(norm(v) for v in value)
    return value


def normalize(items: list[Any]) -> list[Any]:
    return [norm(item) for item in items]
