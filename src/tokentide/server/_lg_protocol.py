"""The LangGraph Agent Server API's shapes (sans-I/O): request validation, the JSON of
assistants, threads and thread states, and the SSE events of a run.

Event names follow the Agent Server: ``metadata``; ``values``, ``updates``, ``custom``,
``debug``, ``tasks``, ``checkpoints``, ``events``; ``messages`` (stream mode
``messages-tuple``: ``[message, metadata]``) or ``messages/metadata``,
``messages/partial`` and ``messages/complete`` (stream mode ``messages``); ``error`` and
``end``. With ``stream_subgraphs`` an event of a subgraph is named ``mode|ns1|ns2``.
Interrupts ride inside ``values`` and ``updates`` as ``__interrupt__``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokentide.messages import AIMessageChunk, BaseMessage, ChunkAccumulator
from tokentide.messages import message_chunk_to_message as _to_message

from ._asgi import HTTPError, shorten
from ._runs import dumps

__all__ = [
    "AgentServerError",
    "EventEncoder",
    "RunSpec",
    "STREAM_MODES",
    "assistant_json",
    "parse_run",
    "state_json",
]

STREAM_MODES: dict[str, str] = {
    "values": "values",
    "updates": "updates",
    "messages": "messages",
    "messages-tuple": "messages",
    "custom": "custom",
    "events": "events",
    "debug": "debug",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    "tools": "tools",
}
"""Agent Server stream modes -> the graph's stream mode that feeds them (``events`` is
``astream_events``)."""

_RUN_FIELDS = frozenset(
    {
        "assistant_id",
        "input",
        "command",
        "config",
        "context",
        "metadata",
        "stream_mode",
        "stream_subgraphs",
        "stream_resumable",
        "on_disconnect",
        "interrupt_before",
        "interrupt_after",
        "multitask_strategy",
        "checkpoint",
        "checkpoint_id",
        "checkpoint_during",
        "durability",
        "if_not_exists",
        "on_completion",
        "feedback_keys",
        "langsmith_tracer",
        "strict_resume",
        "webhook",
        "after_seconds",
    }
)
_CONFIG_KEYS = frozenset(
    {"tags", "metadata", "configurable", "recursion_limit", "run_name", "max_concurrency"}
)
_ENUMS: dict[str, tuple[str, ...]] = {
    "on_disconnect": ("cancel", "continue"),
    "multitask_strategy": ("reject", "interrupt", "rollback", "enqueue"),
    "durability": ("sync", "async", "exit"),
    "if_not_exists": ("create", "reject"),
    "on_completion": ("delete", "keep"),
}


class AgentServerError(HTTPError):
    """An error answered in the Agent Server's shape, ``{"detail": "..."}`` (the SDKs read
    ``detail``; ``langgraph_sdk`` raises ``UnprocessableEntityError`` etc. by status)."""

    def body(self) -> dict[str, Any]:
        return {"detail": self.message}


def invalid(message: str) -> AgentServerError:
    """A ``422`` naming what is wrong with the request and how to fix it."""
    return AgentServerError(422, message)


@dataclass(slots=True)
class RunSpec:
    """A validated run request (``POST .../runs/stream``, ``/runs/wait``, ``/runs``)."""

    assistant_id: str
    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    stream_mode: tuple[str, ...] = ("values",)
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    on_disconnect: str = "cancel"
    interrupt_before: Any = None
    interrupt_after: Any = None
    multitask_strategy: str = "reject"
    checkpoint_id: str | None = None
    if_not_exists: str = "reject"
    on_completion: str = "delete"


def _object(body: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise invalid(f"'{key}' must be an object, got {type(value).__name__}")
    return value


def _bool(body: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(f"'{key}' must be a boolean, got {shorten(value)}")
    return value


def _enum(body: Mapping[str, Any], key: str, default: str) -> str:
    value = body.get(key)
    if value is None:
        return default
    allowed = _ENUMS[key]
    if value not in allowed:
        raise invalid(f"'{key}' must be one of {', '.join(allowed)}; got {shorten(value)}")
    return str(value)


def _modes(raw: Any, wanted: tuple[str, ...] = ("values",)) -> tuple[str, ...]:
    if raw is None:
        return wanted
    modes = [raw] if isinstance(raw, str) else raw
    if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
        raise invalid("'stream_mode' must be a stream mode or an array of them")
    for mode in modes:
        if mode not in STREAM_MODES:
            raise invalid(
                f"unknown stream_mode {shorten(mode)}; use any of: {', '.join(STREAM_MODES)}"
            )
    return tuple(dict.fromkeys(modes)) or wanted


def _config(body: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(_object(body, "config") or {})
    unknown = set(config) - _CONFIG_KEYS
    if unknown:
        raise invalid(
            f"unknown 'config' keys: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(_CONFIG_KEYS))})"
        )
    for key in ("configurable", "metadata"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise invalid(f"'config.{key}' must be an object")
    tags = config.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise invalid("'config.tags' must be an array of strings")
    limit = config.get("recursion_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise invalid("'config.recursion_limit' must be a positive integer")
    context = _object(body, "context")
    if context:
        config["configurable"] = {**context, **(config.get("configurable") or {})}
    return {k: v for k, v in config.items() if v is not None}


def _nodes(body: Mapping[str, Any], key: str) -> Any:
    value = body.get(key)
    if value is None or value == "*":
        return value
    if not (isinstance(value, list) and all(isinstance(n, str) for n in value)):
        raise invalid(f"'{key}' must be \"*\" or an array of node names")
    return value


def _command(body: Mapping[str, Any]) -> dict[str, Any] | None:
    command = _object(body, "command")
    if command is None:
        return None
    unknown = set(command) - {"resume", "update", "goto"}
    if unknown:
        raise invalid(
            f"unknown 'command' keys: {', '.join(sorted(unknown))} (allowed: resume, update, goto)"
        )
    return command


def _checkpoint_id(body: Mapping[str, Any]) -> str | None:
    checkpoint = _object(body, "checkpoint")
    value = (checkpoint or {}).get("checkpoint_id") or body.get("checkpoint_id")
    if value is not None and not isinstance(value, str):
        raise invalid("'checkpoint.checkpoint_id' must be a string")
    return value


def parse_run(body: Any, *, stream: bool) -> RunSpec:
    """Validate a run request body; `AgentServerError` ``422`` says what is wrong."""
    if not isinstance(body, dict):
        raise invalid(f"the request body must be a JSON object, got {type(body).__name__}")
    unknown = set(body) - _RUN_FIELDS
    if unknown:
        raise invalid(
            f"unknown field(s) in the run request: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_RUN_FIELDS))}"
        )
    assistant_id = body.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        raise invalid("'assistant_id' is required: the name of a served graph or model")
    if body.get("webhook") is not None:
        raise invalid("'webhook' is not supported by tokentide serve; poll or join the run")
    if body.get("after_seconds"):
        raise invalid("'after_seconds' (delayed runs) is not supported by tokentide serve")
    metadata = _object(body, "metadata") or {}
    command = _command(body)
    if body.get("input") is not None and command is not None:
        raise invalid("give either 'input' or 'command', not both")
    _check_misc(body)
    return RunSpec(
        assistant_id=assistant_id,
        input=body.get("input"),
        command=command,
        config=_config(body),
        metadata=metadata,
        stream_mode=_modes(body.get("stream_mode")) if stream else ("values",),
        stream_subgraphs=_bool(body, "stream_subgraphs"),
        stream_resumable=_bool(body, "stream_resumable"),
        on_disconnect=_enum(body, "on_disconnect", "cancel"),
        interrupt_before=_nodes(body, "interrupt_before"),
        interrupt_after=_nodes(body, "interrupt_after"),
        multitask_strategy=_enum(body, "multitask_strategy", "reject"),
        checkpoint_id=_checkpoint_id(body),
        if_not_exists=_enum(body, "if_not_exists", "reject"),
        on_completion=_enum(body, "on_completion", "delete"),
    )


def _check_misc(body: Mapping[str, Any]) -> None:
    _enum(body, "durability", "async")
    for key in ("checkpoint_during", "strict_resume"):
        _bool(body, key)


# ---------------------------------------------------------------- JSON of resources


def assistant_json(name: str, kind: str, created_at: str) -> dict[str, Any]:
    """The ``Assistant`` object of a served graph or model (its id is its name)."""
    return {
        "assistant_id": name,
        "graph_id": name,
        "name": name,
        "description": None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system", "kind": kind},
        "version": 1,
        "created_at": created_at,
        "updated_at": created_at,
    }


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (messages as their ``model_dump()`` dicts)."""
    return json.loads(dumps(value))


