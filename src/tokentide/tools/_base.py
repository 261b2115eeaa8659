"""`BaseTool`: a runnable that a model can call, and the life of one tool run.

A tool is invoked with its arguments (a dict, or a string for a one-argument tool) and returns
its result; invoked with a tool call (``{"name", "args", "id", "type": "tool_call"}``) it
returns a `ToolMessage` answering that call. Each call is one run of type ``"tool"``: it
reports ``on_tool_start`` / ``on_tool_stream`` / ``on_tool_end`` / ``on_tool_error`` to
whoever listens, with the call id in the run's metadata.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, Literal

from tokentide.messages import ToolMessage
from tokentide.runtime import RunContext, Runnable, RunnableConfig, new_run

from ._execute import (
    ToolInputError,
    bind_arguments,
    call_async,
    call_sync,
)
from ._schema import ToolSchema, function_schema, pydantic_schema

__all__ = ["BaseTool", "ToolCallInput", "ToolException", "ToolInputError", "is_tool_call"]

ErrorHandler = bool | str | Callable[..., str] | None
ToolCallInput = dict[str, Any]


class ToolException(Exception):
    """An error a tool raises on purpose; with ``handle_tool_error`` set, the tool answers with
    the error text (``ToolMessage(status="error")``) instead of raising.

    Example::

        @tool
        def divide(a: float, b: float) -> float:
            \"\"\"Divide a by b.\"\"\"
            if b == 0:
                raise ToolException("cannot divide by zero")
            return a / b

        divide.handle_tool_error = True
    """


def is_tool_call(value: Any) -> bool:
    """Whether ``value`` is a tool-call dict (``{"type": "tool_call", ...}``)."""
    return isinstance(value, dict) and value.get("type") == "tool_call"


def _stringify(content: Any) -> str:
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(content)


def handled_error_text(error: BaseException, flag: ErrorHandler) -> str:
    """The text a tool answers with for a handled error (LangChain's rules)."""
    if flag is True or flag is None:
        return str(error.args[0]) if error.args else "Tool execution error"
    if isinstance(flag, str):
        return flag
    if callable(flag):
        return str(flag(error))
    raise ValueError(f"handle_tool_error must be a bool, a string or a function, got {flag!r}")


class BaseTool(Runnable[Any, Any]):
    """Base of every tool. Subclass it and implement ``_run`` (and, optionally, ``_arun``),
    or build one with :func:`tool` / :meth:`StructuredTool.from_function`.

    ``_run`` may be a generator: each piece it yields streams as ``tool-output-delta`` /
    ``on_tool_stream``, and the tool's result is what the generator returns (or, if it returns
    nothing, the pieces joined when they are strings, else their list).

    Example::

        class Weather(BaseTool):
            name = "weather"
            description = "The weather in a city."

            def _run(self, city: str) -> str:
                return f"sunny in {city}"

        Weather().invoke({"city": "Paris"})  # "sunny in Paris"
    """

    run_type = "tool"
    name: str = ""
    description: str = ""
    args_schema: Any = None
    return_direct: bool = False
    response_format: Literal["content", "content_and_artifact"] = "content"
    handle_tool_error: ErrorHandler = False

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        args_schema: Any = None,
        return_direct: bool | None = None,
        response_format: Literal["content", "content_and_artifact"] | None = None,
        handle_tool_error: ErrorHandler = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        if not self.name:
            self.name = type(self).__name__
        if description is not None:
            self.description = description
        if args_schema is not None:
            self.args_schema = args_schema
        if return_direct is not None:
            self.return_direct = return_direct
        if response_format is not None:
            if response_format not in ("content", "content_and_artifact"):
                raise ValueError(
                    "response_format must be 'content' or 'content_and_artifact', "
                    f"got {response_format!r}"
                )
            self.response_format = response_format
        if handle_tool_error is not None:
            self.handle_tool_error = handle_tool_error
        if tags is not None:
            self.tags = list(tags)
        if metadata is not None:
            self.metadata = dict(metadata)
        self._schema_cache: ToolSchema | None = None

    # ------------------------------------------------------------------ what it runs

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"tool {self.name!r} implements no _run")

    async def _arun(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _sync_function(self) -> Callable[..., Any] | None:
        """The function run by ``invoke`` (``None``: the tool is async only)."""
        if type(self)._run is BaseTool._run:
            return None
        return self._run

    def _async_function(self) -> Callable[..., Any] | None:
        """The function run by ``ainvoke`` on the loop (``None``: the sync one in a thread)."""
        if type(self)._arun is BaseTool._arun:
            return None
        return self._arun

    # ------------------------------------------------------------------ schemas

    @property
    def schema(self) -> ToolSchema:
        """Every parameter of the tool, with the JSON schema of the model-filled ones."""
        found = getattr(self, "_schema_cache", None)
        if found is None:
            found = self._schema_cache = self._make_schema()
        return found

    def _make_schema(self) -> ToolSchema:
        fn = self._sync_function() or self._async_function()
        given = self.args_schema
        if isinstance(given, type) and hasattr(given, "model_json_schema"):
            return pydantic_schema(given, fn)
        if isinstance(given, dict):
            props = dict(given.get("properties", {}))
            required = list(given.get("required", []))
            specs = function_schema(fn, docstring_args={}).args if fn is not None else []
            return ToolSchema(props, required, specs)
        if given is not None:
            raise TypeError(
                f"args_schema of tool {self.name!r} must be a pydantic model class or a JSON "
                f"schema dict, got {given!r:.80}"
            )
        if fn is None:
            return ToolSchema({}, [])
        return function_schema(fn, docstring_args={})

    @property
    def args(self) -> dict[str, Any]:
        """The JSON schema of each argument the model fills in (``{name: schema}``)."""
        return self.schema.properties

    @property
    def tool_call_schema(self) -> dict[str, Any]:
        """The arguments the model fills in, as one JSON schema object (injected ones left
        out), titled with the tool's name and described by its description."""
        return self.schema.json_schema(self.name, self.description)

    def as_openai_tool(self, *, strict: bool | None = None) -> dict[str, Any]:
        """This tool as an OpenAI tool dict (what every model's ``bind_tools`` sends)."""
        params = _without_titles(self.schema.json_schema(self.name, ""))
        params.pop("description", None)
        function: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "parameters": params,
        }
        if strict is not None:
            function["strict"] = strict
        return {"type": "function", "function": function}

    # ------------------------------------------------------------------ running

    def _start_run(
        self, input: Any, config: RunnableConfig | None
    ) -> tuple[RunContext, dict[str, Any], str | None, Any]:
        if is_tool_call(input):
            call_id = input.get("id")
            args = input.get("args") or {}
        else:
            call_id, args = None, input
        args = self._as_args(args)
        metadata = self._run_metadata()
        if call_id is not None:
            metadata = {**(metadata or {}), "tool_call_id": call_id}
        run = new_run(
            self.get_name(),
            "tool",
            config,
            tags=self.tags,
            metadata=metadata,
            callbacks=self.callbacks,
        )
        injected = self.schema.injected
        shown = {k: v for k, v in args.items() if k not in injected} if injected else dict(args)
        run.extra["tool_call_id"] = call_id
        run.extra["tool_input"] = shown
        parent = run.parent
        reported = input if parent is None or parent.run_type == "scope" else shown
        return run, args, call_id, reported

    def _as_args(self, args: Any) -> dict[str, Any]:
        if isinstance(args, dict):
            return args
        if isinstance(args, str):
            # As LangChain: a string is the first argument.
            names = [a.name for a in self.schema.args if a.injected is None]
            if names:
                return {names[0]: args}
        raise TypeError(
            f"tool {self.name!r} takes a dict of arguments, a string, or a tool call "
            f"({{'name', 'args', 'id', 'type': 'tool_call'}}), got {type(args).__name__}"
        )

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the tool: plain arguments give the result, a tool call gives a `ToolMessage`."""
        run, args, call_id, reported = self._start_run(input, config)
        sink = run.sink
        if sink is not None:
            sink.on_start(run, reported)
        try:
            fn = self._sync_function()
            if fn is None:
                raise NotImplementedError(
                    f"tool {self.name!r} is async only: call it with ainvoke()"
                )
            bound = bind_arguments(self, args, call_id, run)
            try:
                output = call_sync(fn, bound, run)
            except ToolException as exc:
                result = self._handled(exc, call_id)
            else:
                result = self.format_output(output, call_id)
        except BaseException as exc:
            if sink is not None:
                sink.on_error(run, exc)
            raise
        if sink is not None:
            sink.on_end(run, result, run.extra["tool_input"])
        return result

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke`: async tools run on the loop, sync ones in a worker thread."""
        run, args, call_id, reported = self._start_run(input, config)
        sink = run.sink
        if sink is not None:
            sink.on_start(run, reported)
        try:
            bound = bind_arguments(self, args, call_id, run)
            try:
                afn = self._async_function()
                if afn is not None:
                    output = await call_async(afn, bound, run)
                else:
                    fn = self._sync_function()
                    if fn is None:
                        raise NotImplementedError(f"tool {self.name!r} implements nothing")
                    output = await call_async(fn, bound, run)
            except ToolException as exc:
                result = self._handled(exc, call_id)
            else:
                result = self.format_output(output, call_id)
        except BaseException as exc:
            if sink is not None:
                sink.on_error(run, exc)
            raise
        if sink is not None:
            sink.on_end(run, result, run.extra["tool_input"])
            if sink.backlogged:
                await sink.drained()
        return result

    def _call(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return self.invoke(input, run.child_config())

    async def _acall(self, input: Any, run: RunContext, **kwargs: Any) -> Any:
        return await self.ainvoke(input, run.child_config())

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Yield the tool's result (one item); its pieces stream as events."""
        yield self.invoke(input, config, **kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`stream`."""
        yield await self.ainvoke(input, config, **kwargs)

    # ------------------------------------------------------------------ results

    def _handled(self, exc: ToolException, call_id: str | None) -> Any:
        flag = self.handle_tool_error
        if flag is False or flag is None:
            raise exc
        text = handled_error_text(exc, flag)
        if call_id is None:
            return text
        return ToolMessage(text, tool_call_id=call_id, name=self.name, status="error")

    def format_output(self, output: Any, call_id: str | None) -> Any:
        """The tool's answer for ``output``: a `ToolMessage` for a tool call, else the value
        (the content part for ``response_format="content_and_artifact"``)."""
        artifact = None
        if self.response_format == "content_and_artifact":
            if not (isinstance(output, tuple) and len(output) == 2):
                raise ValueError(
                    "Since response_format='content_and_artifact' a two-tuple of the message "
                    "content and raw tool output is expected. Instead generated response of "
                    f"type: {type(output)}."
                )
            output, artifact = output
        if call_id is None or isinstance(output, ToolMessage):
            return output
        if getattr(type(output), "is_tool_output", False):
            return output  # e.g. a graph Command: the caller applies it
        return ToolMessage(
            _stringify(output),
            tool_call_id=call_id,
            name=self.name,
            artifact=artifact,
            status="success",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _without_titles(schema: Any) -> Any:
    """A JSON schema without the ``title`` keys pydantic adds (property names kept)."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _without_titles(prop) for name, prop in value.items()}
        elif key == "title" and isinstance(value, str):
            continue
        else:
            out[key] = _without_titles(value)
    return out


def is_generator_function(fn: Any) -> bool:
    """Whether calling ``fn`` makes a (sync or async) generator."""
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
