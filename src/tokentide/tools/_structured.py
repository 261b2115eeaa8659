"""`StructuredTool` and the `tool` decorator: tools made from plain functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, overload

from ._base import BaseTool, ErrorHandler
from ._schema import ToolSchema, function_schema, parse_docstring

__all__ = ["StructuredTool", "tool"]

ResponseFormat = Literal["content", "content_and_artifact"]


class StructuredTool(BaseTool):
    """A tool that runs a function (sync, async, or a generator of output pieces).

    Build it with :meth:`from_function` or the :func:`tool` decorator.

    Example::

        def multiply(a: int, b: int) -> int:
            \"\"\"Multiply two numbers.\"\"\"
            return a * b

        calc = StructuredTool.from_function(multiply)
        calc.invoke({"a": 6, "b": 7})  # 42
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Any] | None = None,
        args_schema: Any = None,
        return_direct: bool = False,
        response_format: ResponseFormat = "content",
        handle_tool_error: ErrorHandler = False,
        parse_docstring: bool = False,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if func is None and coroutine is None:
            raise ValueError("StructuredTool needs a func, a coroutine, or both")
        if func is not None and (
            inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        ):
            func, coroutine = None, coroutine or func
        self.func = func
        self.coroutine = coroutine
        self._parse_docstring = parse_docstring
        super().__init__(
            name=name,
            description=description,
            args_schema=args_schema,
            return_direct=return_direct,
            response_format=response_format,
            handle_tool_error=handle_tool_error,
            tags=tags,
            metadata=metadata,
        )

    def _sync_function(self) -> Callable[..., Any] | None:
        return self.func

    def _async_function(self) -> Callable[..., Any] | None:
        return self.coroutine

    def _make_schema(self) -> ToolSchema:
        fn = self.func or self.coroutine
        if self.args_schema is None and fn is not None:
            doc_args = parse_docstring(inspect.getdoc(fn) or "")[1] if self._parse_docstring else {}
            return function_schema(fn, docstring_args=doc_args)
        return super()._make_schema()

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Any] | None = None,
        name: str | None = None,
        description: str | None = None,
        return_direct: bool = False,
        args_schema: Any = None,
        *,
        response_format: ResponseFormat = "content",
        parse_docstring: bool = False,
        handle_tool_error: ErrorHandler = False,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> StructuredTool:
        """A tool running ``func`` (and/or ``coroutine`` for async callers).

        ``name`` defaults to the function's name, ``description`` to its docstring (only the
        summary with ``parse_docstring=True``, which also takes each argument's description
        from the ``Args:`` section), or to the docstring of a pydantic ``args_schema``.
        """
        source = func or coroutine
        if source is None:
            raise ValueError("from_function needs a func or a coroutine")
        tool_name = name or getattr(source, "__name__", None)
        if not tool_name:
            raise ValueError(f"give the tool a name: {source!r} has no __name__")
        return cls(
            name=tool_name,
            description=_description(source, description, args_schema, parse_docstring),
            func=func,
            coroutine=coroutine,
            args_schema=args_schema,
            return_direct=return_direct,
            response_format=response_format,
            handle_tool_error=handle_tool_error,
            parse_docstring=parse_docstring,
            tags=tags,
            metadata=metadata,
        )


def _description(fn: Callable[..., Any], given: str | None, args_schema: Any, parse: bool) -> str:
    if given is not None:
        return given
    doc = fn.__doc__
    if doc and doc.strip():
        return parse_docstring(inspect.getdoc(fn) or "")[0] if parse else doc.strip()
    schema_doc = getattr(args_schema, "__doc__", None) if isinstance(args_schema, type) else None
    if schema_doc and schema_doc.strip():
        return str(schema_doc).strip()
    if isinstance(args_schema, dict) and args_schema.get("description"):
        return str(args_schema["description"])
    raise ValueError("Function must have a docstring if description not provided.")


@overload
def tool(func: Callable[..., Any], /) -> StructuredTool: ...


@overload
def tool(
    name: str,
    func: Callable[..., Any],
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: Any = None,
    response_format: ResponseFormat = "content",
    parse_docstring: bool = False,
) -> StructuredTool: ...


@overload
def tool(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: Any = None,
    response_format: ResponseFormat = "content",
    parse_docstring: bool = False,
) -> Callable[[Callable[..., Any]], StructuredTool]: ...


def tool(
    name_or_func: str | Callable[..., Any] | None = None,
    func: Callable[..., Any] | None = None,
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: Any = None,
    response_format: ResponseFormat = "content",
    parse_docstring: bool = False,
) -> Any:
    """Make a tool from a function: ``@tool``, ``@tool("name")`` or ``@tool(description=...)``.

    The function may be sync, async, or a (sync or async) generator whose pieces stream as the
    tool's output. Its type hints and docstring make the argument schema; parameters marked
    ``Annotated[..., InjectedToolArg]`` (or ``InjectedToolCallId``), ``runtime: ToolRuntime``
    and ``config: RunnableConfig`` are filled in at run time and hidden from the model.

    Example::

        @tool
        def get_weather(city: str) -> str:
            \"\"\"Get the weather for a city.\"\"\"
            return f"It's always sunny in {city}!"

        get_weather.invoke({"city": "Paris"})
        get_weather.invoke({"name": "get_weather", "args": {"city": "Paris"},
                            "id": "call_1", "type": "tool_call"})  # ToolMessage
    """
    options: dict[str, Any] = {
        "description": description,
        "return_direct": return_direct,
        "args_schema": args_schema,
        "response_format": response_format,
        "parse_docstring": parse_docstring,
    }

    def make(fn: Callable[..., Any], name: str | None) -> StructuredTool:
        if isinstance(fn, BaseTool):
            raise TypeError(f"{fn!r} is already a tool")
        if not callable(fn):
            raise TypeError(f"@tool decorates a function, got {fn!r:.80}")
        is_async = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        return StructuredTool.from_function(
            None if is_async else fn, fn if is_async else None, name, **options
        )

    if callable(name_or_func):
        return make(name_or_func, None)
    if isinstance(name_or_func, str) and func is not None:
        return make(func, name_or_func)
    if name_or_func is not None and not isinstance(name_or_func, str):
        raise TypeError(f"tool() takes a function or a name, got {name_or_func!r:.80}")

    def decorator(fn: Callable[..., Any]) -> StructuredTool:
        return make(fn, name_or_func)

    return decorator
