"""Threads and interrupts in the runs API.

A graph assistant compiled with a checkpointer runs on a thread: ``POST /v1/runs`` may name
one (``"thread_id"``), else the run gets a new one. A run whose graph pauses (``interrupt()``,
``interrupt_before`` / ``interrupt_after``, a ``HumanInTheLoopMiddleware``) ends with status
``interrupted`` and an ``interrupt`` event holding the interrupts; ``POST /v1/runs`` with that
``thread_id`` and ``"command": {"resume": ...}`` continues it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from ._asgi import HTTPError

__all__ = ["COMMAND_KEYS", "interrupts_in", "parse_thread"]

COMMAND_KEYS = frozenset({"resume", "update", "goto"})


def _bad(message: str, param: str) -> HTTPError:
    return HTTPError(400, message, param=param)


def parse_thread(body: dict[str, Any], name: str, target: Any, kind: str) -> tuple[str | None, Any]:
    """The run's thread id and, with ``"command"``, the ``Command`` to run instead of an
    input (``None`` when there is none)."""
    thread_id = body.get("thread_id")
    command = body.get("command")
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id):
        raise _bad("'thread_id' must be a non-empty string", "thread_id")
    has_saver = kind == "graph" and getattr(target, "checkpointer", None) is not None
    config = body.get("config")
    configurable = config.get("configurable") if isinstance(config, dict) else None
    in_config = configurable.get("thread_id") if isinstance(configurable, dict) else None
    if in_config is not None and has_saver:
        # as LangGraph: a graph's thread may be named in config.configurable.thread_id (for
        # other assistants it is only part of the config they are given)
        if not isinstance(in_config, str) or not in_config:
            raise _bad("'config.configurable.thread_id' must be a non-empty string", "config")
        if thread_id is not None and thread_id != in_config:
            raise _bad(
                f"'thread_id' ({thread_id!r}) and 'config.configurable.thread_id' "
                f"({in_config!r}) name different threads: give one of them",
                "thread_id",
            )
        thread_id = in_config
    if (thread_id is not None or command is not None) and not has_saver:
        raise _bad(
            f"{name!r} keeps no threads: 'thread_id' and 'command' need a graph assistant "
            "compiled with a checkpointer (compile(checkpointer=InMemorySaver()))",
            "thread_id" if thread_id is not None else "command",
        )
    if command is not None:
        if "input" in body and body["input"] is not None:
            raise _bad("give either 'input' or 'command', not both", "command")
        if thread_id is None:
            raise _bad("'command' continues a thread: give its 'thread_id'", "thread_id")
        command = _command(command)
    if has_saver and thread_id is None:
        thread_id = f"thread_{uuid.uuid4().hex}"
    return thread_id, command


def _command(raw: Any) -> Any:
    if not isinstance(raw, dict) or not raw or set(raw) - COMMAND_KEYS:
        raise _bad(
            "'command' must be an object with 'resume' (the answer to the interrupt), and "
            "optionally 'update' and 'goto'",
            "command",
        )
    from tokentide.graph import Command

    goto = raw.get("goto") or ()
    return Command(resume=raw.get("resume"), update=raw.get("update"), goto=goto)


def interrupts_in(payload: Any, dumps: Callable[[Any], str]) -> list[dict[str, Any]] | None:
    """The interrupts reported by a ``values`` item (``{"__interrupt__": (Interrupt, ...)}``)
    as JSON objects ``{"value", "id"}``; ``None`` for an ordinary state."""
    if not isinstance(payload, dict) or "__interrupt__" not in payload:
        return None
    out = []
    for item in payload["__interrupt__"] or ():
        value = getattr(item, "value", item)
        out.append({"value": json.loads(dumps(value)), "id": getattr(item, "id", None)})
    return out
