"""`ToolRuntime`: what a running tool may know about its call, and how it streams output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokentide.runtime import RunContext, RunnableConfig, current_run

__all__ = ["ToolRuntime", "current_tool_run", "emit_tool_output"]


def current_tool_run() -> RunContext | None:
    """The innermost tool run enclosing the code running now, if any."""
    run = current_run()
    while run is not None:
        if run.run_type == "tool":
            return run
        run = run.parent
    return None


def emit_tool_output(delta: Any) -> None:
    """Stream a piece of the running tool's output (a no-op outside a tool or unobserved).

    It reaches ``astream_events`` as an ``on_tool_stream`` event and a graph's ``"tools"``
    stream mode as a ``tool-output-delta`` item.
    """
    run = current_tool_run()
    if run is not None and run.sink is not None:
        run.sink.on_stream(run, delta)


def _no_writer(data: Any) -> None:
    return None


@dataclass
class ToolRuntime:
    """The run-time context of one tool call (LangGraph's ``ToolRuntime``).

    A tool that declares a parameter ``runtime: ToolRuntime`` receives it; the parameter is
    not part of the schema the model sees. ``ToolNode`` fills it with the graph state and the
    call id; a tool invoked directly gets one with the call id (if any) and the config.

    Example::

        @tool
        def count(n: int, runtime: ToolRuntime) -> str:
            \"\"\"Count to n, streaming each number.\"\"\"
            for i in range(1, n + 1):
                runtime.emit_output_delta(f"{i} ")
            return "done"
    """

    state: Any = None
    tool_call_id: str | None = None
    config: RunnableConfig = field(default_factory=lambda: RunnableConfig())
    context: Any = None
    store: Any = None
    stream_writer: Callable[[Any], None] = _no_writer
    tools: Sequence[Any] = ()

    def emit_output_delta(self, delta: Any) -> None:
        """Stream a piece of this tool's output (``tool-output-delta`` / ``on_tool_stream``).

        A no-op when nobody streams the run, so the calls can stay in place.
        """
        emit_tool_output(delta)
