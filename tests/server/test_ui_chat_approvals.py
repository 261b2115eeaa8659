"""Tool approvals through the AI SDK's client (``ai`` in Node) against ``tokentide serve``:
an agent with ``HumanInTheLoopMiddleware`` pauses before two e-mails, the stream asks for
approval (``tool-approval-request`` on each call), the page approves one and rejects the
other, and the next request resumes the agent: the approved call runs, the rejected one is
denied, and the agent answers, all in the same assistant message.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from .ui_approval_agent import DONE
from .ui_serve import chromium_path, node_scenario, page_html, serve

pytestmark = [pytest.mark.timeout(150), pytest.mark.once]


def test_approve_one_reject_one_and_go_on() -> None:
    with serve(["--graph", "mailer=ui_approval_agent:mailer"]) as url:
        result = node_scenario(url, "approval", "mailer")
    first = result["first"]
    assert first["types"][-3:] == ["tool-approval-response", "finish-step", "finish"]
    asked = {p["toolCallId"]: p for p in result["asked"]}
    assert sorted(asked) == ["call_alice", "call_bob"]  # not the weather: it needs no approval
    for part in asked.values():
        assert part["state"] == "approval-requested"
        assert part["approval"]["id"].startswith(result["runIds"][0] + ":")
        assert "send_email" in part["approval"]["requestReason"]  # the middleware's description
    weather = next(p for p in first["message"]["parts"] if p["type"] == "tool-get_weather")
    # Nothing ran before the answers; the call that needs none is approved automatically.
    assert weather["state"] == "approval-responded"
    assert weather["approval"]["isAutomatic"] is True and weather["approval"]["approved"] is True

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


def test_the_documented_approval_page_in_chromium() -> None:
    """The AI SDK docs' approval page (``addToolApprovalResponse``, ``sendAutomaticallyWhen:
    lastAssistantMessageIsCompleteWithApprovalResponses``): Approve one, Deny the other."""
    html = page_html("approval.jsx")
    with serve(["--graph", "mailer=ui_approval_agent:mailer"]) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(),
                headless=True,
                args=["--no-sandbox", "--disable-gpu"],
            )
            try:
                context = browser.new_context()
                context.route(
                    f"{url}/approve.html",
                    lambda route: route.fulfill(status=200, content_type="text/html", body=html),
                )
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(f"{url}/approve.html")
                page.fill("input", "Weather in Paris, and tell Alice and Bob.")
                page.click("button[type=submit]")
                page.wait_for_selector(".approval.alice", timeout=30000)
                page.wait_for_selector(".approval.bob")
                reason = page.text_content(".approval.alice")
                assert reason is not None and "send_email" in reason
                page.click(".approval.alice >> text=Approve")
                page.click(".approval.bob >> text=Deny")
                page.wait_for_selector(".sent.alice", timeout=30000)
                page.wait_for_function(
                    "(done) => document.querySelector('.message.assistant').textContent.includes(done)",
                    arg=DONE,
                    timeout=30000,
                )
                assert page.text_content(".sent.alice") == "Sent to alice."
                assert page.text_content(".denied.bob") == "E-mail to bob was denied."
                assert page.locator(".message.assistant").count() == 1  # one message, continued
                assert errors == []
            finally:
                browser.close()
