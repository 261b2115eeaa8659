"""Fixtures of the HTTP model tests: a scripted OpenAI-compatible server and a model on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from fakes.sse_server import ScriptedSSEServer
from tokentide.models import ChatOpenAI

from .openai_support import make_model


@pytest.fixture
def server() -> Iterator[ScriptedSSEServer]:
    """A scripted upstream with no default script: each test pushes its own."""
    with ScriptedSSEServer() as srv:
        yield srv


@pytest.fixture
async def model(server: ScriptedSSEServer) -> AsyncIterator[ChatOpenAI]:
    """``ChatOpenAI`` on ``server`` (quick retries), closed after the test."""
    chat = make_model(server)
    yield chat
    chat.close()
    await chat.aclose()