def _checkpoint(config: Mapping[str, Any] | None, thread_id: str) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable") or {}
    return {
        "thread_id": str(conf.get("thread_id", thread_id)),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": None,
    }


def interrupt_json(item: Any) -> dict[str, Any]:
    """An ``Interrupt`` (or a dict of one) as ``{"value", "id"}``."""
    if isinstance(item, Mapping):
        return {"value": jsonable(item.get("value")), "id": item.get("id", "")}
    return {"value": jsonable(getattr(item, "value", item)), "id": getattr(item, "id", "")}


def _task_json(task: Any, thread_id: str) -> dict[str, Any]:
    get = task.get if isinstance(task, Mapping) else (lambda k, d=None: getattr(task, k, d))
    error = get("error")
    return {
        "id": get("id", ""),
        "name": get("name", ""),
        "error": None if error is None else str(error),
        "interrupts": [interrupt_json(i) for i in get("interrupts", ()) or ()],
        "checkpoint": None,
        "state": None,
        "result": jsonable(get("result")),
    }


def state_json(snapshot: Any, thread_id: str) -> dict[str, Any]:
    """A ``StateSnapshot`` as the Agent Server's ``ThreadState`` (``checkpoint`` is ``None``
    for a thread with no checkpoint yet, which is how ``useStream`` tells an empty thread)."""
    checkpoint = _checkpoint(snapshot.config, thread_id)
    if checkpoint is not None and not checkpoint["checkpoint_id"]:
        checkpoint = None
    tasks = getattr(snapshot, "tasks", ()) or ()
    interrupts = getattr(snapshot, "interrupts", ()) or ()
    return {
        "values": jsonable(snapshot.values or {}),
        "next": list(snapshot.next or ()),
        "checkpoint": checkpoint,
        "metadata": jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": _checkpoint(snapshot.parent_config, thread_id),
        "tasks": [_task_json(task, thread_id) for task in tasks],
        "interrupts": [interrupt_json(i) for i in interrupts],
    }


