"""One reply of the embedded chat model: plain text, JSON under a schema, or tool calls.

`ReplyPlan` reads what the caller bound (``tools``, ``tool_choice``, ``parallel_tool_calls``,
``response_format``); `LocalReply` drives the loaded model through the phases of the reply
(see `tokentide.models._llama_tools` for how tool calls are sampled).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokentide.messages import AIMessageChunk

from ._llama_runtime import GenerationStats, LlamaRuntime, SamplingOptions
from ._llama_tools import OPENER, LocalTools, OpenerWatcher, ToolCallParser, json_grammar
from ._tools import json_schema_for

__all__ = ["LocalReply", "ReplyPlan"]

_PLAN_KEYS = ("tools", "tool_choice", "parallel_tool_calls", "response_format")


@dataclass
class ReplyPlan:
    """What one reply must look like: ``tools`` offered (with the caller's choice) and/or
    ``schema``, the JSON schema its text must follow (``json_mode``: any JSON object)."""

    tools: LocalTools | None = None
    schema: dict[str, Any] | None = None
    json_mode: bool = False

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> ReplyPlan:
        """Take the reply options out of a call's ``kwargs`` (the rest are sampling options)."""
        tools, choice, parallel, response_format = (kwargs.pop(key, None) for key in _PLAN_KEYS)
        plan = cls()
        if tools:
            plan.tools = LocalTools.from_request(tools, choice, parallel)
        elif choice not in (None, "auto", "none"):
            raise ValueError(f"tool_choice={choice!r} needs tools: pass tools= or bind_tools()")
        if response_format is not None:
            plan.schema, plan.json_mode = _response_format(response_format)
        return plan

    def first_prompt(self, prompt: str) -> str:
        """The prompt the reply's first phase reads (a forced call: the opening tag added)."""
        if self.tools is not None and self.tools.forces_call:
            return prompt + OPENER
        return prompt

    def system_text(self) -> str | None:
        """What the system message must add for this reply (``None``: nothing)."""
        if self.tools is not None and self.tools.calls_possible:
            return self.tools.system_text()
        if self.schema is not None:
            return "Reply only with a JSON object that follows this JSON schema:\n" + json.dumps(
                self.schema
            )
        if self.json_mode:
            return "Reply only with a JSON object."
        return None

    def text_grammar(self) -> str | None:
        if self.schema is not None:
            return json_grammar(self.schema)
        if self.json_mode:
            return json_grammar(None)
        return None


def _response_format(value: Any) -> tuple[dict[str, Any] | None, bool]:
    """``(schema, json_mode)`` of a ``response_format`` (OpenAI's dict shapes, or a pydantic
    model, TypedDict or JSON schema)."""
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "text":
            return None, False
        if kind == "json_object":
            return None, True
        if kind == "json_schema":
            spec = value.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, Mapping) else None
            if not isinstance(schema, Mapping):
                raise ValueError("response_format json_schema needs a 'schema' object")
            return dict(schema), False
    _, _, params = json_schema_for(value)
    return params, False


class LocalReply:
    """Runs the phases of one reply on a loaded model, yielding its chunks.

    ``stats`` counts every token sampled (all phases count against ``max_tokens``);
    ``prompt_tokens`` is the size of the first prompt (the input of the reply).
    """

    def __init__(
        self,
        runtime: LlamaRuntime,
        sampling: SamplingOptions,
        stats: GenerationStats,
        cancel: threading.Event | None,
    ) -> None:
        self.runtime = runtime
        self.sampling = sampling
        self.stats = stats
        self.cancel = cancel
        self.prompt_tokens = 0

    def _generate(
        self, prompt: str, *, stop: Sequence[str] = (), grammar: str | None = None
    ) -> Iterator[str]:
        tokens = self.runtime.tokenize(prompt)
        if not self.prompt_tokens:
            self.prompt_tokens = len(tokens)
        return self.runtime.generate(
            tokens, self.sampling, self.stats, stop=stop, cancel=self.cancel, grammar=grammar
        )

    def run(
        self, prompt: str, plan: ReplyPlan, stop: Sequence[str], parser: ToolCallParser
    ) -> Iterator[AIMessageChunk]:
        tools = plan.tools
        if tools is not None and tools.forces_call:
            yield from self._calls(plan.first_prompt(prompt), tools, parser)
        elif tools is not None and tools.calls_possible:
            yield from self._auto(prompt, tools, stop, parser)
        else:
            for text in self._generate(prompt, stop=stop, grammar=plan.text_grammar()):
                yield AIMessageChunk(content=text)

    def _calls(
        self, prompt: str, tools: LocalTools, parser: ToolCallParser
    ) -> Iterator[AIMessageChunk]:
        """Sample the calls (the prompt ends with the opening tag) under the tools' grammar."""
        for text in self._generate(prompt, grammar=tools.grammar()):
            for piece in parser.feed(text):
                yield AIMessageChunk(content="", tool_call_chunks=[piece])

    def _auto(
        self, prompt: str, tools: LocalTools, stop: Sequence[str], parser: ToolCallParser
    ) -> Iterator[AIMessageChunk]:
        """Sample freely; a reply that opens with the tool-call tag continues as calls."""
        watcher = OpenerWatcher()
        free = self._generate(prompt, stop=stop)
        try:
            for text in free:
                shown = watcher.feed(text)
                if shown:
                    yield AIMessageChunk(content=shown)
                if watcher.decision == "call":
                    break
        finally:
            close = getattr(free, "close", None)
            if close is not None:
                close()  # releases the model for the next phase
        if watcher.decision == "call":
            yield from self._calls(prompt + watcher.lead + OPENER, tools, parser)
            return
        tail = watcher.flush()
        if tail:
            yield AIMessageChunk(content=tail)
