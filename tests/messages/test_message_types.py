from __future__ import annotations

import copy
import pickle

import pytest

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    UsageMetadata,
    message_chunk_to_message,
    tool_call,
    tool_call_chunk,
)


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (SystemMessage, "system"),
        (HumanMessage, "human"),
        (AIMessage, "ai"),
        (AIMessageChunk, "AIMessageChunk"),
        (HumanMessageChunk, "HumanMessageChunk"),
        (SystemMessageChunk, "SystemMessageChunk"),
    ],
)
def test_type_and_defaults(cls: type[BaseMessage], kind: str) -> None:
    msg = cls("hi")
    assert msg.type == kind
    assert msg.content == "hi" == msg.text
    assert msg.id is None and msg.name is None
    assert msg.additional_kwargs == {} and msg.response_metadata == {}
    assert cls(content="hi") == msg


def test_tool_and_chat_types() -> None:
    tool = ToolMessage("4", tool_call_id="c1")
    assert (tool.type, tool.tool_call_id, tool.status, tool.artifact) == (
        "tool",
        "c1",
        "success",
        None,
    )
    assert ToolMessage(4, tool_call_id="c1").content == "4"
    chat = ChatMessage("hi", role="critic")
    assert (chat.type, chat.role) == ("chat", "critic")


def test_ai_defaults() -> None:
    msg = AIMessage("x")
    assert msg.tool_calls == [] and msg.invalid_tool_calls == [] and msg.usage_metadata is None
    chunk = AIMessageChunk("x")
    assert chunk.tool_call_chunks == [] and chunk.tool_calls == [] and chunk.chunk_position is None


def test_chunk_is_an_ai_message_but_not_equal_to_one() -> None:
    assert isinstance(AIMessageChunk("x"), AIMessage)
    assert AIMessageChunk("x") != AIMessage("x")
    assert AIMessage("x") != AIMessageChunk("x")
    assert HumanMessage("x") != SystemMessage("x")
    assert HumanMessage("x") != "x"


def test_equality_compares_fields() -> None:
    assert AIMessage("x", id="1") == AIMessage("x", id="1")
    assert AIMessage("x", id="1") != AIMessage("x", id="2")
    assert AIMessage("x", response_metadata={}) == AIMessage("x")
    assert AIMessage(
        "x", usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    ) != AIMessage("x")
    assert ToolMessage("x", tool_call_id="a") != ToolMessage("x", tool_call_id="b")
    merged = AIMessageChunk("a", id="1") + AIMessageChunk("b")
    assert merged == AIMessageChunk("ab", id="1")


def test_messages_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(HumanMessage("x"))


def test_repr_shows_only_non_defaults() -> None:
    assert repr(AIMessageChunk("Hi", id="c-1")) == "AIMessageChunk(content='Hi', id='c-1')"
    assert repr(HumanMessage("")) == "HumanMessage(content='')"
    assert (
        repr(ToolMessage("4", tool_call_id="c1")) == "ToolMessage(content='4', tool_call_id='c1')"
    )
    text = repr(AIMessage("", response_metadata={"finish_reason": "stop"}))
    assert text == "AIMessage(content='', response_metadata={'finish_reason': 'stop'})"


def test_metadata_dicts_are_created_lazily_and_kept() -> None:
    msg = HumanMessage("x")
    msg.additional_kwargs["k"] = 1
    msg.response_metadata["r"] = 2
    assert msg.additional_kwargs == {"k": 1} and msg.response_metadata == {"r": 2}
    msg.response_metadata = {"new": True}
    assert msg.response_metadata == {"new": True}


def test_content_is_assignable() -> None:
    chunk = AIMessageChunk("a") + AIMessageChunk("b")
    chunk.content = "z"
    assert chunk.content == "z" and chunk.text == "z"
    msg = HumanMessage("a")
    msg.content = "b"
    assert msg.content == "b"


def test_model_dump_shapes() -> None:
    msg = AIMessage("hi", id="1", tool_calls=[tool_call(name="f", args={"a": 1}, id="c")])
    dumped = msg.model_dump()
    assert dumped == {
        "content": "hi",
        "additional_kwargs": {},
        "response_metadata": {},
        "type": "ai",
        "name": None,
        "id": "1",
        "tool_calls": [{"name": "f", "args": {"a": 1}, "id": "c", "type": "tool_call"}],
        "invalid_tool_calls": [],
        "usage_metadata": None,
    }
    dumped["tool_calls"][0]["args"]["a"] = 2
    assert msg.tool_calls[0]["args"] == {"a": 1}, "model_dump must copy nested values"
    chunk = AIMessageChunk("x", chunk_position="last").model_dump()
    assert chunk["type"] == "AIMessageChunk" and chunk["tool_call_chunks"] == []
    assert chunk["chunk_position"] == "last"
    assert ToolMessage("4", tool_call_id="c").model_dump()["tool_call_id"] == "c"
    assert list(HumanMessage("x").model_dump()) == [
        "content",
        "additional_kwargs",
        "response_metadata",
        "type",
        "name",
        "id",
    ]


