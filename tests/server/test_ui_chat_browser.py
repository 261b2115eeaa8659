"""A React page with the AI SDK's ``useChat`` (``@ai-sdk/react``, as the AI SDK docs write
it; ``tests/js/ui_page/chat.jsx``), bundled here with esbuild, in Debian's Chromium, against
``tokentide serve``: it streams an agent's answer with its tool calls, a reload mid-answer
resumes it, and Stop stops the model.

The page is served at the server's own origin (``/chat.html``, answered by the browser
context), so its ``/api/chat`` is the real endpoint of the live server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Response, Route, sync_playwright

from .ui_agents import ANSWER
from .ui_serve import chromium_path, page_html, serve

pytestmark = [pytest.mark.timeout(150), pytest.mark.once]

# Seconds per word of the agent's answer (67 words: about 8 s), time to reload and to stop:
# Stop is clicked at the answer's 9th word and the model must stop more than 20 words before
# its end, which leaves a loaded machine about 4.5 s for the click, the abort and the cancel.
AGENT_DELAY = 0.12


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    # The agent only (useChat names no model), the default grace period of 2 s.
    with serve(["--graph", "agent=ui_agents:agent"], {"UI_AGENT_DELAY": str(AGENT_DELAY)}) as url:
        yield url


def _assistant_text(page: Page) -> str:
    text: str = page.evaluate(
        "() => [...document.querySelectorAll('.message.assistant')].map(m => m.textContent)"
        ".join('\\n')"
    )
    return text


def _wait_text(page: Page, needle: str, timeout: float = 30000) -> None:
    page.wait_for_function(
        "(needle) => [...document.querySelectorAll('.message.assistant')]"
        ".some(m => m.textContent.includes(needle))",
        arg=needle,
        timeout=timeout,
    )


def _run_status(url: str, run_id: str) -> dict[str, Any]:
    record: dict[str, Any] = httpx.get(f"{url}/v1/runs/{run_id}", timeout=5).json()
    return record


def test_use_chat_streams_tools_resumes_after_reload_and_stops(server: str) -> None:
    executable = chromium_path()
    html = page_html("chat.jsx")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context()

            def serve_page(route: Route) -> None:
                route.fulfill(status=200, content_type="text/html", body=html)

            context.route(f"{server}/chat.html*", serve_page)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            run_ids: list[str] = []

            def on_response(response: Response) -> None:
                run_id = response.headers.get("x-run-id")
                if run_id and response.request.method == "POST":
                    run_ids.append(run_id)

            page.on("response", on_response)
            _stream_reload_and_stop(page, server, run_ids)
            assert errors == [], f"errors in the page: {errors}"
        finally:
            browser.close()


def _stream_reload_and_stop(page: Page, server: str, run_ids: list[str]) -> None:
    chat_url = f"{server}/chat.html?chat=chat-{time.time_ns()}"
    page.goto(chat_url)
    page.wait_for_function("document.getElementById('status')?.textContent === 'ready'")

    # 1. The agent's answer streams, with its tool calls rendered by state.
    page.fill("input", "Weather and time in Paris?")
    page.click("button[type=submit]")
    page.wait_for_selector(".tool.done", timeout=30000)
    assert page.text_content(".tool.done") == "It's always sunny in Paris!"
    assert page.text_content(".tool.failed") == "Error: no clock in Paris"
    _wait_text(page, "more03")
    assert page.text_content("#status") == "streaming"
    partial = _assistant_text(page)
    assert "done." not in partial

    # 2. A reload mid-answer: the page resumes the same answer (replayed, then live) to its end.
    page.reload()
    _wait_text(page, "more45")
    _wait_text(page, ANSWER, timeout=30000)
    page.wait_for_function("document.getElementById('status').textContent === 'ready'")
    assert page.text_content(".tool.done") == "It's always sunny in Paris!"
    assert _assistant_text(page).count(ANSWER) == 1  # rebuilt from the replay, not doubled
    assert _run_status(server, run_ids[0])["status"] == "success"

    # 3. Stop: the model stops (the run is cancelled) well within 5 s.
    page.fill("input", "And tomorrow?")
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelectorAll('.message.assistant').length === 2")
    page.wait_for_function(
        "() => document.querySelectorAll('.message.assistant')[1].textContent.includes('more02')",
        timeout=30000,
    )
    assert len(run_ids) == 2
    page.click("text=Stop")
    stopped_at = time.monotonic()
    page.wait_for_function("document.getElementById('status').textContent === 'ready'")
    while True:
        record = _run_status(server, run_ids[1])
        if record["status"] != "running":
            break
        assert time.monotonic() - stopped_at < 5, "the run was still going 5 s after Stop"
        time.sleep(0.05)
    assert record["status"] == "cancelled"
    assert time.monotonic() - stopped_at < 5
    # The model stopped early: fewer tokens than the same script run to its end.
    whole = _run_status(server, run_ids[0])["usage"]["output_tokens"]
    assert 0 < record["usage"]["output_tokens"] < whole - 20
