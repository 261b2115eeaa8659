"""The payload shapes of LangChain v1's human-in-the-loop middleware (typed dicts).

A paused agent's interrupt value is a :class:`HITLRequest`; the person answers with a
:class:`HITLResponse` whose ``decisions`` line up with ``action_requests`` by position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict

__all__ = [
    "Action",
    "ActionRequest",
    "ApproveDecision",
    "Decision",
    "DecisionType",
    "EditDecision",
    "HITLRequest",
    "HITLResponse",
    "InterruptOnConfig",
    "RejectDecision",
    "RespondDecision",
    "ReviewConfig",
]

DecisionType = Literal["approve", "edit", "reject", "respond"]


class Action(TypedDict):
    """A tool call as a person sees or edits it: its name and arguments."""

    name: str
    args: dict[str, Any]


class ActionRequest(TypedDict):
    """One tool call waiting for a decision, with the text shown to the reviewer."""

    name: str
    args: dict[str, Any]
    description: NotRequired[str]


class ReviewConfig(TypedDict):
    """Which decisions a reviewer may take on one action."""

    action_name: str
    allowed_decisions: list[DecisionType]


class HITLRequest(TypedDict):
    """The interrupt value of a paused agent: every gated call of one model turn."""

    action_requests: list[ActionRequest]
    review_configs: list[ReviewConfig]


class ApproveDecision(TypedDict):
    """Run the tool call as the model made it."""

    type: Literal["approve"]


class EditDecision(TypedDict):
    """Run ``edited_action`` instead of the model's call (the model's own call stays in its
    message; the tool result tells the model what ran)."""

    type: Literal["edit"]
    edited_action: Action


class RejectDecision(TypedDict):
    """Do not run the call; the model gets an error ``ToolMessage`` with ``message``."""

    type: Literal["reject"]
    message: NotRequired[str]


class RespondDecision(TypedDict):
    """Do not run the call; the model gets ``message`` as the tool's (successful) result."""

    type: Literal["respond"]
    message: str


Decision = ApproveDecision | EditDecision | RejectDecision | RespondDecision


class HITLResponse(TypedDict):
    """The resume value for a :class:`HITLRequest`: one decision per action request."""

    decisions: list[Decision]


class InterruptOnConfig(TypedDict):
    """How one tool is reviewed: the decisions allowed, and the text shown (a string or a
    function ``(tool_call, state, runtime) -> str``; ``runtime`` is ``None`` in tokentide)."""

    allowed_decisions: list[DecisionType]
    description: NotRequired[str | Callable[..., str]]
    when: NotRequired[Callable[[Any], bool]]
