"""``HumanInTheLoopMiddleware``: pause an agent before flagged tool calls (LangChain v1).

After each model turn the agent's ``HumanInTheLoopMiddleware.after_model`` node collects the
flagged calls into one :class:`HITLRequest` and calls ``interrupt()`` with it. The resume value
(:class:`HITLResponse`) holds one decision per request: approved and edited calls go on to the
tools (an edited call runs with the reviewer's name and arguments, and its result starts with
a notice saying so), rejected ones become error ``ToolMessage``s the model reads instead.

The decision logic here is plain data in, data out; ``create_agent`` wires it into the graph.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from tokentide.graph import interrupt
from tokentide.messages import AIMessage, BaseMessage, ToolCall, ToolMessage

from ._types import (
    Action,
    ActionRequest,
    Decision,
    EditDecision,
    HITLRequest,
    InterruptOnConfig,
    ReviewConfig,
)

__all__ = ["EDITED_TOOL_CALLS_KEY", "HumanInTheLoopMiddleware", "ToolCallRequest"]

#: The state key mapping a tool call id to the reviewer's replacement for it.
EDITED_TOOL_CALLS_KEY = "hitl_edited_tool_calls"

_EDIT_NOTICE = (
    "Note: a human reviewer replaced this tool call before it ran. The call recorded in "
    "your message is the one you produced, not the one that executed. This was "
    "intentional and authorized. Do not re-issue your original call."
)
_ALL_DECISIONS: list[Any] = ["approve", "edit", "reject", "respond"]


@dataclass
class ToolCallRequest:
    """What an ``InterruptOnConfig`` ``when`` predicate is given: the call and the state."""

    tool_call: ToolCall
    tool: Any
    state: Any
    runtime: Any = None


def _resolve(interrupt_on: Mapping[str, bool | InterruptOnConfig]) -> dict[str, InterruptOnConfig]:
    resolved: dict[str, InterruptOnConfig] = {}
    for tool_name, config in interrupt_on.items():
        if isinstance(config, bool):
            if config:
                resolved[tool_name] = InterruptOnConfig(allowed_decisions=list(_ALL_DECISIONS))
        elif isinstance(config, Mapping) and config.get("allowed_decisions"):
            resolved[tool_name] = config
        else:
            keys = sorted(config) if isinstance(config, Mapping) else type(config).__name__
            raise ValueError(
                f"Invalid `interrupt_on` config for tool '{tool_name}': `allowed_decisions` "
                "must be a non-empty list of decision types (e.g. ['approve', 'reject']). "
                f"Got config with keys {keys}."
            )
    return resolved


def _last_ai(messages: list[BaseMessage]) -> AIMessage | None:
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


def _answer(call: ToolCall, decision: Mapping[str, Any]) -> ToolMessage:
    """The message the model reads instead of the tool's result (reject or respond)."""
    if decision["type"] == "respond":
        content = decision["message"]
    elif reason := decision.get("message"):
        content = f"User rejected the tool call for `{call['name']}` with reason: {reason}"
    else:
        content = (
            f"User rejected the tool call for `{call['name']}` with id {call['id']}. The tool "
            "was not executed. Do not retry this tool call unless the user explicitly "
            "requests it."
        )
    status: Literal["success", "error"] = "success" if decision["type"] == "respond" else "error"
    return ToolMessage(content, name=call["name"], tool_call_id=call["id"] or "", status=status)


