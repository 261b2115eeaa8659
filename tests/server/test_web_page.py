"""The web chat page (``GET /``) in headless Chromium against a real server on 127.0.0.1.

The server (uvicorn, in a thread) serves fake models: a slow Markdown reply, one whose text
tries to inject HTML and script, one that fails mid-stream, and a fast one with many tokens.
Chromium is the system's ``chromium`` (a package the project's set-up installs), driven by
Playwright; a missing browser fails the tests with a message saying so.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from tokentide.models import FakeChatModel
from tokentide.server import create_app

from .web_page_driver import chromium, web_page

pytestmark = [pytest.mark.timeout(90), pytest.mark.once]

SLOW_REPLY = (
    "## Weather report\n\n"
    "Today is **sunny** with a *light* breeze; use `umbrella=False` and enjoy it.\n\n"
    "- morning: cool and calm\n"
    "- afternoon: warm and bright\n"
    "- evening: clear skies over the hills\n\n"
    "```python\nprint('hello from the fence')\n```\n\n"
    "More at [the forecast](https://example.com/forecast) and that is all for today, friends."
)
EVIL_REPLY = (
    'Look: <script>window.__pwned = 1</script> and <img src=x onerror="window.__pwned = 2"> '
    "and [click](javascript:window.__pwned=3) and [ok](https://example.com/?a=1&b=2) done."
)
BROKEN_REPLY = "This reply starts well and then the model fails in the middle of it all."
FAST_REPLY = " ".join(f"w{i}" for i in range(600))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STORE_KEY = "tokentide.chat"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    models = {
        "slow": FakeChatModel([SLOW_REPLY], delay=0.04),
        "evil": FakeChatModel([EVIL_REPLY], delay=0.005),
        "broken": FakeChatModel([BROKEN_REPLY], delay=0.02, error_after=6),
        "fast": FakeChatModel([FAST_REPLY], delay=0.0),
    }
    app = create_app(models=models, web=True, heartbeat=5.0)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM_ARGS) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A page in a fresh browser context (fresh storage); see `web_page`."""
    with web_page(browser, base_url, width=1100, height=800) as page:
        yield page


def _ask(page: Page, assistant: str, text: str) -> None:
    page.select_option("#assistant", assistant)
    page.fill("#prompt", text)
    page.click("#send")


def _last_reply(page: Page) -> str:
    text: str = page.evaluate(
        "() => { const m = document.querySelectorAll('.msg.assistant');"
        " return m.length ? m[m.length - 1].querySelector('.body').textContent : ''; }"
    )
    return text


def _wait_idle(page: Page, timeout: float = 30) -> None:
    page.wait_for_function(
        "document.body.dataset.state === 'idle' && document.body.dataset.lastRunStatus !== undefined",
        timeout=timeout * 1000,
    )


def _rendered_text(page: Page, markdown: str) -> str:
    """The text the page shows for ``markdown`` (rendered by the page's own renderer)."""
    text: str = page.evaluate(
        "(md) => { const d = document.createElement('div');"
        " d.innerHTML = window.__tokentide.renderMarkdown(md); return d.textContent; }",
        markdown,
    )
    return text


def _history(page: Page) -> list[dict[str, Any]]:
    saved = page.evaluate(f"() => sessionStorage.getItem({json.dumps(STORE_KEY)})")
    history: list[dict[str, Any]] = json.loads(saved)["history"]
    return history


