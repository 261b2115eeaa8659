"""`FakeChatModel` takes ChatOpenAI's constructor lines; LangChain's fakes keep their own."""

from __future__ import annotations

import pytest

from tokentide.language_models import FakeListChatModel, GenericFakeChatModel
from tokentide.messages import AIMessage
from tokentide.models import FakeChatModel


def test_chat_openai_constructor_line() -> None:
    model = FakeChatModel(
        model="gpt-4o-mini",
        temperature=0,
        max_tokens=64,
        streaming=True,
        api_key="k",
        max_retries=2,
        timeout=30,
    )
    assert (model.model, model.model_name, model.temperature) == ("gpt-4o-mini",) * 2 + (0,)
    assert model.max_tokens == 64 and model.streaming is True
    assert model.options["api_key"] == "k" and model.options["timeout"] == 30
    assert model.invoke("hi").content == "Hello from the fake model."
    meta = model._run_metadata()
    assert meta["ls_model_name"] == "gpt-4o-mini" and meta["ls_max_tokens"] == 64


def test_model_name_alias_and_default() -> None:
    assert FakeChatModel(model_name="m").model == "m"
    assert FakeChatModel().model_name == "fake-chat"
    with pytest.raises(ValueError, match="disagree"):
        FakeChatModel(model="a", model_name="b")


def test_unknown_keyword_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument.*'bogus'"):
        FakeChatModel(bogus=1)


def test_generic_fake_chat_model_splits_like_langchain() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("hello big world"), "two"]))
    chunks = list(model.stream("hi"))
    assert [c.content for c in chunks] == ["hello", " ", "big", " ", "world"]
    assert chunks[-1].chunk_position == "last"  # as LangChain's: no extra usage chunk
    assert model.invoke("again").content == "two"
    assert model.get_name() == "GenericFakeChatModel"
    with pytest.raises(ValueError, match="no more messages"):
        model.invoke("more")


def test_fake_list_chat_model_streams_characters() -> None:
    model = FakeListChatModel(responses=["ab", "c"])
    assert [c.content for c in model.stream("x")] == ["a", "b"]
    assert model.invoke("x").content == "c"
