"""Agent middleware (LangChain v1's ``langchain.agents.middleware``): human review of tool
calls with :class:`HumanInTheLoopMiddleware`.

Example::

    from tokentide.agents import create_agent
    from tokentide.agents.middleware import HumanInTheLoopMiddleware

    agent = create_agent(
        model, [send_email],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
        checkpointer=InMemorySaver(),
    )
"""

from ._human_in_the_loop import HumanInTheLoopMiddleware, ToolCallRequest
from ._types import (
    Action,
    ActionRequest,
    ApproveDecision,
    Decision,
    DecisionType,
    EditDecision,
    HITLRequest,
    HITLResponse,
    InterruptOnConfig,
    RejectDecision,
    RespondDecision,
    ReviewConfig,
)

__all__ = [
    "Action",
    "ActionRequest",
    "ApproveDecision",
    "Decision",
    "DecisionType",
    "EditDecision",
    "HITLRequest",
    "HITLResponse",
    "HumanInTheLoopMiddleware",
    "InterruptOnConfig",
    "RejectDecision",
    "RespondDecision",
    "ReviewConfig",
    "ToolCallRequest",
]