def test_page_is_served_self_contained(base_url: str) -> None:
    response = httpx.get(base_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<meta name="viewport"' in html
    assert "Content-Security-Policy" in html and "connect-src 'self'" in html
    for external in ("http://", "https://", "//cdn", "<link ", "src="):
        if external in ("http://", "https://"):
            assert f'"{external}' not in html and f"'{external}" not in html
        else:
            assert external not in html, f"the page must not load external resources: {external}"


def test_model_picker_lists_the_served_models(page: Page) -> None:
    options = page.eval_on_selector_all("#assistant option", "els => els.map(e => e.value)")
    assert options == ["slow", "evil", "broken", "fast"]


def test_text_streams_in_progressively_and_renders_markdown(page: Page) -> None:
    _ask(page, "slow", "What is the weather?")
    samples: list[str] = []
    deadline = time.monotonic() + 30
    while page.evaluate("document.body.dataset.state") == "streaming":
        samples.append(_last_reply(page))
        assert time.monotonic() < deadline
        page.wait_for_timeout(40)
    _wait_idle(page)
    final = _last_reply(page)
    partials = {s for s in samples if s and s != final}
    assert len(partials) >= 5, f"expected several partial renders, got {len(partials)}"
    assert final == _rendered_text(page, SLOW_REPLY)
    body = page.locator(".msg.assistant .body").last
    assert body.locator("h2").inner_text() == "Weather report"
    assert body.locator("strong").inner_text() == "sunny"
    assert body.locator("em").inner_text() == "light"
    assert body.locator("li").count() == 3
    assert "print('hello from the fence')" in body.locator("pre code").inner_text()
    assert body.locator("a").get_attribute("href") == "https://example.com/forecast"
    assert _history(page)[-1]["content"] == SLOW_REPLY


def test_dom_updates_at_most_once_per_animation_frame(page: Page) -> None:
    _ask(page, "fast", "Many words, quickly.")
    _wait_idle(page)
    stats = page.evaluate("window.__tokentide.stats")
    assert _last_reply(page) == _rendered_text(page, FAST_REPLY)
    assert stats["events"] > 600
    assert stats["renders"] < stats["events"] / 3, stats


def test_model_output_cannot_inject_html_or_script(page: Page) -> None:
    _ask(page, "evil", "Be evil.")
    _wait_idle(page)
    page.wait_for_timeout(300)  # time for an injected image's onerror to fire, were it there
    assert page.evaluate("typeof window.__pwned") == "undefined"
    body = page.locator(".msg.assistant .body").last
    assert "<script>window.__pwned = 1</script>" in body.inner_text()
    assert '<img src=x onerror="window.__pwned = 2">' in body.inner_text()
    assert body.locator("script, img").count() == 0
    hrefs = body.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["https://example.com/?a=1&b=2"]


def test_stop_cancels_the_run(page: Page, base_url: str) -> None:
    _ask(page, "slow", "Start, then stop.")
    page.wait_for_function(
        "(() => { const b = document.querySelector('.msg.streaming .body');"
        " return b && b.textContent.length > 20; })()"
    )
    page.click("#stop")
    _wait_idle(page, timeout=10)
    stopped = _last_reply(page)
    run_id = page.locator(".msg.assistant").last.get_attribute("data-run-id")
    assert run_id
    page.wait_for_timeout(500)
    assert _last_reply(page) == stopped
    assert 20 < len(stopped) < len(_rendered_text(page, SLOW_REPLY))
    assert page.locator(".msg.assistant .note").last.inner_text() == "Stopped."
    record = httpx.get(f"{base_url}/v1/runs/{run_id}").json()
    assert record["status"] == "cancelled"


def test_reload_mid_stream_resumes_to_the_same_text(page: Page, base_url: str) -> None:
    _ask(page, "slow", "Survive a reload.")
    page.wait_for_function(
        "(() => { const b = document.querySelector('.msg.streaming .body');"
        " return b && b.textContent.length > 30; })()"
    )
    before = _last_reply(page)
    page.reload()
    page.wait_for_function("document.body.dataset.state === 'streaming'", timeout=5000)
    resumed_from = _last_reply(page)
    assert resumed_from, "the text so far is shown at once after the reload"
    _wait_idle(page)
    final = _last_reply(page)
    assert len(before) < len(final)
    assert final == _rendered_text(page, SLOW_REPLY)
    history = _history(page)
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[-1]["content"] == SLOW_REPLY
    run_id = history[-1]["runId"]
    assert httpx.get(f"{base_url}/v1/runs/{run_id}").json()["status"] == "success"


def test_error_from_the_model_is_shown_and_partial_text_kept(page: Page) -> None:
    _ask(page, "broken", "Fail, please.")
    _wait_idle(page)
    error = page.locator(".msg.assistant .error").last
    assert error.is_visible()
    assert "scripted failure" in error.inner_text()
    assert _last_reply(page).startswith("This reply starts well")
    assert page.locator("#send").is_visible()


def test_conversation_is_multi_turn(page: Page, base_url: str) -> None:
    _ask(page, "evil", "first question")
    _wait_idle(page)
    _ask(page, "slow", "second question")
    _wait_idle(page)
    roles = page.eval_on_selector_all(".msg", "els => els.map(e => e.classList[1])")
    assert roles == ["user", "assistant", "user", "assistant"]
    run_id = _history(page)[-1]["runId"]
    usage = httpx.get(f"{base_url}/v1/runs/{run_id}").json()["usage"]
    sent_words = len("first question".split()) + len(EVIL_REPLY.split()) + 2
    assert usage["input_tokens"] == sent_words  # the whole conversation was sent


def test_fits_a_phone_screen(browser: Browser, base_url: str) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, bypass_csp=True
    )
    try:
        page = context.new_page()
        page.goto(base_url + "/")
        page.wait_for_function("document.getElementById('assistant').options.length > 0")
        _ask(page, "slow", "Phone check")
        _wait_idle(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        send = page.locator("#prompt").bounding_box()
        assert send is not None and send["x"] + send["width"] <= 390
    finally:
        context.close()


def test_a_saved_run_that_no_longer_exists_ends_with_an_error(page: Page) -> None:
    saved = {
        "history": [{"role": "user", "content": "hello"}],
        "active": {"runId": "run_gone", "lastEventId": "7", "text": "Half a", "assistant": "slow"},
        "assistant": "slow",
    }
    # Stored before the page's script runs (the page saves its own state when it unloads).
    page.add_init_script(
        f"sessionStorage.setItem({json.dumps(STORE_KEY)}, {json.dumps(json.dumps(saved))})"
    )
    page.reload()
    _wait_idle(page, timeout=10)
    assert "no run 'run_gone'" in page.locator(".msg.assistant .error").last.inner_text()
    assert _last_reply(page) == "Half a"
    assert [t["role"] for t in _history(page)] == ["user", "assistant"]
