"""Differential: ``get_usage_metadata_callback()`` sums the same usage per model as
langchain-core's for the same calls (nested blocks, a chain, async tasks, calls after the
block not counted, the block left by an exception)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

lc_callbacks = pytest.importorskip("langchain_core.callbacks")

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage as LcAIMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration as LcGeneration  # noqa: E402
from langchain_core.outputs import ChatResult  # noqa: E402
from langchain_core.runnables import RunnableLambda as LcLambda  # noqa: E402

from tokentide.callbacks import get_usage_metadata_callback  # noqa: E402
from tokentide.models import FakeChatModel  # noqa: E402
from tokentide.runnables import RunnableLambda  # noqa: E402

REPLY = ["a", "b"]


class LcUsageModel(BaseChatModel):
    """A langchain-core model reporting the usage `FakeChatModel` reports: one input token
    per prompt word, one output token per reply chunk."""

    model_name: str

    @property
    def _llm_type(self) -> str:
        return "usage-fake"

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        words = sum(len(str(m.content).split()) for m in messages)
        usage = {"input_tokens": words, "output_tokens": 2, "total_tokens": words + 2}
        message = LcAIMessage(
            "".join(REPLY),
            usage_metadata=usage,
            response_metadata={"model_name": self.model_name},
        )
        return ChatResult(generations=[LcGeneration(message=message)])


def _scenario(get_cb: Any, make: Any, lam: Any) -> list[dict[str, Any]]:
    m1, m2 = make("m1"), make("m2")
    chain = lam(lambda x: m2.invoke(x).content) | m1
    with get_cb() as outer:
        m1.invoke("one two")
        with get_cb() as inner:
            chain.invoke("three four five")
        with pytest.raises(ZeroDivisionError), get_cb() as failed:
            m2.invoke("six")
            raise ZeroDivisionError
    m1.invoke("not counted")
    after = dict(failed.usage_metadata)
    m2.invoke("still not counted")
    assert failed.usage_metadata == after
    return [outer.usage_metadata, inner.usage_metadata, failed.usage_metadata]


def test_usage_context_matches_langchain() -> None:
    ours = _scenario(
        get_usage_metadata_callback,
        lambda name: FakeChatModel([REPLY], model_name=name),
        RunnableLambda,
    )
    theirs = _scenario(
        lc_callbacks.get_usage_metadata_callback,
        lambda name: LcUsageModel(model_name=name),
        LcLambda,
    )
    assert ours == theirs
    assert ours[0]["m1"]["input_tokens"] == 2 + 1  # "one two", then "ab" (the chain's m1)


async def _async_scenario(get_cb: Any, make: Any) -> dict[str, Any]:
    model = make("m1")
    with get_cb() as cb:
        await asyncio.gather(model.ainvoke("one"), model.ainvoke("two three"))
        async for _ in model.astream("four"):
            pass
    await model.ainvoke("not counted")
    return dict(cb.usage_metadata)


async def test_usage_context_async_matches_langchain() -> None:
    ours = await _async_scenario(
        get_usage_metadata_callback, lambda name: FakeChatModel([REPLY], model_name=name)
    )
    theirs = await _async_scenario(
        lc_callbacks.get_usage_metadata_callback, lambda name: LcUsageModel(model_name=name)
    )
    assert ours == theirs
    assert ours["m1"]["input_tokens"] == 4
