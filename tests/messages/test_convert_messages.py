from __future__ import annotations

import re
from typing import Any

import pytest

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    message_from_dict,
    message_to_openai_dict,
    messages_to_dicts,
    tool_call,
    tool_call_chunk,
)


class _PromptValue:
    def to_messages(self) -> list[BaseMessage]:
        return [SystemMessage("s"), HumanMessage("u")]


def test_single_values() -> None:
    assert convert_to_messages("hi") == [HumanMessage("hi")]
    msg = AIMessage("x")
    assert convert_to_messages(msg)[0] is msg
    assert convert_to_messages(_PromptValue()) == [SystemMessage("s"), HumanMessage("u")]
    assert convert_to_messages({"role": "user", "content": "hi"}) == [HumanMessage("hi")]
    assert convert_to_messages([]) == []


@pytest.mark.parametrize(
    ("role", "cls"),
    [
        ("system", SystemMessage),
        ("developer", SystemMessage),
        ("human", HumanMessage),
        ("user", HumanMessage),
        ("ai", AIMessage),
        ("assistant", AIMessage),
    ],
)
def test_role_pairs_and_dicts(role: str, cls: type[BaseMessage]) -> None:
    expected = [cls("hi")]
    assert convert_to_messages([(role, "hi")]) == expected
    assert convert_to_messages([[role, "hi"]]) == expected
    assert convert_to_messages([{"role": role, "content": "hi"}]) == expected


def test_mixed_list() -> None:
    given: list[Any] = [
        SystemMessage("s"),
        "plain",
        ("assistant", "a"),
        {"type": "human", "content": "t"},
        {"role": "tool", "content": "4", "tool_call_id": "c1", "name": "add"},
    ]
    assert convert_to_messages(given) == [
        SystemMessage("s"),
        HumanMessage("plain"),
        AIMessage("a"),
        HumanMessage("t"),
        ToolMessage("4", tool_call_id="c1", name="add"),
    ]
    assert convert_to_messages(iter(["a"])) == [HumanMessage("a")]


def test_content_parts_are_joined() -> None:
    parts = [{"type": "text", "text": "Hello, "}, "big ", {"text": "world"}]
    assert convert_to_messages([{"role": "user", "content": parts}]) == [
        HumanMessage("Hello, big world")
    ]
    assert convert_to_messages([("user", [{"type": "text", "text": "x"}])]) == [HumanMessage("x")]


def test_openai_assistant_tool_calls() -> None:
    data = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "mul", "arguments": "{bad"}},
            {"id": "c3", "type": "function", "function": {"name": "noop", "arguments": ""}},
        ],
    }
    msg = convert_to_messages([data])[0]
    assert isinstance(msg, AIMessage) and msg.content == ""
    assert msg.tool_calls == [
        tool_call(name="add", args={"a": 1}, id="c1"),
        tool_call(name="noop", args={}, id="c3"),
    ]
    [bad] = msg.invalid_tool_calls
    assert (bad["name"], bad["args"], bad["id"]) == ("mul", "{bad", "c2")
    assert bad["error"]


def test_type_dicts_with_data_and_chunks() -> None:
    assert message_from_dict({"type": "ai", "data": {"content": "x", "id": "1"}}) == AIMessage(
        "x", id="1"
    )
    assert message_from_dict({"type": "chat", "content": "x", "role": "critic"}) == ChatMessage(
        "x", role="critic"
    )
    chunk = message_from_dict(
        {"type": "AIMessageChunk", "content": "x", "tool_call_chunks": [tool_call_chunk(args="{}")]}
    )
    assert isinstance(chunk, AIMessageChunk) and chunk.tool_calls[0]["args"] == {}


def _round_trip_cases() -> list[BaseMessage]:
    return [
        SystemMessage("s", id="1"),
        HumanMessage("u", name="bob", additional_kwargs={"k": 1}),
        AIMessage(
            "a",
            tool_calls=[tool_call(name="f", args={"x": [1, "é"]}, id="c1")],
            usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            response_metadata={"finish_reason": "tool_calls"},
        ),
        ToolMessage("4", tool_call_id="c1", status="error", artifact={"raw": 4}),
        ChatMessage("c", role="critic"),
        AIMessageChunk(
            "x",
            id="chatcmpl-1",
            tool_call_chunks=[tool_call_chunk(name="f", args='{"a": 1', id="c", index=0)],
            chunk_position="last",
        ),
    ]


@pytest.mark.parametrize("message", _round_trip_cases(), ids=lambda m: m.type)
def test_model_dump_round_trip(message: BaseMessage) -> None:
    assert message_from_dict(message.model_dump()) == message


def test_openai_dict_round_trip() -> None:
    messages = [
        SystemMessage("s"),
        HumanMessage("u", name="bob"),
        AIMessage("", tool_calls=[tool_call(name="f", args={"x": 1}, id="c1")]),
        ToolMessage("4", tool_call_id="c1"),
        AIMessage("done"),
    ]
    dicts = messages_to_dicts(messages)
    assert dicts[2]["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'
    assert [message_to_openai_dict(m) for m in messages] == dicts
    assert convert_to_messages(dicts) == messages
    assert messages_to_dicts("hi") == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        (
            ["ok", "ok", ("bot", "hi")],
            ValueError,
            "messages[2]: unknown role 'bot'; expected one of system, developer, user/human, assistant/ai, tool",
        ),
        ([{"role": "bot", "content": "x"}], ValueError, "messages[0]: unknown role 'bot'"),
        ([{"role": "user"}], ValueError, "messages[0]: missing 'content'"),
        ([{"role": "user", "content": None}], ValueError, "messages[0]: 'content' is None"),
        (
            [{"content": "x"}],
            ValueError,
            "messages[0]: a message dict needs a 'role' or a 'type' key",
        ),
        (
            [{"type": "robot", "content": "x"}],
            ValueError,
            "messages[0]: unknown message type 'robot'",
        ),
        (
            [("user", "a", "b")],
            ValueError,
            "messages[0]: a (role, content) pair needs 2 items, got 3",
        ),
        ([(1, "a")], TypeError, "messages[0]: the role must be a string, got int"),
        (["a", 42], TypeError, "messages[1]: expected a message, a string, a (role, content) pair"),
        (
            [("user", 42)],
            TypeError,
            "messages[0].content: expected a string or a list of text parts",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]}],
            ValueError,
            "messages[0].content[1]: unsupported content part 'image_url'; only text parts",
        ),
        (
            [{"role": "tool", "content": "x"}],
            ValueError,
            "messages[0]: a tool message needs a 'tool_call_id'",
        ),
        ([("tool", "x")], ValueError, "messages[0]: a tool message needs a 'tool_call_id'"),
        (
            [{"type": "chat", "content": "x"}],
            ValueError,
            "messages[0]: a chat message needs a 'role'",
        ),
        (
            [{"role": "assistant", "content": "", "tool_calls": ["x"]}],
            TypeError,
            "messages[0].tool_calls[0]: expected a dict, got str",
        ),
        (
            [{"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]}],
            ValueError,
            "messages[0].tool_calls[0]: expected 'function' or 'name'/'args' keys",
        ),
        (42, TypeError, "messages: expected a string, a message, a prompt value or a list"),
        (b"hi", TypeError, "got bytes"),
        ({"role": "bot", "content": "x"}, ValueError, "message: unknown role 'bot'"),
    ],
)
def test_errors_name_the_element(given: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        convert_to_messages(given)


def test_message_from_dict_rejects_non_dicts() -> None:
    with pytest.raises(TypeError, match="message: expected a dict, got list"):
        message_from_dict([])  # type: ignore[arg-type]
