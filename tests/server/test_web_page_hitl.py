"""The web page pauses for approval of a served agent's tool calls (Chromium).

The agent is ``create_agent`` with a ``HumanInTheLoopMiddleware`` gating two tools, on a
scripted model that calls both. The run pauses: the reply shows one approval card per call
(name, arguments, Approve / Edit / Reject); a reload shows the same cards; one call is edited,
the other rejected with a reason, and the reply goes on streaming in the same place; a second
question's call is approved and its reply is reloaded in the middle of streaming.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from fakes.live_server import LiveServer, live_server
from tokentide.agents import create_agent
from tokentide.agents.middleware import HumanInTheLoopMiddleware
from tokentide.checkpoint import InMemorySaver
from tokentide.messages import AIMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.server import create_app

from .asking_graph import asking_graph

pytestmark = [pytest.mark.timeout(90), pytest.mark.once]

SHOTS = Path(os.environ.get("TOKENTIDE_SCREENSHOTS", tempfile.gettempdir()))
LONG = " ".join(f"word{i}" for i in range(60))


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"It's always sunny in {city}!"


def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


def _agent() -> Any:
    first = AIMessage(
        "Let me check.",
        tool_calls=[
            tool_call(name="get_weather", args={"city": "Paris"}, id="call_w"),
            tool_call(name="send_email", args={"to": "bob", "body": "hi"}, id="call_e"),
        ],
    )
    second = AIMessage(
        "", tool_calls=[tool_call(name="get_weather", args={"city": "Oslo"}, id="c3")]
    )
    replies: list[str | AIMessage] = [
        first,
        "It is **sunny** in Lyon; no email sent.",
        second,
        f"Oslo: {LONG} end.",
    ]
    model = FakeChatModel(replies, delay=0.03)
    gate = HumanInTheLoopMiddleware(
        interrupt_on={
            "get_weather": {"allowed_decisions": ["approve", "edit", "reject"]},
            "send_email": {"allowed_decisions": ["approve", "reject"], "description": "Email?"},
        }
    )
    tools = [get_weather, send_email]
    return create_agent(model, tools, middleware=[gate], checkpointer=InMemorySaver())


def _asking_graph() -> Any:
    return asking_graph(lambda answer: f"Going to {answer['city']}.")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    graphs = {"agent": _agent(), "ask": _asking_graph()}
    with live_server(create_app(graphs=graphs, web=True, heartbeat=5.0)) as live:
        yield live


PAGE_SIZE = (1000, 900)  # the window of the `page` fixture (conftest.py)


def _cards(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('.msg.assistant .approval')].map((c) => ({
            tool: c.dataset.tool,
            title: c.querySelector('.approval-title').textContent,
            description: c.querySelector('.approval-description').textContent,
            args: c.querySelector('textarea').value,
            buttons: [...c.querySelectorAll('button')].filter((b) => !b.hidden)
                .map((b) => b.textContent),
            decided: c.querySelector('.approval-decided')?.textContent ?? null}))"""
    )
    return found


def _wait_idle(page: Page) -> None:
    page.wait_for_function("document.body.dataset.state === 'idle'", timeout=30000)


def test_approval_cards_pause_reload_and_continue(page: Page) -> None:
    page.fill("#prompt", "Weather in Paris, and email Bob?")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('.approval').length === 2", timeout=30000)
    _wait_idle(page)
    cards = _cards(page)
    assert [c["tool"] for c in cards] == ["get_weather", "send_email"]
    assert json.loads(cards[0]["args"]) == {"city": "Paris"}
    assert cards[0]["buttons"] == ["Approve", "Edit", "Reject"]
    assert cards[0]["description"].startswith("Tool execution requires approval")
    assert (cards[1]["description"], cards[1]["buttons"]) == ("Email?", ["Approve", "Reject"])
    assert page.locator("#status").inner_text() == "waiting for your decision"
    assert page.locator(".msg.assistant .body").last.inner_text().startswith("Let me check.")
    page.screenshot(path=str(SHOTS / "web-approval.png"), full_page=True)

    # A reload shows the same pending cards; sending is held until they are answered.
    page.reload()
    page.wait_for_function("document.querySelectorAll('.approval').length === 2")
    assert _cards(page) == cards
    page.fill("#prompt", "hello?")
    page.click("#send")
    assert "waiting for your decision" in page.locator("#status").inner_text()
    assert page.locator(".msg.user").count() == 1

    # Edit the weather call, reject the email: the reply goes on in the same turn.
    weather = page.locator(".approval").first
    weather.locator("button.edit").click()
    weather.locator("textarea").fill('{"city": "Lyon"}')
    weather.locator("button.run-edited").click()
    page.wait_for_function("document.querySelector('.approval-decided') !== null")
    email = page.locator(".approval").nth(1)
    email.locator("input.approval-reason").fill("not today")
    email.locator("button.reject").click()
    page.wait_for_function(
        "document.querySelector('.msg.assistant:last-child strong')?.textContent === 'sunny'",
        timeout=30000,
    )
    _wait_idle(page)
    assert page.locator(".approval").count() == 0
    assert page.locator(".msg.assistant").count() == 1
    summaries = page.locator("details.tool summary").all_inner_texts()
    assert summaries == ["tool get_weather · done", "tool send_email · failed"]
    results = page.locator("details.tool .tool-result").all_text_contents()
    assert results[0].endswith("It's always sunny in Lyon!")
    assert results[1] == "User rejected the tool call for `send_email` with reason: not today"

    # The next question: approve, then reload while the reply streams.
    page.fill("#prompt", "And Oslo?")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('.approval').length === 1", timeout=30000)
    _wait_idle(page)
    page.locator(".approval button.approve").click()
    page.wait_for_function(
        "document.querySelector('.msg.assistant:last-child .body')?.textContent.includes('word5')",
        timeout=30000,
    )
    page.reload()
    page.wait_for_function(
        "document.querySelector('.msg.assistant:last-child .body')?.textContent.includes('end.')",
        timeout=30000,
    )
    _wait_idle(page)
    last = page.locator(".msg.assistant").last.locator(".body").inner_text()
    assert last.count("word59") == 1 and "Oslo:" in last
    assert page.locator(".approval").count() == 0
    saved = json.loads(page.evaluate("() => sessionStorage.getItem('tokentide.chat')"))
    assert [t["role"] for t in saved["history"]] == ["user", "assistant", "user", "assistant"]
    assert not any(t.get("pending") for t in saved["history"])


def test_any_other_interrupt_gets_an_answer_card(page: Page) -> None:
    page.select_option("#assistant", "ask")
    page.fill("#prompt", "Plan a trip")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('.approval').length === 1", timeout=30000)
    _wait_idle(page)
    card = page.locator(".approval")
    assert json.loads(card.locator(".approval-description").inner_text()) == {
        "question": "Which city?"
    }
    page.reload()
    page.wait_for_function("document.querySelectorAll('.approval textarea').length === 1")
    page.locator(".approval textarea").fill('{"city": "Rome"}')  # JSON is sent parsed
    page.locator(".approval button.answer").click()
    page.wait_for_function(
        "document.querySelector('.msg.assistant:last-child .body')?.textContent"
        ".includes('Going to Rome.')",
        timeout=30000,
    )
    _wait_idle(page)
    assert page.locator(".approval").count() == 0
