"""`ChatStream` / `AsyncChatStream`: what a chat model's ``stream()`` / ``astream()`` return."""

from __future__ import annotations

import itertools

import pytest

from tokentide.errors import StreamError
from tokentide.messages import AIMessage
from tokentide.models import AsyncChatStream, ChatStream, FakeChatModel

REPLY = ["Hel", "lo", " there", "!"]


def _model(**kwargs: object) -> FakeChatModel:
    return FakeChatModel(responses=[REPLY], **kwargs)  # type: ignore[arg-type]


def test_stream_iterates_and_gives_the_whole_message() -> None:
    stream = _model().stream("hi there")
    assert isinstance(stream, ChatStream)
    chunks = list(stream)
    assert "".join(str(c.content) for c in chunks) == "Hello there!"
    result = stream.result
    assert isinstance(result, AIMessage)
    assert result.content == "Hello there!"
    assert result.id == chunks[0].id
    assert result.usage_metadata == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert result.response_metadata["finish_reason"] == "stop"
    assert stream.usage_metadata == result.usage_metadata


def test_result_after_an_early_close_has_the_usage_so_far() -> None:
    with _model().stream("hi") as stream:
        for n, _ in enumerate(stream, 1):
            if n == 2:
                break
        assert stream.result.content == "Hello"  # mid-stream: what arrived
    result = stream.result  # the with block closed it: usage settled
    assert result.content == "Hello"
    assert result.usage_metadata is not None
    assert result.usage_metadata["output_tokens"] == 2
    assert "finish_reason" not in result.response_metadata
    assert list(stream) == []  # closed: nothing more
    stream.close()  # idempotent


def test_a_stream_works_where_a_bare_generator_did() -> None:
    stream = _model().stream("hi")
    assert next(stream).content == "Hel"
    assert [c.content for c in itertools.islice(stream, 2)] == ["lo", " there"]
    stream.close()


def test_a_failure_after_the_first_chunk_keeps_the_partial_on_the_stream_too() -> None:
    stream = _model(error_after=2).stream("hi")
    with pytest.raises(StreamError) as info:
        for _ in stream:
            pass
    assert info.value.partial is not None
    assert info.value.partial.content == stream.result.content == "Hello"
    assert stream.result.usage_metadata is not None


def test_two_calls_on_one_model_keep_their_own_results() -> None:
    model = FakeChatModel(responses=[["a", "b"], ["c"]])
    first, second = model.stream("x"), model.stream("y")
    assert next(first).content == "a"
    list(second)  # interleaved with the first call
    list(first)
    assert (first.result.content, second.result.content) == ("ab", "c")
    assert not hasattr(model, "last_generation")


async def test_astream_iterates_and_gives_the_whole_message() -> None:
    stream = _model().astream("hi there")
    assert isinstance(stream, AsyncChatStream)
    text = "".join([str(c.content) async for c in stream])
    assert text == stream.result.content == "Hello there!"
    assert stream.result.usage_metadata == {
        "input_tokens": 2,
        "output_tokens": 4,
        "total_tokens": 6,
    }
    assert stream.result.response_metadata["finish_reason"] == "stop"


async def test_async_result_after_aclose_has_the_usage_so_far() -> None:
    async with _model().astream("hi") as stream:
        async for _ in stream:
            break
    result = stream.result
    assert result.content == "Hel"
    assert result.usage_metadata is not None and result.usage_metadata["output_tokens"] == 1
    await stream.aclose()  # idempotent
    assert [c async for c in stream] == []
