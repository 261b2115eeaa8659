"""Prompt templates: variables, escapes, placeholders, partials, prompt values, chains."""

from __future__ import annotations

import pytest
from _runtime_helpers import collect

from tokentide.messages import AIMessage, HumanMessage, SystemMessage, convert_to_messages
from tokentide.models import FakeChatModel
from tokentide.output_parsers import StrOutputParser
from tokentide.prompts import (
    AIMessagePromptTemplate,
    ChatPromptTemplate,
    ChatPromptValue,
    HumanMessagePromptTemplate,
    MessagesPlaceholder,
    MissingVariablesError,
    PromptTemplate,
    StringPromptValue,
    SystemMessagePromptTemplate,
)


def test_from_messages_fills_slots_and_lists_variables() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are {role}"), ("human", "{question}")]
    )
    assert prompt.input_variables == ["question", "role"]
    value = prompt.invoke({"role": "a cat", "question": "why?"})
    assert isinstance(value, ChatPromptValue)
    assert value.to_messages() == [SystemMessage("You are a cat"), HumanMessage("why?")]
    assert value.to_string() == "System: You are a cat\nHuman: why?"


def test_roles_and_message_objects_and_templates() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            SystemMessage("fixed {not_a_slot}"),
            ("user", "u {a}"),
            ("assistant", "a {a}"),
            "plain {b}",
            SystemMessagePromptTemplate.from_template("s {b}"),
            HumanMessagePromptTemplate.from_template("h"),
            AIMessagePromptTemplate.from_template("ai"),
        ]
    )
    assert prompt.input_variables == ["a", "b"]
    messages = prompt.format_messages(a=1, b="x")
    assert messages == [
        SystemMessage("fixed {not_a_slot}"),
        HumanMessage("u 1"),
        AIMessage("a 1"),
        HumanMessage("plain x"),
        SystemMessage("s x"),
        HumanMessage("h"),
        AIMessage("ai"),
    ]


def test_escaped_braces_and_format_spec() -> None:
    prompt = PromptTemplate.from_template('{{"json": {value!r}}} {n:>3}')
    assert prompt.input_variables == ["n", "value"]
    assert prompt.format(value="x", n=7) == "{\"json\": 'x'}   7"


def test_missing_variable_is_a_key_error_naming_missing_and_expected() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You are {role}"), ("human", "{q}")])
    with pytest.raises(KeyError) as info:
        prompt.invoke({"role": "x"})
    assert isinstance(info.value, MissingVariablesError)
    text = str(info.value)
    assert "missing variables ['q']" in text
    assert "Expected: ['q', 'role']" in text
    assert info.value.missing == ["q"]


def test_bad_variable_names_are_refused() -> None:
    for bad in ("{a.b}", "{a[0]}", "{}", "{0}"):
        with pytest.raises(ValueError, match="variable name"):
            PromptTemplate.from_template(bad)
    with pytest.raises(ValueError, match="invalid prompt template"):
        PromptTemplate.from_template("{unclosed")


def test_messages_placeholder_and_placeholder_tuple() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "sys"),
            MessagesPlaceholder("history"),
            ("placeholder", "{extra}"),
            ("human", "{q}"),
        ]
    )
    # A ("placeholder", ...) pair is optional, a MessagesPlaceholder is required by default.
    assert prompt.input_variables == ["history", "q"]
    assert prompt.optional_variables == ["extra"]
    messages = prompt.format_messages(history=[("human", "hi"), ("ai", "hello")], q="bye")
    assert messages == [
        SystemMessage("sys"),
        HumanMessage("hi"),
        AIMessage("hello"),
        HumanMessage("bye"),
    ]
    with_extra = prompt.format_messages(history=[], extra=[HumanMessage("e")], q="q")
    assert with_extra[1:] == [HumanMessage("e"), HumanMessage("q")]
    with pytest.raises(KeyError, match="history"):
        prompt.format_messages(q="q")


