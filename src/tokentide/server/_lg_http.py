"""HTTP details of the Agent Server API: query strings, ``Last-Event-ID``, SSE frames, the
event filter of a join, method tables, and a new run's record and input."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from ._asgi import Receive, Scope, Send
from ._lg_protocol import AgentServerError, RunSpec, invalid
from ._lg_resources import graph_input
from ._lg_store import now_iso

__all__ = [
    "Handler",
    "event_filter",
    "flag",
    "frame",
    "last_event_id",
    "by_method",
    "query_of",
    "run_input",
    "run_record",
    "takes",
]

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def query_of(scope: Scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def flag(query: dict[str, list[str]], key: str) -> bool:
    return query.get(key, ["0"])[-1].lower() in ("1", "true", "yes")


def run_record(run_id: str, thread_id: str | None, spec: RunSpec) -> dict[str, Any]:
    """The Agent Server's ``Run`` object of a new run (status ``pending``)."""
    stamp = now_iso()
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": spec.assistant_id,
        "created_at": stamp,
        "updated_at": stamp,
        "status": "pending",
        "metadata": spec.metadata,
        "multitask_strategy": spec.multitask_strategy,
        "kwargs": {},
    }


def run_input(spec: RunSpec) -> Any:
    if spec.command is None:
        return graph_input(spec.input)
    from tokentide.graph import Command

    command = dict(spec.command)
    if "update" in command:
        command["update"] = graph_input(command["update"])
    goto = command.get("goto")
    if goto is not None and not (
        isinstance(goto, str) or (isinstance(goto, list) and all(isinstance(g, str) for g in goto))
    ):
        raise invalid("'command.goto' must be a node name or an array of node names")
    return Command(resume=command.get("resume"), update=command.get("update"), goto=goto or ())


def takes(method: Any, name: str) -> bool:
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def event_filter(modes: list[str] | None) -> frozenset[str] | None:
    if not modes:
        return None
    names = {"metadata", "error", "end"}
    for mode in modes:
        if mode == "messages":
            names |= {"messages/partial", "messages/complete", "messages/metadata"}
        elif mode == "messages-tuple":
            names.add("messages")
        else:
            names.add(mode)
    return frozenset(names)


def last_event_id(scope: Scope) -> int:
    raw = ""
    for name, value in scope.get("headers", ()):
        if name == b"last-event-id":
            raw = value.decode("latin-1").strip()
    if not raw or raw == "-1":
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise invalid(f"Last-Event-ID must be an event id this stream sent, got {raw!r}")
    return value


def frame(event: str, event_id: int | None, data: str) -> bytes:
    head = f"event: {event}\n" if event_id is None else f"event: {event}\nid: {event_id}\n"
    return f"{head}data: {data}\n\n".encode("utf-8", "backslashreplace")


def by_method(table: Mapping[str, Handler], method: str, path: str) -> Handler:
    handler = table.get(method)
    if handler is None:
        allowed = ", ".join(table)
        raise AgentServerError(
            405,
            f"{method} is not allowed on {path} (allowed: {allowed})",
            headers=[(b"allow", allowed.encode())],
        )
    return handler
