"""Tool approvals through the AI SDK's client (``ai`` in Node) against ``tokentide serve``:
an agent with ``HumanInTheLoopMiddleware`` pauses before two e-mails, the stream asks for
approval (``tool-approval-request`` on each call), the page approves one and rejects the
other, and the next request resumes the agent: the approved call runs, the rejected one is
denied, and the agent answers, all in the same assistant message.
"""

from __future__ import annotations

import pytest
from ui_approval_agent import DONE
from ui_serve import node_scenario, serve

pytestmark = [pytest.mark.timeout(120), pytest.mark.once]


def test_approve_one_reject_one_and_go_on() -> None:
    with serve(["--graph", "mailer=ui_approval_agent:mailer"]) as url:
        result = node_scenario(url, "approval", "mailer")
    first = result["first"]
    assert first["types"][-3:] == ["tool-approval-request", "finish-step", "finish"]
    asked = {p["toolCallId"]: p for p in result["asked"]}
    assert sorted(asked) == ["call_alice", "call_bob"]  # not the weather: it needs no approval
    for part in asked.values():
        assert part["state"] == "approval-requested"
        assert part["approval"]["id"].startswith(result["runIds"][0] + ":")
    weather = next(p for p in first["message"]["parts"] if p["type"] == "tool-get_weather")
    assert weather["state"] == "input-available"  # nothing ran before the answers

    second = result["second"]
    assert second["errors"] == []
    message = second["message"]
    assert message["id"] == first["message"]["id"]  # the same message goes on
    parts = {p.get("toolCallId"): p for p in message["parts"] if p["type"].startswith("tool-")}
    assert parts["call_weather"]["state"] == "output-available"
    assert parts["call_weather"]["output"] == "Sunny in Paris."
    assert parts["call_alice"]["state"] == "output-available"
    assert parts["call_alice"]["output"] == "Sent to alice."
    assert parts["call_bob"]["state"] == "output-denied"
    kinds = [p["type"] for p in message["parts"]]
    assert kinds.count("tool-send_email") == 2  # not streamed again
    texts = [p["text"] for p in message["parts"] if p["type"] == "text"]
    assert texts == ["I will check the weather and write.", DONE]
