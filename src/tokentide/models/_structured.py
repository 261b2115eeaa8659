"""Structured output: stream partial objects as the JSON arrives, validate the final one.

Example::

    runnable = chat.with_structured_output(Person)
    for value in runnable.stream("Invent a person"):
        print(value)   # {'name': 'A'}, {'name': 'Ada'}, ..., then Person(name='Ada', age=36)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Literal

from tokentide.messages import AIMessageChunk
from tokentide.runtime import RunContext, Runnable, aclose_if_closable
from tokentide.wire import NO_CHANGE, PartialJSONParser

from ._tools import json_schema_for, schema_kind

__all__ = ["StructuredMethod", "StructuredOutput", "validate_json_schema"]

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]
_MISSING = object()


class StructuredOutput(Runnable[Any, Any]):
    """A chat model whose reply is parsed and validated against a schema.

    ``stream()`` yields partial dicts (read-only snapshots) as the JSON text grows, then the
    validated value: a pydantic instance for a pydantic schema, else the dict (yielded again
    only if it differs from the last partial). ``invoke()`` returns the validated value.
    Build it with ``model.with_structured_output(schema)``.

    Example::

        people = chat.with_structured_output({"title": "Person", "type": "object",
                                              "properties": {"name": {"type": "string"}},
                                              "required": ["name"]})
        people.invoke("Invent a person")  # {"name": "Ada"}
    """

    run_type = "chain"

    def __init__(
        self, bound: Runnable[Any, Any], schema: Any, *, method: StructuredMethod, tool: str
    ) -> None:
        self.bound = bound
        self.schema = schema
        self.method = method
        self.tool = tool
        self.kind = schema_kind(schema)

    @classmethod
    def for_model(
        cls, model: Any, schema: Any, *, method: StructuredMethod, strict: bool | None
    ) -> StructuredOutput:
        """Bind ``model`` so that it answers in ``schema`` (see ``with_structured_output``)."""
        name, description, params = json_schema_for(schema)
        if method == "function_calling":
            bound = model.bind_tools([schema], tool_choice=name, strict=strict)
        elif method == "json_schema":
            spec: dict[str, Any] = {"name": name, "schema": params}
            if description:
                spec["description"] = description
            if strict is not None:
                spec["strict"] = strict
            bound = model.bind(response_format={"type": "json_schema", "json_schema": spec})
        elif method == "json_mode":
            bound = model.bind(response_format={"type": "json_object"})
        else:
            raise ValueError(f"unknown structured-output method {method!r}")
        return cls(bound, schema, method=method, tool=name)

    def get_name(self) -> str:
        return self.name or "StructuredOutput"

    # ------------------------------------------------------------------ parsing

    def _text(self, chunk: AIMessageChunk, state: dict[str, Any]) -> str:
        if self.method != "function_calling":
            return chunk.content
        parts: list[str] = []
        for piece in chunk.tool_call_chunks:
            if state.get("index") is None:
                state["index"] = piece["index"]
            if piece["index"] == state["index"] and piece["args"]:
                parts.append(piece["args"])
        return "".join(parts)

    def _final(self, parser: PartialJSONParser, last: Any) -> Any:
        if not parser.has_value:
            raise ValueError("the model's reply held no JSON value")
        value = parser.close()
        validated = validate_output(self.schema, self.kind, value)
        return _MISSING if validated == last and self.kind != "pydantic" else validated

    def _iter(self, input: Any, run: RunContext, **kwargs: Any) -> Iterator[Any]:
        parser = PartialJSONParser()
        state: dict[str, Any] = {}
        last: Any = _MISSING
        stream = self.bound.stream(input, run.child_config(), **kwargs)
        try:
            for chunk in stream:
                text = self._text(chunk, state)
                if text:
                    value = parser.feed(text)
                    if value is not NO_CHANGE and isinstance(value, dict):
                        last = value
                        yield value
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        final = self._final(parser, last)
        if final is not _MISSING:
            yield final

    async def _aiter(self, input: Any, run: RunContext, **kwargs: Any) -> AsyncIterator[Any]:
        parser = PartialJSONParser()
        state: dict[str, Any] = {}
        last: Any = _MISSING
        stream = self.bound.astream(input, run.child_config(), **kwargs)
        try:
            async for chunk in stream:
                text = self._text(chunk, state)
                if text:
                    value = parser.feed(text)
                    if value is not NO_CHANGE and isinstance(value, dict):
                        last = value
                        yield value
        finally:
            await aclose_if_closable(stream)
        final = self._final(parser, last)
        if final is not _MISSING:
            yield final

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        result: Any = None
        for result in self._iter(input, run, **kwargs):  # noqa: B007
            pass
        return result

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        result: Any = None
        stream = self._aiter(input, run, **kwargs)
        try:
            async for result in stream:  # noqa: B007
                pass
        finally:
            await aclose_if_closable(stream)
        return result


def validate_output(schema: Any, kind: str, value: Any) -> Any:
    """Validate the final value: pydantic for pydantic models and TypedDicts, else a JSON
    schema check. Raises ``ValueError`` (pydantic's ``ValidationError`` is one)."""
    if kind == "pydantic":
        return schema.model_validate(value)
    if kind == "typeddict":
        try:
            from pydantic import TypeAdapter
        except ImportError:  # pragma: no cover - pydantic is optional
            _, _, params = json_schema_for(schema)
            validate_json_schema(value, params)
            return value
        return TypeAdapter(schema).validate_python(value)
    _, _, params = json_schema_for(schema)
    validate_json_schema(value, params)
    return value


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def validate_json_schema(value: Any, schema: Mapping[str, Any], path: str = "$") -> None:
    """Check ``value`` against the common JSON-schema keywords (``type``, ``properties``,
    ``required``, ``items``, ``enum``, ``anyOf``); raise ``ValueError`` naming the path."""
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            try:
                validate_json_schema(value, option, path)
                return
            except ValueError:
                continue
        raise ValueError(f"{path}: {value!r} matches none of the allowed schemas")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{path}: {value!r} is not one of {schema['enum']!r}")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is_type(value, k) for k in kinds):
        raise ValueError(f"{path}: expected {kind}, got {type(value).__name__}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise ValueError(f"{path}: missing required field {key!r}")
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                validate_json_schema(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            validate_json_schema(item, schema["items"], f"{path}[{i}]")


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _TYPES.get(kind)
    return expected is None or isinstance(value, expected)
