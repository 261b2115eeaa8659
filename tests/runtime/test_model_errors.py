"""Model errors: interrupted streams keep what was produced; bad inputs name the element."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _runtime_helpers import collect

from tokentide.errors import StreamError, StreamInterrupted
from tokentide.models import FakeChatModel
from tokentide.output_parsers import StrOutputParser
from tokentide.prompts import ChatPromptTemplate

TOKENS = ["The", " cat", " sat", " on", " the", " mat"]


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_error_after_keeps_the_first_n_chunks(sync: bool, n: int) -> None:
    model = FakeChatModel(responses=[TOKENS], error_after=n)
    got: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        if sync:
            for chunk in model.stream("hi"):
                got.append(chunk.content)
        else:

            async def run() -> None:
                async for chunk in model.astream("hi"):
                    got.append(chunk.content)

            asyncio.run(run())
    assert got == TOKENS[:n]
    assert isinstance(info.value, StreamError)
    assert info.value.partial is not None
    assert info.value.partial.content == "".join(TOKENS[:n])


@pytest.mark.parametrize("sync", [True, False])
def test_error_after_through_invoke_and_a_chain(sync: bool) -> None:
    model = FakeChatModel(responses=[TOKENS], error_after=2)
    with pytest.raises(StreamInterrupted) as info:
        if sync:
            model.invoke("hi")
        else:
            asyncio.run(model.ainvoke("hi"))
    assert info.value.partial is not None and info.value.partial.content == "The cat"
    chain = ChatPromptTemplate.from_template("{q}") | model | StrOutputParser()
    with pytest.raises(StreamInterrupted) as info:
        collect(chain, {"q": "x"}, sync)
    assert info.value.partial is not None and info.value.partial.content == "The cat"


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize(
    ("bad", "error", "pattern"),
    [
        (42, TypeError, "got int"),
        ([("human", "ok"), 5], TypeError, r"messages\[1\]"),
        ([("robot", "x")], ValueError, r"messages\[0\]: unknown role 'robot'"),
        ([("human", "a", "b")], ValueError, r"messages\[0\]: a \(role, content\) pair needs 2"),
        ([{"content": "no role"}], ValueError, r"messages\[0\].*'role' or a 'type'"),
        ([{"role": "user", "content": [{"type": "image"}]}], ValueError, r"content\[0\]"),
    ],
)
def test_bad_model_inputs_name_the_element(
    sync: bool, bad: Any, error: type[Exception], pattern: str
) -> None:
    model = FakeChatModel(responses=[["x"]])
    with pytest.raises(error, match=pattern):
        if sync:
            model.invoke(bad)
        else:
            asyncio.run(model.ainvoke(bad))


def test_bad_model_options() -> None:
    with pytest.raises(TypeError, match="list of replies"):
        FakeChatModel(responses="hello")
    with pytest.raises(ValueError, match="at least one reply"):
        FakeChatModel(responses=[])
    with pytest.raises(ValueError, match="delay"):
        FakeChatModel(delay=-1)


@pytest.mark.parametrize("sync", [True, False])
def test_error_before_first_token_is_not_wrapped(sync: bool) -> None:
    model = FakeChatModel(responses=[TOKENS], error_after=0)
    with pytest.raises(StreamInterrupted) as info:
        collect(model, "hi", sync)
    assert info.value.partial is None or info.value.partial.content == ""
