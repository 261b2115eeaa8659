"""Output parsers: text chunk by chunk, JSON partials as they arrive, fences, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _runtime_helpers import collect, events_of

from tokentide.messages import AIMessage, AIMessageChunk
from tokentide.models import FakeChatModel
from tokentide.output_parsers import (
    BaseOutputParser,
    JsonOutputParser,
    OutputParserException,
    StrOutputParser,
)
from tokentide.prompts import ChatPromptTemplate
from tokentide.runnables import RunnableGenerator, RunnableLambda
from tokentide.runtime import _parsers
from tokentide.wire._partial_json import PartialJSONParser

DOC = {"name": "Ada", "langs": ["en", "fr"], "age": 36, "ok": True, "note": None}
TEXT = json.dumps(DOC)


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("sync", [True, False])
def test_str_parser_streams_each_chunk(sync: bool) -> None:
    model = FakeChatModel(responses=[["a", "b", "c"]])
    assert collect(model | StrOutputParser(), "hi", sync) == ["a", "b", "c", ""]


def test_str_parser_invoke_and_inputs() -> None:
    parser = StrOutputParser()
    assert parser.invoke(AIMessage("whole")) == "whole"
    assert parser.invoke("text") == "text"
    assert list(parser.stream(AIMessageChunk("x"))) == ["x"]
    assert list(parser.transform(iter(["a", AIMessageChunk("b")]))) == ["a", "b"]
    with pytest.raises(TypeError, match="StrOutputParser expects a message or a string.*int"):
        parser.invoke(3)


@pytest.mark.parametrize("sync", [True, False])
def test_json_parser_streams_growing_values(sync: bool) -> None:
    model = FakeChatModel(responses=[pieces(TEXT, 3)])
    out = collect(model | JsonOutputParser(), "hi", sync)
    assert out[-1] == DOC
    assert len(out) > 5
    # Only changed values are yielded, and each is a "prefix" of the next.
    for before, after in zip(out, out[1:], strict=False):
        assert before != after
    assert out[0] == {}
    assert {"name": "Ad"} in out or {"name": "A"} in out


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize(
    "reply",
    [
        "```json\n" + TEXT + "\n```",
        "```\n" + TEXT + "\n```\n",
        "  ```JSON  \n" + TEXT + "```",
        "Here you go:\n```json\n" + TEXT + "\n```",
        "```" + TEXT + "```",
        "\n\n" + TEXT + "\n\n",
    ],
)
def test_json_parser_unwraps_fences_at_every_split(sync: bool, reply: str) -> None:
    for size in (1, 2, 5, 100):
        model = FakeChatModel(responses=[pieces(reply, size)])
        out = collect(model | JsonOutputParser(), "hi", sync)
        assert out[-1] == DOC, (size, reply)
    assert JsonOutputParser().invoke(AIMessage(reply)) == DOC


def test_json_parser_backticks_inside_strings_survive() -> None:
    doc = {"code": "use `x` and ``` fences"}
    reply = "```json\n" + json.dumps(doc) + "\n```"
    for size in (1, 3, 7):
        out = list(JsonOutputParser().transform(iter(pieces(reply, size))))
        assert out[-1] == doc


def test_json_parser_scalars_and_arrays() -> None:
    parser = JsonOutputParser()
    assert parser.invoke("42") == 42
    assert list(parser.transform(iter(["4", "2"]))) == [42]
    assert parser.invoke("true") == True  # noqa: E712
    out = list(parser.transform(iter(["[", "1, ", "2, ", "3]"])))
    assert out[-1] == [1, 2, 3]
    assert [] in out


@pytest.mark.parametrize("sync", [True, False])
def test_malformed_json_raises_with_start_of_text(sync: bool) -> None:
    model = FakeChatModel(responses=[['{"a": ', "1,,", " 2}"]])
    with pytest.raises(
        OutputParserException, match=r"Invalid json output.*\{\\?\"a\\?\": 1,,"
    ) as info:
        collect(model | JsonOutputParser(), "hi", sync)
    assert isinstance(info.value, ValueError)
    assert info.value.llm_output is not None and info.value.llm_output.startswith('{"a": 1,,')


@pytest.mark.parametrize("bad", ["", "   ", "Sorry, I cannot do that.", '{"a": 1', "{} extra"])
def test_invoke_bad_json_raises(bad: str) -> None:
    with pytest.raises(OutputParserException):
        JsonOutputParser().invoke(bad)
    with pytest.raises(OutputParserException):
        list(JsonOutputParser().transform(iter([bad])))


def test_error_quotes_only_the_start() -> None:
    bad = "x" * 1000
    with pytest.raises(OutputParserException) as info:
        JsonOutputParser().invoke(bad)
    assert len(str(info.value)) < 400


def test_json_parsing_work_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    fed: list[int] = []
    real = PartialJSONParser

    class Counting(real):  # type: ignore[misc, valid-type]
        def feed(self, delta: str) -> Any:
            fed.append(len(delta))
            return super().feed(delta)

    monkeypatch.setattr(_parsers, "PartialJSONParser", Counting)
    doc = {"items": [{"id": i, "text": "word " * 5} for i in range(300)]}
    text = "```json\n" + json.dumps(doc, indent=2) + "\n```"
    out = list(JsonOutputParser().transform(iter(pieces(text, 4))))
    assert out[-1] == doc
    assert sum(fed) <= len(text)  # every character is handed to the parser at most once


def test_json_parser_diff_true_is_refused() -> None:
    with pytest.raises(ValueError, match="diff"):
        JsonOutputParser(diff=True)


@pytest.mark.parametrize("sync", [True, False])
def test_step_after_json_parser_gets_the_final_object(sync: bool) -> None:
    # A non-streaming step folds its streamed input: snapshots must not be merged together.
    model = FakeChatModel(responses=[pieces(TEXT, 4)])
    chain = model | JsonOutputParser() | RunnableLambda(lambda d: d["name"])
    assert collect(chain, "hi", sync) == ["Ada"]
    assert chain.invoke("hi") == "Ada"


async def test_parser_events_report_final_value() -> None:
    model = FakeChatModel(responses=[pieces('{"a": "hello world"}', 3)])
    events = await events_of(model | JsonOutputParser(), "hi")
    ends = [e for e in events if e["event"] == "on_parser_end"]
    assert ends[0]["data"]["output"] == {"a": "hello world"}
    assert ends[0]["data"]["input"].content == '{"a": "hello world"}'
    streams = [e["data"]["chunk"] for e in events if e["event"] == "on_parser_stream"]
    assert streams[-1] == {"a": "hello world"}


def test_custom_parser_subclass() -> None:
    class Upper(BaseOutputParser):
        def parse(self, text: str) -> str:
            return text.upper()

    model = FakeChatModel(responses=[["a", "b"]])
    assert (model | Upper()).invoke("x") == "AB"
    assert Upper().run_type == "parser"


@pytest.mark.parametrize("sync", [True, False])
def test_seed_style_chain(sync: bool) -> None:
    prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")
    model = FakeChatModel(responses=["Why did the parrot talk?"])
    chain = prompt | model | StrOutputParser()
    text = "".join(collect(chain, {"topic": "parrot"}, sync))
    assert text == "Why did the parrot talk?"

    def shout(chunks: Any) -> Any:
        for chunk in chunks:
            yield chunk.upper()

    async def ashout(chunks: Any) -> Any:
        async for chunk in chunks:
            yield chunk.upper()

    loud = chain | RunnableGenerator(shout, ashout)
    assert "".join(collect(loud, {"topic": "parrot"}, sync)) == "WHY DID THE PARROT TALK?"


async def test_async_parse_stays_on_the_event_loop_thread() -> None:
    import threading

    threads: list[int] = []

    class Where(BaseOutputParser):
        def parse(self, text: str) -> str:
            threads.append(threading.get_ident())
            return text

    assert await Where().ainvoke("x") == "x"
    assert await StrOutputParser().ainvoke(AIMessage("y")) == "y"
    assert await JsonOutputParser().ainvoke("[1]") == [1]
    assert threads == [threading.get_ident()]