def test_to_dict_openai_shapes() -> None:
    assert SystemMessage("s").to_dict() == {"role": "system", "content": "s"}
    assert HumanMessage("u", name="bob").to_dict() == {
        "role": "user",
        "content": "u",
        "name": "bob",
    }
    assert ToolMessage("4", tool_call_id="c1").to_dict() == {
        "role": "tool",
        "content": "4",
        "tool_call_id": "c1",
    }
    assert ChatMessage("x", role="critic").to_dict() == {"role": "critic", "content": "x"}
    msg = AIMessage("", tool_calls=[tool_call(name="add", args={"a": "é"}, id="c1")])
    assert msg.to_dict() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": "é"}'}}
        ],
    }
    assert AIMessage("plain").to_dict() == {"role": "assistant", "content": "plain"}


def test_to_dict_of_streamed_chunk_carries_parsed_tool_calls() -> None:
    chunk = AIMessageChunk(
        "", tool_call_chunks=[tool_call_chunk(name="f", args='{"x": 1}', id="c", index=0)]
    )
    assert chunk.to_dict()["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x": 1}'}


def test_pretty_repr() -> None:
    text = AIMessage("hello", tool_calls=[tool_call(name="f", args={"a": 1}, id="c")]).pretty_repr()
    lines = text.splitlines()
    assert lines[0] == "=" * 34 + " Ai Message " + "=" * 34
    assert len(lines[0]) == 80
    assert "hello" in lines and "  f (c)" in lines and "    a: 1" in lines
    assert HumanMessage("x", name="n").pretty_repr().splitlines()[1] == "Name: n"


def test_pretty_print(capsys: pytest.CaptureFixture[str]) -> None:
    HumanMessage("x").pretty_print()
    assert capsys.readouterr().out.endswith("\nx\n")


def test_copy_and_pickle() -> None:
    merged = AIMessageChunk("a", id="1", response_metadata={"m": 1}) + AIMessageChunk("b")
    for clone in (copy.copy(merged), copy.deepcopy(merged), pickle.loads(pickle.dumps(merged))):
        assert clone == merged
    assert pickle.loads(pickle.dumps(AIMessageChunk("x"))) == AIMessageChunk("x")
    updated = HumanMessage("a").model_copy(update={"content": "b"})
    assert updated == HumanMessage("b")


def test_other_chunk_types_merge() -> None:
    merged = HumanMessageChunk("a", id="run-1") + HumanMessageChunk("b", id="x")
    assert merged == HumanMessageChunk("ab", id="x")
    assert message_chunk_to_message(merged) == HumanMessage("ab", id="x")
    system = SystemMessageChunk("a", response_metadata={"k": 1}) + SystemMessageChunk("b")
    assert message_chunk_to_message(system) == SystemMessage("ab", response_metadata={"k": 1})
    with pytest.raises(TypeError):
        HumanMessageChunk("a") + SystemMessageChunk("b")


def test_message_chunk_to_message() -> None:
    chunk = AIMessageChunk(
        "hi",
        id="1",
        tool_call_chunks=[
            tool_call_chunk(name="f", args='{"a": 1}', id="c1", index=0),
            tool_call_chunk(name="g", args="{oops", id="c2", index=1),
        ],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        response_metadata={"finish_reason": "tool_calls"},
    )
    msg = message_chunk_to_message(chunk)
    assert type(msg) is AIMessage
    assert msg.tool_calls == [{"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}]
    assert [bad["id"] for bad in msg.invalid_tool_calls] == ["c2"]
    assert msg.usage_metadata == chunk.usage_metadata
    assert msg.response_metadata == {"finish_reason": "tool_calls"}
    plain = HumanMessage("x")
    assert message_chunk_to_message(plain) is plain


def test_chunk_model_dump_fast_path_matches_the_general_one() -> None:
    usage: UsageMetadata = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    for chunk in (
        AIMessageChunk("x"),
        AIMessageChunk("x", id="1", usage_metadata=usage, response_metadata={"a": [1]}),
        AIMessageChunk("", chunk_position="last", additional_kwargs={"k": {"v": 1}}),
    ):
        dumped = chunk.model_dump()
        assert dumped == BaseMessage.model_dump(chunk)
        if chunk.usage_metadata is not None:
            assert dumped["usage_metadata"] is not chunk.usage_metadata
