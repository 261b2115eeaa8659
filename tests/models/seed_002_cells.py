"""The three code cells of seed 002 (streaming responses from a text-completion LLM), as
written but for the model class they are handed (the ported import): no tests here."""

from __future__ import annotations

from typing import Any

__all__ = ["cell_async", "cell_events", "cell_sync"]


def cell_sync(OpenAI: Any) -> None:  # noqa: N803
    llm = OpenAI(model="gpt-3.5-turbo-instruct", temperature=0, max_tokens=512)
    for chunk in llm.stream("Write me a 1 verse song about sparkling water."):
        print(chunk, end="|", flush=True)


async def cell_async(OpenAI: Any) -> None:  # noqa: N803
    llm = OpenAI(model="gpt-3.5-turbo-instruct", temperature=0, max_tokens=512)
    async for chunk in llm.astream("Write me a 1 verse song about sparkling water."):
        print(chunk, end="|", flush=True)


async def cell_events(OpenAI: Any) -> None:  # noqa: N803
    llm = OpenAI(model="gpt-3.5-turbo-instruct", temperature=0, max_tokens=512)

    idx = 0

    async for event in llm.astream_events(
        "Write me a 1 verse song about goldfish on the moon", version="v1"
    ):
        idx += 1
        if idx >= 5:  # Truncate the output
            print("...Truncated")
            break
        print(event)
