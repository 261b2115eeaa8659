"""``ChatOpenAI(use_responses_api=True)`` against llama-cpp-python's server (the
``llama_server`` fixture of ``tests/conftest.py``).

llama-cpp-python 0.3.x serves ``/v1/chat/completions`` and ``/v1/completions`` but neither
``/v1/responses`` nor ``/v1/messages``: the Responses client gets a clean `NotFoundError` before
any token (not retried), and the same model streams through chat completions. This test fails,
on purpose, the day that server learns the Responses API, so that the real round trip replaces
it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tokentide.errors import NotFoundError
from tokentide.models import ChatOpenAI

pytestmark = [pytest.mark.local_model, pytest.mark.slow]


async def test_llama_cpp_server_has_no_responses_api(llama_server: str) -> None:
    options: dict[str, Any] = {
        "base_url": llama_server,
        "model": "smollm2",
        "max_tokens": 4,
        "temperature": 0,
    }
    async with ChatOpenAI(use_responses_api=True, **options) as responses:
        with pytest.raises(NotFoundError):
            await responses.ainvoke("Say hi.")
    async with ChatOpenAI(**options) as chat:
        assert (await chat.ainvoke("Say hi.")).content
