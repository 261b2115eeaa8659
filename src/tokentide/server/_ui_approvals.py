"""Tool approvals between the AI SDK's ``useChat`` and an agent's approval middleware.

An agent with a ``HumanInTheLoopMiddleware`` pauses before the flagged tool calls: its run
ends ``interrupted``, with an ``interrupt`` event holding one request per flagged call
(``{"action_requests": [{"name", "args", "description"}], "review_configs": [...]}``). Each
request becomes a ``tool-approval-request`` chunk on the matching tool call (same name, in
order, among the calls of the step), with ``approvalId`` ``"<run id>:<n>"`` (``n``: the
request's position), so that the answer leads back to the run, its thread and the request;
the request's ``description`` is its ``reason`` (``part.approval.requestReason`` on the
page). The step's other calls (which need no approval, and run once the agent goes on) are
approved automatically (``isAutomatic``): the page's ``sendAutomaticallyWhen`` waits for
every call. An interrupt of another kind (a node's own ``interrupt(value)``) becomes a
``data-interrupt`` part (``{"value", "runId", "threadId"}``).

The page answers with ``addToolApprovalResponse({id, approved, reason})``; the next request
(``sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses``) carries the
answers on the tool parts of its last message (``state: "approval-responded"``). They become
``Command(resume={"decisions": [...]})`` for the paused run's thread: ``approve``, or
``reject`` with the reason as its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._store import StreamStore

__all__ = [
    "ApprovalResponse",
    "PausedRun",
    "approval_requests",
    "approval_responses",
    "paused_run",
    "resume_command",
    "resume_value",
    "split_approval_id",
]

Chunk = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApprovalResponse:
    """A person's answer to one approval request, from a tool part of the page's message."""

    approval_id: str
    tool_call_id: str
    approved: bool
    reason: str | None


def approval_requests(data: Mapping[str, Any], calls: list[tuple[str, str]]) -> list[Chunk]:
    """The ``tool-approval-request`` chunks of an ``interrupt`` event; ``calls``: the
    ``(tool call id, tool name)`` of the step's calls, in order."""
    run_id = str(data.get("run_id") or "run")
    out: list[Chunk] = []
    used: set[str] = set()
    position = 0
    for interrupt in data.get("interrupts") or ():
        value = interrupt.get("value") if isinstance(interrupt, Mapping) else None
        requests = value.get("action_requests") if isinstance(value, Mapping) else None
        if not isinstance(requests, list):
            out.append(_other_interrupt(data, interrupt))
            continue
        for request in requests:
            name = request.get("name") if isinstance(request, Mapping) else None
            match = next((c for c, n in calls if n == name and c not in used), None)
            if match is not None:
                used.add(match)
                approval = {"type": "tool-approval-request", "approvalId": f"{run_id}:{position}"}
                approval["toolCallId"] = match
                description = request.get("description")
                if isinstance(description, str) and description:
                    approval["reason"] = description  # the page's approval.requestReason
                out.append(approval)
            position += 1
    if out:
        out += _automatic(run_id, [c for c, _ in calls if c not in used])
    return out


def _other_interrupt(data: Mapping[str, Any], interrupt: Any) -> Chunk:
    """An interrupt that is no approval request (a node's own ``interrupt(value)``): a
    ``data-interrupt`` part, for a page that knows what to ask."""
    value = interrupt.get("value") if isinstance(interrupt, Mapping) else interrupt
    ident = interrupt.get("id") if isinstance(interrupt, Mapping) else None
    chunk: Chunk = {
        "type": "data-interrupt",
        "data": {"value": value, "runId": data.get("run_id"), "threadId": data.get("thread_id")},
    }
    if isinstance(ident, str):
        chunk["id"] = ident
    return chunk


def _automatic(run_id: str, call_ids: list[str]) -> list[Chunk]:
    """The calls of the paused step that need no approval: approved automatically (they run
    when the agent goes on), so that the page sees every call of the step answered
    (``lastAssistantMessageIsCompleteWithApprovalResponses``)."""
    out: list[Chunk] = []
    for call_id in call_ids:
        approval_id = f"{run_id}:auto-{call_id}"
        out.append(
            {
                "type": "tool-approval-request",
                "approvalId": approval_id,
                "toolCallId": call_id,
                "isAutomatic": True,
            }
        )
        out.append({"type": "tool-approval-response", "approvalId": approval_id, "approved": True})
    return out


