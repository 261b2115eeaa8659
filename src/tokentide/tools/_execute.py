"""Calling a tool's function: checking the arguments, filling in the injected ones, and running
plain, async and generator functions with the tool's run as the current run."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tokentide.runtime import RunContext, enter_run, leave_run, run_sync_in_thread

from ._runtime import ToolRuntime
from ._schema import ArgSpec, InjectedToolCallId

if TYPE_CHECKING:
    from ._base import BaseTool

__all__ = ["ToolInputError", "bind_arguments", "call_async", "call_sync"]


class ToolInputError(ValueError):
    """The arguments of a tool call do not fit the tool's schema.

    ``errors`` lists ``(location, message)`` pairs (pydantic's wording where it applies);
    ``tool_kwargs`` holds the arguments as given.
    """

    def __init__(
        self, tool_name: str, errors: list[tuple[tuple[Any, ...], str]], tool_kwargs: Any
    ) -> None:
        self.tool_name = tool_name
        self.errors = errors
        self.tool_kwargs = tool_kwargs
        # Laid out as pydantic's ValidationError: the location, then the message indented.
        lines = [f"{'.'.join(str(p) for p in loc)}\n  {msg}" if loc else msg for loc, msg in errors]
        super().__init__(
            f"{len(errors)} validation error{'s' if len(errors) != 1 else ''} for {tool_name}\n"
            + "\n".join(lines)
        )

    def details(self) -> str:
        """One ``location: message`` line per error."""
        return "\n".join(
            f"{'.'.join(str(p) for p in loc)}: {msg}" if loc else msg for loc, msg in self.errors
        )


_MISSING = object()


def _coerce(spec: ArgSpec, value: Any) -> Any:
    """Check (and, like pydantic's lax mode, convert) a scalar argument; raise ValueError."""
    tp = spec.annotation
    if tp is str:
        if not isinstance(value, str):
            raise ValueError("Input should be a valid string")
    elif tp is bool:
        if isinstance(value, bool):
            return value
        if value in (0, 1) or (isinstance(value, str) and value.lower() in ("true", "false")):
            return value in (1, True) or (isinstance(value, str) and value.lower() == "true")
        raise ValueError("Input should be a valid boolean")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("Input should be a valid integer")
        try:
            number = float(value)
        except ValueError:
            raise ValueError("Input should be a valid integer, unable to parse string") from None
        if not number.is_integer():
            raise ValueError("Input should be a valid integer, got a number with a fractional part")
        return int(number)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("Input should be a valid number")
        try:
            return float(value)
        except ValueError:
            raise ValueError("Input should be a valid number, unable to parse string") from None
    return value


def _model_arguments(tool: BaseTool, given: dict[str, Any]) -> dict[str, Any]:
    model = tool.schema.model
    try:
        validated = model.model_validate(given)
    except Exception as exc:
        errors = getattr(exc, "errors", None)
        if errors is None:
            raise
        pairs = [(tuple(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in errors()]
        raise ToolInputError(tool.name, pairs, given) from exc
    return {name: getattr(validated, name) for name in given if hasattr(validated, name)}


def _injected_value(
    tool: BaseTool, spec: ArgSpec, args: dict[str, Any], call_id: str | None, run: RunContext
) -> Any:
    if spec.injected == "config":
        return run.as_config()
    if spec.injected == "runtime":
        given = args.get(spec.name)
        if isinstance(given, ToolRuntime):
            return given
        return ToolRuntime(tool_call_id=call_id, config=run.as_config())
    marker = spec.marker
    is_call_id = (isinstance(marker, type) and issubclass(marker, InjectedToolCallId)) or (
        isinstance(marker, InjectedToolCallId)
    )
    if is_call_id:
        if call_id is None:
            raise ValueError(
                f"tool {tool.name!r} has an InjectedToolCallId argument ({spec.name!r}): invoke "
                "it with a whole tool call ({'name', 'args', 'id', 'type': 'tool_call'})"
            )
        return call_id
    if spec.name in args:
        return args[spec.name]
    if not spec.required:
        return _MISSING
    raise ValueError(
        f"tool {tool.name!r} needs the injected argument {spec.name!r}: pass it with the "
        "arguments (ToolNode fills in InjectedState, InjectedToolCallId and ToolRuntime)"
    )


def bind_arguments(
    tool: BaseTool, args: dict[str, Any], call_id: str | None, run: RunContext
) -> dict[str, Any]:
    """The keyword arguments to call the tool's function with (checked and injected)."""
    schema = tool.schema
    injected = schema.injected
    given = {k: v for k, v in args.items() if k not in injected} if injected else dict(args)
    if schema.model is not None:
        kwargs = _model_arguments(tool, given)
    else:
        errors: list[tuple[tuple[Any, ...], str]] = []
        kwargs = {}
        for spec in schema.args:
            if spec.injected is not None:
                continue
            if spec.name not in given:
                if spec.required and spec.name in schema.properties:
                    errors.append(((spec.name,), "Field required"))
                continue
            try:
                kwargs[spec.name] = _coerce(spec, given[spec.name])
            except ValueError as exc:
                errors.append(((spec.name,), str(exc)))
        if not schema.args:  # a JSON-schema tool without a signature: pass everything through
            kwargs = dict(given)
            errors = [((name,), "Field required") for name in schema.required if name not in given]
        if errors:
            raise ToolInputError(tool.name, errors, given)
    for spec in injected.values():
        value = _injected_value(tool, spec, args, call_id, run)
        if value is not _MISSING:
            kwargs[spec.name] = value
    return kwargs


def _joined(pieces: list[Any]) -> Any:
    if all(isinstance(p, str) for p in pieces):
        return "".join(pieces)
    return pieces


def call_sync(fn: Callable[..., Any], kwargs: dict[str, Any], run: RunContext) -> Any:
    """Call ``fn(**kwargs)`` as ``run`` (a generator's pieces stream to the run's sink)."""
    token = enter_run(run)
    try:
        result = fn(**kwargs)
        if not inspect.isgenerator(result):
            return result
        pieces: list[Any] = []
        sink = run.sink
        while True:
            try:
                piece = next(result)
            except StopIteration as stop:
                return stop.value if stop.value is not None else _joined(pieces)
            pieces.append(piece)
            if sink is not None:
                sink.on_stream(run, piece)
    finally:
        leave_run(token)


async def call_async(fn: Callable[..., Any], kwargs: dict[str, Any], run: RunContext) -> Any:
    """Async :func:`call_sync`: coroutines and async generators run on the loop, anything else
    in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        token = enter_run(run)
        try:
            return await fn(**kwargs)
        finally:
            leave_run(token)
    if inspect.isasyncgenfunction(fn):
        return await _drain_async_generator(fn, kwargs, run)
    return await run_sync_in_thread(call_sync, fn, kwargs, run)


async def _drain_async_generator(
    fn: Callable[..., Any], kwargs: dict[str, Any], run: RunContext
) -> Any:
    token = enter_run(run)
    try:
        gen = fn(**kwargs)
        pieces: list[Any] = []
        sink = run.sink
        try:
            async for piece in gen:
                pieces.append(piece)
                if sink is not None:
                    sink.on_stream(run, piece)
                    if sink.backlogged:
                        await sink.drained()
        finally:
            await gen.aclose()
        return _joined(pieces)
    finally:
        leave_run(token)
