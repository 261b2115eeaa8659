"""ChatOpenAI: tool binding (function -> JSON schema), streamed tool calls, structured output."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, ValidationError
from typing_extensions import NotRequired, TypedDict

from fakes.sse_server import Script, chat_chunk, data
from tokentide.messages import ChunkAccumulator
from tokentide.models._tools import convert_to_openai_tool

from .openai_support import SYNC, collect


def get_weather(city: str, unit: Literal["c", "f"] = "c", days: int | None = None) -> str:
    """Get the weather forecast.

    Args:
        city: the city name
        unit: temperature unit
    """
    return "sunny"


class Person(BaseModel):
    """A person."""

    name: str
    age: int


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


def test_function_to_tool_schema() -> None:
    tool = convert_to_openai_tool(get_weather)
    assert tool == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather forecast.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "the city name"},
                    "unit": {"enum": ["c", "f"], "description": "temperature unit", "default": "c"},
                    "days": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
                "required": ["city"],
            },
        },
    }


def test_pydantic_typeddict_and_dict_tools() -> None:
    person = convert_to_openai_tool(Person)["function"]
    assert person["name"] == "Person" and person["description"] == "A person."
    assert person["parameters"]["required"] == ["name", "age"]
    movie = convert_to_openai_tool(Movie)["function"]
    assert movie["parameters"] == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title"],
    }
    schema = {"title": "Echo", "type": "object", "properties": {"x": {"type": "string"}}}
    assert convert_to_openai_tool(schema)["function"]["name"] == "Echo"
    as_dict = {"type": "function", "function": {"name": "f", "parameters": {}}}
    assert convert_to_openai_tool(as_dict) == as_dict


def _tool_stream(name: str, args: str, *, call_id: str = "call_1") -> Script:
    pieces = [args[i : i + 3] for i in range(0, len(args), 3)]
    first = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    steps = [data(chat_chunk(role="assistant", content=None)), data(chat_chunk(tool_calls=[first]))]
    steps += [
        data(chat_chunk(tool_calls=[{"index": 0, "function": {"arguments": piece}}]))
        for piece in pieces
    ]
    steps += [data(chat_chunk(finish_reason="tool_calls")), data("[DONE]")]
    return Script(steps)


@SYNC
async def test_bind_tools_streams_tool_call_chunks(sync, server, model) -> None:
    server.push(_tool_stream("get_weather", '{"city": "Paris", "unit": "f"}'))
    bound = model.bind_tools([get_weather, Person], tool_choice="get_weather")
    chunks, err = await collect(bound, sync, "weather in Paris?")
    assert err is None
    assert sum(1 for c in chunks if c.tool_call_chunks) > 5  # arguments arrive in pieces
    acc = ChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    assert acc.result().tool_calls == [
        {
            "name": "get_weather",
            "args": {"city": "Paris", "unit": "f"},
            "id": "call_1",
            "type": "tool_call",
        }
    ]
    body = server.requests[0].json
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "Person"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_bind_tools_rejects_an_unknown_tool_choice(model) -> None:
    with pytest.raises(ValueError, match="names no bound tool"):
        model.bind_tools([get_weather], tool_choice="nope")


def _json_stream(text: str) -> Script:
    steps = [data(chat_chunk(text[i : i + 4])) for i in range(0, len(text), 4)]
    return Script([*steps, data(chat_chunk(finish_reason="stop")), data("[DONE]")])


@SYNC
async def test_structured_output_streams_partials_then_a_pydantic_instance(sync, server, model):
    server.push(_json_stream(json.dumps({"name": "Ada Lovelace", "age": 36})))
    runnable = model.with_structured_output(Person)
    values, err = await collect(runnable, sync, "invent a person")
    assert err is None
    partials, final = values[:-1], values[-1]
    assert final == Person(name="Ada Lovelace", age=36)
    assert len(partials) >= 3 and all(isinstance(p, dict) for p in partials)
    assert {"name": "Ada"} in partials or any(
        p.get("name", "").startswith("Ada ") for p in partials
    )
    names = [p.get("name", "") for p in partials]
    assert all(a == b[: len(a)] for a, b in zip(names, names[1:], strict=False))  # monotonic growth
    spec = server.requests[0].json["response_format"]
    assert spec["type"] == "json_schema" and spec["json_schema"]["name"] == "Person"
    assert spec["json_schema"]["schema"]["required"] == ["name", "age"]


@SYNC
async def test_structured_output_invoke_and_validation_error(sync, server, model) -> None:
    runnable = model.with_structured_output(Person)
    server.push(_json_stream('{"name": "Bob", "age": 3}'))
    value = runnable.invoke("x") if sync else await runnable.ainvoke("x")
    assert value == Person(name="Bob", age=3)
    server.push(_json_stream('{"name": "Bob"}'))
    with pytest.raises(ValidationError):
        runnable.invoke("x") if sync else await runnable.ainvoke("x")


@SYNC
async def test_structured_output_json_schema_dict(sync, server, model) -> None:
    schema = {
        "title": "Point",
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"],
    }
    server.push(_json_stream('{"x": 10, "y": 20}'))
    values, err = await collect(model.with_structured_output(schema), sync, "p")
    assert err is None and values[-1] == {"x": 10, "y": 20}
    assert values.count({"x": 10, "y": 20}) == 1
    server.push(_json_stream('{"x": "ten", "y": 20}'))
    _, err = await collect(model.with_structured_output(schema), sync, "p")
    assert isinstance(err, ValueError) and "$.x" in str(err)


@SYNC
async def test_structured_output_by_function_calling(sync, server, model) -> None:
    server.push(_tool_stream("Movie", '{"title": "Alien", "year": 1979}'))
    runnable = model.with_structured_output(Movie, method="function_calling")
    values, err = await collect(runnable, sync, "a movie")
    assert err is None and values[-1] == {"title": "Alien", "year": 1979}
    assert {"title": "A"} in values and {"title": "Alien"} in values
    body = server.requests[0].json
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Movie"}}
    assert "response_format" not in body