def split_approval_id(approval_id: str) -> tuple[str, int] | None:
    """``(run id, request position)`` of an approval id made here; ``None`` otherwise."""
    run_id, sep, position = approval_id.rpartition(":")
    if not sep or not run_id or not position.isdigit():
        return None
    return run_id, int(position)


def approval_responses(raw_messages: list[Any]) -> list[ApprovalResponse]:
    """The answers to approval requests on the last message, when it is the assistant's."""
    last = raw_messages[-1] if raw_messages else None
    if not isinstance(last, Mapping) or last.get("role") != "assistant":
        return []
    out: list[ApprovalResponse] = []
    for part in last.get("parts") or ():
        if not isinstance(part, Mapping) or part.get("state") != "approval-responded":
            continue
        approval = part.get("approval")
        if not isinstance(approval, Mapping) or not isinstance(approval.get("approved"), bool):
            continue
        reason = approval.get("reason")
        out.append(
            ApprovalResponse(
                str(approval.get("id", "")),
                str(part.get("toolCallId", "")),
                approval["approved"],
                reason if isinstance(reason, str) and reason else None,
            )
        )
    return out


def resume_value(responses: list[ApprovalResponse], count: int) -> dict[str, Any]:
    """The ``resume`` value answering ``count`` requests, one decision per request in order
    (``ValueError`` naming a request left unanswered)."""
    by_position: dict[int, ApprovalResponse] = {}
    for response in responses:
        split = split_approval_id(response.approval_id)
        if split is not None:
            by_position[split[1]] = response
    decisions: list[dict[str, Any]] = []
    for position in range(count):
        answer = by_position.get(position)
        if answer is None:
            raise ValueError(
                f"approval request {position + 1} of {count} has no answer: answer every "
                "tool-approval-request (addToolApprovalResponse) before sending"
            )
        if answer.approved:
            decisions.append({"type": "approve"})
        else:
            decision: dict[str, Any] = {"type": "reject"}
            if answer.reason:
                decision["message"] = answer.reason
            decisions.append(decision)
    return {"decisions": decisions}


@dataclass(frozen=True, slots=True)
class PausedRun:
    """The run that asked for the approvals: its assistant, thread and requests."""

    run_id: str
    assistant: str
    thread_id: str
    interrupts: list[dict[str, Any]]


async def paused_run(store: StreamStore, responses: list[ApprovalResponse]) -> PausedRun:
    """The paused run the approvals answer (`HTTPError` 400 / 404 / 409 saying why not)."""
    from ._asgi import HTTPError

    split = next((s for r in responses if (s := split_approval_id(r.approval_id))), None)
    if split is None:
        raise HTTPError(
            400,
            f"approval id {responses[0].approval_id!r} was not made by this server",
            param="messages",
        )
    record = await store.get_run(split[0])
    if record is None:
        raise HTTPError(
            404,
            f"the run that asked for approval ({split[0]}) is unknown or expired",
            code="run_not_found",
        )
    thread_id, interrupts = record.thread_id, record.interrupts
    if record.status != "interrupted" or not thread_id or not interrupts:
        raise HTTPError(
            409,
            f"the run {record.run_id} is not waiting for approval (status {record.status}): "
            "the answers were sent already, or the run was stopped",
            code="not_interrupted",
        )
    return PausedRun(record.run_id, record.assistant, str(thread_id), list(interrupts))


def resume_command(paused: PausedRun, responses: list[ApprovalResponse]) -> Any:
    """``Command(resume=...)`` answering every request of the paused run (``ValueError`` when
    one has no answer)."""
    from tokentide.graph import Command

    count = 0
    for interrupt in paused.interrupts:
        value = interrupt.get("value") if isinstance(interrupt, Mapping) else None
        requests = value.get("action_requests") if isinstance(value, Mapping) else None
        count += len(requests) if isinstance(requests, list) else 0
    return Command(resume=resume_value(responses, count))