class HumanInTheLoopMiddleware:
    """Ask a person before the agent runs some tools (LangChain v1's middleware).

    ``interrupt_on`` maps a tool name to ``True`` (approve, edit, reject or respond),
    ``False`` (runs without asking) or an :class:`InterruptOnConfig`
    (``{"allowed_decisions": [...], "description": ...}``); tools not named run without
    asking. The agent needs a checkpointer, and goes on with ``Command(resume=...)``.

    Example::

        agent = create_agent(
            model, [send_email],
            middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
            checkpointer=InMemorySaver(),
        )
        config = {"configurable": {"thread_id": "1"}}
        result = agent.invoke({"messages": [("user", "Email Alice")]}, config)
        request = result["__interrupt__"][0].value   # {"action_requests": [...], ...}
        agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    """

    def __init__(
        self,
        interrupt_on: Mapping[str, bool | InterruptOnConfig],
        *,
        description_prefix: str = "Tool execution requires approval",
        edit_notice: str | None = _EDIT_NOTICE,
        interrupt_mode: Literal["batched"] = "batched",
    ) -> None:
        if interrupt_mode != "batched":
            raise ValueError(
                f"interrupt_mode={interrupt_mode!r} is not available in tokentide; use the "
                "default 'batched' (one interrupt per model turn)"
            )
        self.interrupt_mode = interrupt_mode
        self.interrupt_on = _resolve(interrupt_on)
        self.description_prefix = description_prefix
        self.edit_notice = edit_notice

    @property
    def name(self) -> str:
        """The middleware's name; its graph node is ``f"{name}.after_model"``."""
        return type(self).__name__

    # ------------------------------------------------------------------ the request

    def _describe(self, call: ToolCall, config: InterruptOnConfig, state: Any) -> str:
        description = config.get("description")
        if callable(description):
            return str(description(call, state, None))
        if description is not None:
            return description
        return f"{self.description_prefix}\n\nTool: {call['name']}\nArgs: {call['args']}"

    def _gated(self, call: ToolCall, state: Any) -> InterruptOnConfig | None:
        config = self.interrupt_on.get(call["name"])
        if config is None:
            return None
        when = config.get("when")
        if when is not None and not when(ToolCallRequest(call, None, state)):
            return None
        return config

    def build_request(self, state: Mapping[str, Any]) -> tuple[HITLRequest, list[int]] | None:
        """The interrupt value for the last model turn, and the indexes of the gated calls
        among its tool calls; ``None`` when nothing needs review."""
        last = _last_ai(state.get("messages") or [])
        if last is None or not last.tool_calls:
            return None
        actions: list[ActionRequest] = []
        reviews: list[ReviewConfig] = []
        indexes: list[int] = []
        for index, call in enumerate(last.tool_calls):
            config = self._gated(call, state)
            if config is None:
                continue
            description = self._describe(call, config, state)
            actions.append(
                ActionRequest(name=call["name"], args=call["args"], description=description)
            )
            reviews.append(
                ReviewConfig(
                    action_name=call["name"], allowed_decisions=config["allowed_decisions"]
                )
            )
            indexes.append(index)
        if not actions:
            return None
        return HITLRequest(action_requests=actions, review_configs=reviews), indexes

    # ------------------------------------------------------------------ the decisions

    def apply_decisions(
        self, state: Mapping[str, Any], indexes: list[int], response: Any
    ) -> dict[str, Any]:
        """The state update for a person's answer: the model's message (unchanged, so its
        calls stay as the model made them), one ``ToolMessage`` per rejected or answered
        call, and the edits, which the tools node applies when it runs the calls."""
        decisions = _decisions_of(response)
        if len(decisions) != len(indexes):
            raise ValueError(
                f"Number of human decisions ({len(decisions)}) does not match number of "
                f"hanging tool calls ({len(indexes)})."
            )
        last = cast(AIMessage, _last_ai(state["messages"]))
        answers: list[BaseMessage] = []
        edited: dict[str, Action] = {}
        for decision, index in zip(decisions, indexes, strict=True):
            call = last.tool_calls[index]
            kind = self._check(decision, call)
            if kind == "edit" and call["id"]:
                edited[call["id"]] = cast(EditDecision, decision)["edited_action"]
            elif kind in ("reject", "respond"):
                answers.append(_answer(call, decision))
        return {"messages": [last, *answers], EDITED_TOOL_CALLS_KEY: edited}

    def _check(self, decision: Mapping[str, Any], call: ToolCall) -> str:
        allowed = self.interrupt_on[call["name"]]["allowed_decisions"]
        kind = decision.get("type") if isinstance(decision, Mapping) else None
        if kind in ("approve", "edit", "reject", "respond") and kind in allowed:
            return str(kind)
        raise ValueError(
            f"Unexpected human decision: {decision}. Decision type '{kind}' is not allowed for "
            f"tool '{call['name']}'. Expected one of {allowed} based on the tool's configuration."
        )

    def after_model(self, state: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``after_model`` node: interrupt with the request, then apply the answer."""
        built = self.build_request(state)
        if built is None:
            # Drop an earlier turn's edits, so they cannot apply to this turn's calls.
            last = _last_ai(state.get("messages") or [])
            if last is not None and last.tool_calls and state.get(EDITED_TOOL_CALLS_KEY):
                return {EDITED_TOOL_CALLS_KEY: {}}
            return None
        request, indexes = built
        return self.apply_decisions(state, indexes, interrupt(request))

    # ------------------------------------------------------------------ running edits

    def edited_call(
        self, call: ToolCall, state: Mapping[str, Any]
    ) -> tuple[ToolCall, Action | None]:
        """The call the tools node runs: the reviewer's replacement if there is one."""
        edits = state.get(EDITED_TOOL_CALLS_KEY) or {}
        executed = edits.get(call["id"]) if call["id"] else None
        if executed is None:
            return call, None
        return {**call, "name": executed["name"], "args": executed["args"]}, executed

    def annotate(self, message: ToolMessage, executed: Action) -> ToolMessage:
        """A copy of an edited call's result that starts with the notice saying what ran
        instead (the tool's own message, as its run reported it, is left as it was)."""
        if not self.edit_notice:
            return message
        notice = (
            f"{self.edit_notice} Executed instead: {executed['name']} with arguments "
            f"{json.dumps(executed['args'], default=str)}."
        )
        content: Any = message.content
        if content:
            notice = f"{notice}\n\nTool response:"
        if isinstance(content, str):
            if notice in content:
                return message
            content = f"{notice}\n{content}" if content else notice
        else:
            if any(notice in str(block) for block in content):
                return message
            all_text = bool(content) and all(isinstance(b, str) for b in content)
            block: Any = notice if all_text else {"type": "text", "text": notice}
            content = [block, *content]
        copied: ToolMessage = message.model_copy(update={"content": content})
        return copied


def _decisions_of(response: Any) -> list[Decision]:
    if not isinstance(response, Mapping) or not isinstance(response.get("decisions"), list):
        raise ValueError(
            "resume a HumanInTheLoopMiddleware interrupt with "
            'Command(resume={"decisions": [{"type": "approve"}, ...]}), got '
            f"{response!r:.200}"
        )
    return list(response["decisions"])
