"""Fixtures shared by the server tests: SDK clients of the module's ``server``, one Chromium per
module and a page on the module's ``server``, and a Redis server per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import openai
import pytest

from fakes.live_server import LiveServer
from fakes.redis_server import RedisServer, running_redis_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    """The ``openai`` SDK on the module's ``server`` (no retries)."""
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: LiveServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """The async ``openai`` SDK on the module's ``server`` (no retries)."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from .web_page_driver import chromium

    with chromium() as browser:
        yield browser


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser, server: LiveServer) -> Iterator[Page]:
    """The web page of the module's ``server``, in a window of the module's ``PAGE_SIZE``."""
    from .web_page_driver import web_page

    width, height = getattr(request.module, "PAGE_SIZE", (1000, 800))
    with web_page(browser, server.url, width=width, height=height) as page:
        yield page