def test_placeholder_value_errors_name_the_variable() -> None:
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history")])
    with pytest.raises(TypeError, match="'history'.*string"):
        prompt.invoke({"history": "not a list"})
    with pytest.raises(ValueError, match=r"'history'.*messages\[1\]"):
        prompt.invoke({"history": [("human", "ok"), ("robot", "bad")]})
    last = ChatPromptTemplate.from_messages([MessagesPlaceholder("h", n_messages=1)])
    assert last.format_messages(h=["a", "b"]) == [HumanMessage("b")]
    with pytest.raises(ValueError, match="placeholder"):
        ChatPromptTemplate.from_messages([("placeholder", "history")])


def test_bad_message_items_name_the_item() -> None:
    with pytest.raises(ValueError, match=r"messages\[1\]: unknown role 'robot'"):
        ChatPromptTemplate.from_messages([("human", "x"), ("robot", "y")])
    with pytest.raises(TypeError, match=r"messages\[0\]"):
        ChatPromptTemplate.from_messages([42])
    with pytest.raises(TypeError, match="list of messages"):
        ChatPromptTemplate("just a string")


def test_from_template_and_single_variable_non_dict_input() -> None:
    prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")
    assert prompt.input_variables == ["topic"]
    assert prompt.invoke("cats").to_messages() == [HumanMessage("Tell me a joke about cats")]
    two = ChatPromptTemplate.from_messages([("human", "{a} {b}")])
    with pytest.raises(TypeError, match=r"expects a dict of variables \['a', 'b'\]"):
        two.invoke("x")


def test_partial_with_values_and_functions() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "{role} on {day}"), ("human", "{q}")])
    calls = []

    def today() -> str:
        calls.append(1)
        return "Monday"

    partial = prompt.partial(role="bot", day=today)
    assert partial.input_variables == ["q"]
    assert prompt.input_variables == ["day", "q", "role"]  # unchanged
    assert partial.invoke("hi").to_string() == "System: bot on Monday\nHuman: hi"
    assert calls == [1]
    # An explicit value wins over a partial.
    assert partial.format_messages(q="x", role="cat")[0].content == "cat on Monday"


def test_prompt_template_string_value() -> None:
    prompt = PromptTemplate.from_template("Tell me about {topic}")
    value = prompt.invoke({"topic": "owls"})
    assert isinstance(value, StringPromptValue)
    assert value.to_string() == "Tell me about owls"
    assert value.to_messages() == [HumanMessage("Tell me about owls")]
    assert prompt.partial(topic="x").invoke({}).to_string() == "Tell me about x"


def test_prompt_values_convert_to_messages() -> None:
    value = ChatPromptTemplate.from_template("hi {x}").invoke("a")
    assert convert_to_messages(value) == [HumanMessage("hi a")]
    assert convert_to_messages(PromptTemplate.from_template("t").invoke({})) == [HumanMessage("t")]


def test_adding_prompts() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "s {a}")]) + ("human", "{b}")
    assert prompt.input_variables == ["a", "b"]
    assert [m.content for m in prompt.format_messages(a=1, b=2)] == ["s 1", "2"]


@pytest.mark.parametrize("sync", [True, False])
def test_prompt_model_parser_chain_streams(sync: bool) -> None:
    prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")
    model = FakeChatModel(responses=[["Why", " did", " the", " cat"]])
    chain = prompt | model | StrOutputParser()
    assert collect(chain, {"topic": "cats"}, sync) == ["Why", " did", " the", " cat", ""]
    assert chain.invoke({"topic": "cats"}) == "Why did the cat"


@pytest.mark.parametrize("sync", [True, False])
def test_prompt_stream_yields_one_value(sync: bool) -> None:
    prompt = PromptTemplate.from_template("{x}")
    assert collect(prompt, {"x": "1"}, sync) == [StringPromptValue("1")]


async def test_prompt_reports_start_and_end_without_stream_events() -> None:
    from _runtime_helpers import events_of

    prompt = ChatPromptTemplate.from_template("hi {x}")
    events = await events_of(prompt, {"x": 1})
    assert [e["event"] for e in events] == ["on_prompt_start", "on_prompt_end"]
    assert events[0]["data"] == {"input": {"x": 1}}
    assert events[1]["data"]["output"] == ChatPromptValue([HumanMessage("hi 1")])