# ---------------------------------------------------------------- run events


class EventEncoder:
    """Turns a graph's ``(ns, mode, payload)`` items into Agent Server SSE events
    ``(name, json_text)``, as the run's ``stream_mode`` asks for.

    Example::

        encoder = EventEncoder(("messages-tuple", "values"), subgraphs=False)
        list(encoder.encode((), "values", {"messages": []}))  # [("values", '{"messages":[]}')]
    """

    __slots__ = ("tuples", "partial", "wanted", "subgraphs", "_acc", "_announced")

    def __init__(self, stream_mode: tuple[str, ...], *, subgraphs: bool) -> None:
        self.tuples = "messages-tuple" in stream_mode
        self.partial = "messages" in stream_mode
        self.wanted = frozenset(STREAM_MODES[m] for m in stream_mode if m != "events")
        self.subgraphs = subgraphs
        self._acc: dict[str, ChunkAccumulator] = {}
        self._announced: set[str] = set()

    def _name(self, mode: str, ns: tuple[str, ...]) -> str:
        return "|".join((mode, *ns)) if ns and self.subgraphs else mode

    def encode(self, ns: tuple[str, ...], mode: str, payload: Any) -> Iterator[tuple[str, str]]:
        if mode not in self.wanted or (ns and not self.subgraphs):
            return
        if mode != "messages":
            yield self._name(mode, ns), dumps(payload)
            return
        message, meta = payload if isinstance(payload, tuple) else (payload, {})
        if self.tuples:
            yield self._name("messages", ns), dumps((message, meta))
        if self.partial:
            yield from self._partial(ns, message, meta)

    def _partial(
        self, ns: tuple[str, ...], message: BaseMessage, meta: Any
    ) -> Iterator[tuple[str, str]]:
        key = message.id or ""
        if key not in self._announced:
            self._announced.add(key)
            yield self._name("messages/metadata", ns), dumps({key: {"metadata": meta}})
        if isinstance(message, AIMessageChunk):
            acc = self._acc.get(key)
            if acc is None:
                acc = self._acc[key] = ChunkAccumulator()
            acc.add(message)
            merged = _to_message(acc.result())
            yield self._name("messages/partial", ns), dumps([merged])
            if message.chunk_position == "last":
                del self._acc[key]
                yield self._name("messages/complete", ns), dumps([merged])
        else:
            self._acc.pop(key, None)
            yield self._name("messages/complete", ns), dumps([message])

    def finish(self) -> Iterator[tuple[str, str]]:
        """``messages/complete`` for the streamed messages whose last chunk never said so."""
        for acc in self._acc.values():
            yield "messages/complete", dumps([_to_message(acc.result())])
        self._acc.clear()


def error_event(data: str) -> str:
    """The stored ``error`` event data in the Agent Server's shape (``error`` names the
    exception class, ``message`` says what happened); the stored fields are kept."""
    try:
        payload = json.loads(data)
    except ValueError:
        return data
    if isinstance(payload, dict) and "error" not in payload:
        payload = {"error": payload.get("type", "Error"), **payload}
    return dumps(payload)
