"""Assistants, threads and thread states of the Agent Server API (the parts that are not
runs): each served graph or model is an assistant; a thread is a record in the `ThreadStore`
plus the checkpoints its graph saved.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from tokentide.graph import START, CompiledStateGraph, MessagesState, StateGraph, StateSnapshot
from tokentide.messages import convert_to_messages

from ._asgi import shorten
from ._assistants import Assistant
from ._lg_protocol import AgentServerError, assistant_json, invalid, jsonable, state_json
from ._lg_store import ThreadExists, ThreadStore, now_iso

__all__ = ["Graphs", "check_thread_id", "search_assistants", "search_threads", "valid_thread_id"]


def model_graph(model: Any, checkpointer: Any) -> CompiledStateGraph:
    """A served model as a graph: one node, ``model``, appending the model's reply to
    ``messages`` (so a model has threads, state and history like any graph)."""

    async def call_model(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState).add_node("model", call_model).add_edge(START, "model")
    return builder.compile(checkpointer=checkpointer)


class Graphs:
    """The graphs behind the assistants: ``threaded[name]`` runs on threads (with a
    checkpointer: the graph's own, else ``checkpointer``), ``stateless[name]`` runs without
    one (``POST /runs/stream``)."""

    def __init__(self, assistants: Mapping[str, Assistant], checkpointer: Any) -> None:
        self.assistants: dict[str, Assistant] = {}
        self.threaded: dict[str, Any] = {}
        self.stateless: dict[str, Any] = {}
        self.created_at = now_iso()
        graph_savers = [
            a.target.checkpointer
            for a in assistants.values()
            if isinstance(a.target, CompiledStateGraph) and a.target.checkpointer is not None
        ]
        if checkpointer is None:
            from tokentide.checkpoint import MemorySaver

            checkpointer = graph_savers[0] if graph_savers else MemorySaver()
        for name, assistant in assistants.items():
            target = assistant.target
            if assistant.kind == "model":
                self.threaded[name] = model_graph(target, checkpointer)
                self.stateless[name] = model_graph(target, None)
            elif isinstance(target, CompiledStateGraph):
                saver = target.checkpointer or checkpointer
                self.threaded[name] = CompiledStateGraph(
                    target.spec, checkpointer=saver, name=target.name or name
                )
                # with a served checkpointer, the graph as compiled runs the stateless runs
                self.stateless[name] = getattr(assistant, "stateless", None) or target
            else:
                continue  # a plain runnable has no state: not an Agent Server assistant
            self.assistants[name] = assistant

    def savers(self) -> dict[str, Any]:
        return {name: graph.checkpointer for name, graph in self.threaded.items()}

    def assistant(self, assistant_id: str) -> Assistant:
        found = self.assistants.get(assistant_id)
        if found is None:
            served = ", ".join(self.assistants) or "none"
            raise AgentServerError(
                404, f"assistant {assistant_id!r} not found; the served assistants are: {served}"
            )
        return found

    def json(self, name: str) -> dict[str, Any]:
        return assistant_json(name, self.assistants[name].kind, self.created_at)

    def graph_of(self, thread: Mapping[str, Any]) -> Any:
        """The graph whose checkpoints hold a thread's state (``None``: no run yet)."""
        graph_id = (thread.get("metadata") or {}).get("graph_id")
        return self.threaded.get(graph_id) if isinstance(graph_id, str) else None

    async def state(
        self, thread: Mapping[str, Any], checkpoint_id: str | None = None
    ) -> dict[str, Any]:
        thread_id = thread["thread_id"]
        graph = self.graph_of(thread)
        if graph is None:
            empty = StateSnapshot({}, (), {})
            return state_json(empty, thread_id)
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        snapshot = await graph.aget_state({"configurable": configurable})
        return state_json(snapshot, thread_id)


def graph_input(value: Any) -> Any:
    """A run's ``input``: its ``messages`` (dicts in either role or type form) become
    messages; `AgentServerError` ``422`` when they cannot."""
    if isinstance(value, Mapping) and "messages" in value:
        try:
            return {**value, "messages": convert_to_messages(value["messages"])}
        except (TypeError, ValueError, KeyError) as exc:
            raise invalid(f"invalid 'input.messages': {exc}") from None
    return value


# ---------------------------------------------------------------- search


def _page(body: Mapping[str, Any]) -> tuple[int, int]:
    limit, offset = body.get("limit", 10), body.get("offset", 0)
    for key, value in (("limit", limit), ("offset", offset)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise invalid(f"'{key}' must be a non-negative integer")
    return limit, offset


def _check_fields(body: Any, allowed: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"the request body must be a JSON object, got {type(body).__name__}")
    unknown = set(body) - allowed
    if unknown:
        raise invalid(
            f"unknown field(s) in {what}: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return body


def _matches(found: Any, wanted: Any) -> bool:
    if not isinstance(wanted, Mapping):
        return bool(found == wanted)
    return isinstance(found, Mapping) and all(
        k in found and _matches(found[k], v) for k, v in wanted.items()
    )


def _sorted(items: list[dict[str, Any]], body: Mapping[str, Any], keys: tuple[str, ...]):  # type: ignore[no-untyped-def]
    sort_by = body.get("sort_by") or "created_at"
    if sort_by not in keys:
        raise invalid(f"'sort_by' must be one of {', '.join(keys)}")
    order = body.get("sort_order") or "desc"
    if order not in ("asc", "desc"):
        raise invalid("'sort_order' must be 'asc' or 'desc'")
    return sorted(items, key=lambda item: str(item.get(sort_by)), reverse=order == "desc")


_ASSISTANT_SEARCH = frozenset(
    {"metadata", "graph_id", "name", "limit", "offset", "sort_by", "sort_order", "select"}
)


def search_assistants(graphs: Graphs, body: Any) -> list[dict[str, Any]]:
    """``POST /assistants/search``."""
    body = _check_fields(body or {}, _ASSISTANT_SEARCH, "the assistant search")
    limit, offset = _page(body)
    found = [graphs.json(name) for name in graphs.assistants]
    for key in ("graph_id", "name"):
        if body.get(key):
            found = [a for a in found if a[key] == body[key]]
    if body.get("metadata"):
        found = [a for a in found if _matches(a["metadata"], body["metadata"])]
    keys = ("assistant_id", "graph_id", "name", "created_at", "updated_at")
    found = _sorted(found, body, keys)[offset : offset + limit]
    select = body.get("select")
    if select:
        found = [{k: a[k] for k in select if k in a} for a in found]
    return found


_THREAD_SEARCH = frozenset(
    {"metadata", "values", "ids", "status", "limit", "offset", "sort_by", "sort_order"}
    | {"select", "extract"}
)


async def search_threads(threads: ThreadStore, body: Any) -> list[dict[str, Any]]:
    """``POST /threads/search``: filters by metadata and values (subset match), ids and
    status; sorted and paged."""
    body = _check_fields(body or {}, _THREAD_SEARCH, "the thread search")
    limit, offset = _page(body)
    if body.get("extract"):
        raise invalid("'extract' is not supported by tokentide serve")
    found = await threads.list_threads()
    if body.get("ids"):
        ids = set(body["ids"])
        found = [t for t in found if t["thread_id"] in ids]
    if body.get("status"):
        found = [t for t in found if t["status"] == body["status"]]
    for key in ("metadata", "values"):
        if body.get(key):
            found = [t for t in found if _matches(t.get(key), body[key])]
    keys = ("thread_id", "status", "created_at", "updated_at")
    found = _sorted(found, body, keys)[offset : offset + limit]
    select = body.get("select")
    if select:
        found = [{k: t[k] for k in select if k in t} for t in found]
    return found


_THREAD_CREATE = frozenset({"thread_id", "metadata", "if_exists", "supersteps", "ttl"})


async def create_thread(threads: ThreadStore, body: Any) -> dict[str, Any]:
    """``POST /threads``: a new thread (``if_exists``: ``raise`` -> 409, ``do_nothing`` ->
    the existing one)."""
    body = _check_fields(body or {}, _THREAD_CREATE, "the thread")
    for key in ("supersteps", "ttl"):
        if body.get(key):
            raise invalid(f"'{key}' is not supported by tokentide serve")
    thread_id = body.get("thread_id") or str(uuid.uuid4())
    metadata = body.get("metadata") or {}
    if not isinstance(thread_id, str) or not isinstance(metadata, dict):
        raise invalid("'thread_id' must be a string and 'metadata' an object")
    check_thread_id(thread_id)
    if_exists = body.get("if_exists") or "raise"
    if if_exists not in ("raise", "do_nothing"):
        raise invalid("'if_exists' must be 'raise' or 'do_nothing'")
    thread = new_thread(thread_id, metadata)
    try:
        await threads.create_thread(thread)
    except ThreadExists:
        if if_exists == "raise":
            raise AgentServerError(409, f"thread {thread_id!r} already exists") from None
        existing = await threads.get_thread(thread_id)
        assert existing is not None
        return existing
    return thread


_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=~-]{0,255}")


def valid_thread_id(thread_id: str) -> bool:
    return _THREAD_ID.fullmatch(thread_id) is not None


def check_thread_id(thread_id: str) -> None:
    """`AgentServerError` ``422`` for a thread id that could not travel in a URL path and a
    header as it is (a UUID, or letters, digits and ``._:@+=~-``, at most 256)."""
    if not valid_thread_id(thread_id):
        raise invalid(
            f"invalid thread_id {shorten(thread_id)}: use a UUID, or up to 256 letters, digits "
            "and ._:@+=~- (starting with a letter or digit)"
        )


def new_thread(thread_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    stamp = now_iso()
    return {
        "thread_id": thread_id,
        "created_at": stamp,
        "updated_at": stamp,
        "metadata": metadata,
        "status": "idle",
        "config": {},
        "values": None,
        "interrupts": {},
    }


_HISTORY = frozenset({"limit", "before", "metadata", "checkpoint", "select"})


async def history(graphs: Graphs, thread: Mapping[str, Any], body: Any) -> list[dict[str, Any]]:
    """``POST /threads/{id}/history``: the thread's states, newest first."""
    body = _check_fields(body or {}, _HISTORY, "the history request")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise invalid("'limit' must be a positive integer")
    before = body.get("before")
    if isinstance(before, Mapping):
        before = before.get("checkpoint_id")
    graph = graphs.graph_of(thread)
    if graph is None:
        return []
    thread_id = thread["thread_id"]
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    before_config = None
    if isinstance(before, str):
        before_config = {"configurable": {**config["configurable"], "checkpoint_id": before}}
    metadata = body.get("metadata") or None
    out: list[dict[str, Any]] = []
    # The saver's async listing (a PostgreSQL saver cannot be read synchronously on the loop);
    # each found checkpoint becomes a snapshot as ``get_state_history`` makes it.
    found = graph.checkpointer.alist(config, filter=metadata, before=before_config, limit=limit)
    async for item in found:
        out.append(state_json(graph._snapshot(config, item), thread_id))
    return out


def thread_values(state: Mapping[str, Any]) -> Any:
    return jsonable(state.get("values"))
