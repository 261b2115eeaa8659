"""Chromium (the system's ``chromium``, driven by Playwright) and the served web page in it,
shared by the web page tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, sync_playwright


@contextmanager
def chromium(args: Sequence[str] = ("--no-sandbox", "--disable-gpu")) -> Iterator[Browser]:
    """A headless Chromium; fails (does not skip) when it is not installed."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium is not installed: the project's set-up installs it (Debian package "
            "'chromium'); the web page tests need a real browser and do not skip without one",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(args)
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def web_page(browser: Browser, base_url: str, *, width: int, height: int) -> Iterator[Page]:
    """The served page in a fresh browser context (fresh storage), its assistants listed.

    The page's Content-Security-Policy is bypassed, so that the tests check the page's own
    escaping (and so that Playwright may evaluate its predicates). Errors in the page fail the
    test when it ends."""
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_function("document.getElementById('assistant').options.length > 0")
    yield page
    context.close()
    assert errors == [], f"errors in the page: {errors}"
