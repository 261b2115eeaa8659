"""The web page shows a served agent's tool calls and results as they stream (Chromium).

The agent is ``create_react_agent`` on a scripted model that calls two tools (one slow, one
failing) in pieces, then answers. Each call appears as a collapsed block while its arguments
stream, shows its pretty-printed arguments and then its result, and stays as the user left
it (open or closed) while the rest of the reply streams.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from fakes.live_server import LiveServer, live_server
from tokentide.messages import AIMessage, tool_call
from tokentide.models import FakeChatModel
from tokentide.prebuilt import create_react_agent
from tokentide.server import create_app
from tokentide.tools import tool

from .ui_agents import get_time  # fails with a ToolException, shown as an error result

pytestmark = [pytest.mark.timeout(90), pytest.mark.once]

SHOTS = Path(os.environ.get("TOKENTIDE_SCREENSHOTS", tempfile.gettempdir()))
ANSWER = "It is **sunny** in Paris; the clock tool failed."


@tool
def get_weather(city: str, days: int = 1) -> str:
    """Get the weather for a city."""
    time.sleep(0.8)  # slow enough to see the call waiting for its result
    return f"It's always sunny in {city}!"


def _agent() -> Any:
    calls = AIMessage(
        "Let me check.",
        tool_calls=[
            tool_call(name="get_weather", args={"city": "Paris", "days": 2}, id="call_w"),
            tool_call(name="get_time", args={"city": "Paris"}, id="call_t"),
        ],
    )
    model = FakeChatModel([calls, ANSWER], delay=0.05)
    return create_react_agent(model, [get_weather, get_time])


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(create_app(graphs={"agent": _agent()}, web=True, heartbeat=5.0)) as live:
        yield live


PAGE_SIZE = (1000, 800)  # the window of the `page` fixture (conftest.py)


def _tools(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('.msg.assistant:last-child details.tool')].map(
            (d) => ({open: d.open, cls: d.className, summary: d.querySelector('summary').textContent,
                     args: d.querySelector('.tool-args').textContent,
                     result: d.querySelector('.tool-result')?.textContent ?? null}))"""
    )
    return found


def test_tool_calls_and_results_stream_collapsed(page: Page) -> None:
    page.fill("#prompt", "Weather and time in Paris?")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('details.tool').length > 0", timeout=20000)
    samples: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + 30
    while page.evaluate("document.body.dataset.state") == "streaming":
        samples.append(_tools(page))
        assert time.monotonic() < deadline
        page.wait_for_timeout(30)

    # While streaming: arguments arrived in pieces, and a complete call waited for its result.
    weather = [s[0] for s in samples if s]
    assert any(w["args"] and w["args"] != '{\n  "city": "Paris",\n  "days": 2\n}' for w in weather)
    waiting = [w for w in weather if w["result"] is None and w["args"].startswith("{\n")]
    assert waiting and all("running" in w["cls"] and not w["open"] for w in waiting)
    assert all(not t["open"] for s in samples for t in s)  # collapsed by default

    page.wait_for_function("document.body.dataset.state === 'idle'")
    final = _tools(page)
    assert [t["summary"] for t in final] == ["tool get_weather · done", "tool get_time · failed"]
    assert final[0]["args"] == json.dumps({"city": "Paris", "days": 2}, indent=2)
    assert final[0]["result"] == "It's always sunny in Paris!"
    assert "error" in final[1]["cls"] and "no clock in Paris" in (final[1]["result"] or "")
    body = page.locator(".msg.assistant .body").last
    assert body.inner_text().startswith("Let me check.")
    assert body.locator("strong").inner_text() == "sunny"  # the answer after the tools

    # Opened by the user, a call stays open; the reply is kept in the session history.
    page.locator("details.tool summary").first.click()
    page.wait_for_function("document.querySelector('details.tool').open")
    page.screenshot(path=str(SHOTS / "web-tools.png"), full_page=True)
    saved = json.loads(page.evaluate("() => sessionStorage.getItem('tokentide.chat')"))
    parts = saved["history"][-1]["parts"]
    assert [p["kind"] for p in parts] == ["text", "tool", "tool", "text"]
    page.reload()
    page.wait_for_function("document.querySelectorAll('details.tool').length === 2")
    assert [t["summary"] for t in _tools(page)] == [t["summary"] for t in final]
