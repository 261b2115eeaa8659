"""The LangGraph Agent Server API of ``tokentide serve``, driven by the official
``langgraph_sdk`` client: assistants, threads, every stream mode, wait, join with
``Last-Event-ID``, cancel, state and history, multitask strategies and the errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from fakes.live_server import LiveServer, live_server
from fakes.waiting import async_wait_until
from tokentide.checkpoint import MemorySaver, SqliteSaver
from tokentide.graph import START, MessagesState, StateGraph, get_stream_writer, interrupt
from tokentide.messages import AIMessage
from tokentide.models import FakeChatModel
from tokentide.server import create_app

from .cors import preflight

pytestmark = pytest.mark.timeout(60)

WORDS = [f"w{i} " for i in range(6)]
SLOW = [f"s{i} " for i in range(100)]
USER: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}


def _chat_graph(words: list[str], delay: float = 0.0, checkpointer: Any = None) -> Any:
    model = FakeChatModel([list(words)], delay=delay)

    async def chat(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"progress": "thinking"})
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState).add_node(chat).add_edge(START, "chat")
    return builder.compile(checkpointer=checkpointer)


def _approval_graph() -> Any:
    """Asks a person before answering: ``interrupt()`` pauses, ``Command(resume=...)``
    continues with the answer."""

    async def review(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "Send the reply?", "draft": "".join(WORDS)})
        return {"messages": [AIMessage(f"approved: {answer}")]}

    return StateGraph(MessagesState).add_node(review).add_edge(START, "review").compile()


def _parent_graph() -> Any:
    child = _chat_graph(WORDS)
    return StateGraph(MessagesState).add_node("inner", child).add_edge(START, "inner").compile()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = create_app(
        models={"fake": FakeChatModel([list(WORDS)])},
        graphs={
            "agent": _chat_graph(WORDS),
            "slow": _chat_graph(SLOW, delay=0.02),
            "parent": _parent_graph(),
            "approval": _approval_graph(),
        },
        heartbeat=0.5,
    )
    with live_server(app) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[Any]:
    async with get_client(url=server.url, api_key=None) as sdk:
        yield sdk


async def _collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [part async for part in stream]


async def test_assistants_are_the_served_graphs_and_models(client: Any) -> None:
    found = await client.assistants.search()
    assert {a["assistant_id"] for a in found} == {"fake", "agent", "slow", "parent", "approval"}
    one = await client.assistants.get("agent")
    assert one["graph_id"] == "agent" and one["version"] == 1
    assert [a["name"] for a in await client.assistants.search(graph_id="slow")] == ["slow"]
    with pytest.raises(NotFoundError):
        await client.assistants.get("nope")


async def test_threads_create_get_search(client: Any) -> None:
    thread = await client.threads.create(metadata={"user": "ada"})
    assert thread["status"] == "idle" and thread["metadata"] == {"user": "ada"}
    assert (await client.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]
    found = await client.threads.search(metadata={"user": "ada"})
    assert [t["thread_id"] for t in found] == [thread["thread_id"]]
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=thread["thread_id"])
    same = await client.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")
    assert same["metadata"] == {"user": "ada"}
    with pytest.raises(NotFoundError):
        await client.threads.get("no-such-thread")


async def test_stream_values_updates_custom_and_the_run_id(client: Any) -> None:
    thread = await client.threads.create()
    created: list[Any] = []
    parts = await _collect(
        client.runs.stream(
            thread["thread_id"],
            "agent",
            input=USER,
            stream_mode=["values", "updates", "custom"],
            on_run_created=created.append,
        )
    )
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    run_id = parts[0].data["run_id"]
    assert created[0]["run_id"] == run_id and created[0]["thread_id"] == thread["thread_id"]
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["messages"][-1]["content"] == "".join(WORDS)
    assert values[-1]["messages"][0]["type"] == "human"
    updates = [p.data for p in parts if p.event == "updates"]
    assert list(updates[0]) == ["chat"]
    assert [p.data for p in parts if p.event == "custom"] == [{"progress": "thinking"}]
    run = await client.runs.get(thread["thread_id"], run_id)
    assert run["status"] == "success" and run["assistant_id"] == "agent"
    after = await client.threads.get(thread["thread_id"])
    assert after["status"] == "idle"
    assert after["values"]["messages"][-1]["content"] == "".join(WORDS)


async def test_messages_tuple_and_messages_modes(client: Any) -> None:
    parts = await _collect(
        client.runs.stream(None, "agent", input=USER, stream_mode=["messages-tuple", "messages"])
    )
    tuples = [p.data for p in parts if p.event == "messages"]
    message, meta = tuples[0]
    assert message["type"] == "AIMessageChunk" and meta["langgraph_node"] == "chat"
    assert "".join(m["content"] for m, _ in tuples) == "".join(WORDS)
    partial = [p.data for p in parts if p.event == "messages/partial"]
    assert partial[-1][0]["content"] == "".join(WORDS) and partial[-1][0]["type"] == "ai"
    assert [p.event for p in parts].count("messages/metadata") == 1
    complete = [p.data for p in parts if p.event == "messages/complete"]
    assert complete[-1][0]["content"] == "".join(WORDS)


async def test_events_debug_tasks_modes(client: Any) -> None:
    thread = await client.threads.create()
    parts = await _collect(
        client.runs.stream(
            thread["thread_id"],
            "agent",
            input=USER,
            stream_mode=["events", "debug", "tasks", "checkpoints"],
        )
    )
    kinds = {p.data["event"] for p in parts if p.event == "events"}
    assert {"on_chain_start", "on_chat_model_stream", "on_chain_end"} <= kinds
    assert {p.data["type"] for p in parts if p.event == "debug"} >= {"checkpoint", "task"}
    tasks = [p.data for p in parts if p.event == "tasks"]
    assert tasks[0]["name"] == "chat" and "result" in tasks[-1]
    saved = [p.data for p in parts if p.event == "checkpoints"]
    assert saved[-1]["values"]["messages"][-1]["content"] == "".join(WORDS)
    assert saved[-1]["config"]["configurable"]["thread_id"] == thread["thread_id"]


async def test_subgraph_events_are_named_mode_and_namespace(client: Any) -> None:
    parts = await _collect(
        client.runs.stream(
            None, "parent", input=USER, stream_mode=["updates"], stream_subgraphs=True
        )
    )
    names = [p.event for p in parts if p.event.startswith("updates")]
    assert "updates" in names
    nested = [n for n in names if n.startswith("updates|inner:")]
    assert nested, names
    v2 = await _collect(
        client.runs.stream(
            None, "parent", input=USER, stream_mode="updates", stream_subgraphs=True, version="v2"
        )
    )
    assert any(p["ns"] and p["ns"][0].startswith("inner:") for p in v2 if p["type"] == "updates")


async def test_a_served_model_is_an_assistant_with_threads(client: Any) -> None:
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "fake", input=USER)
    assert result["messages"][-1]["content"] == "".join(WORDS)
    again = await client.runs.wait(
        thread["thread_id"], "fake", input={"messages": [{"role": "user", "content": "more"}]}
    )
    assert [m["type"] for m in again["messages"]] == ["human", "ai", "human", "ai"]
    state = await client.threads.get_state(thread["thread_id"])
    assert len(state["values"]["messages"]) == 4 and state["next"] == []
    assert state["checkpoint"]["thread_id"] == thread["thread_id"]
    history = await client.threads.get_history(thread["thread_id"], limit=3)
    assert len(history) == 3
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    older = await client.threads.get_history(
        thread["thread_id"], before=history[0]["checkpoint"], limit=100
    )
    assert older[0]["checkpoint"] == history[1]["checkpoint"]


async def test_stateless_wait_and_stream(client: Any) -> None:
    result = await client.runs.wait(None, "agent", input=USER)
    assert result["messages"][-1]["content"] == "".join(WORDS)
    parts = await _collect(client.runs.stream(None, "fake", input=USER))
    assert parts[-2].event == "values" and parts[-1].event == "end"


async def test_join_stream_resumes_after_last_event_id(client: Any) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"], "slow", input=USER, stream_mode=["messages-tuple", "values"]
    )
    first = await _collect(client.runs.join_stream(thread["thread_id"], run["run_id"]))
    ids = [int(p.id) for p in first]
    assert ids == list(range(1, len(ids) + 1))  # the whole run, no gap
    resumed = await _collect(
        client.runs.join_stream(thread["thread_id"], run["run_id"], last_event_id="10")
    )
    assert [int(p.id) for p in resumed][0] == 11
    assert resumed[-1].event == "end"
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"


async def test_cancel_stops_the_run(client: Any) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input=USER)

    async def running() -> bool:
        got = await client.runs.get(thread["thread_id"], run["run_id"])
        return bool(got["status"] == "running")

    await async_wait_until(running, timeout=20, interval=0.05)
    await client.runs.cancel(thread["thread_id"], run["run_id"], wait=True)
    got = await client.runs.get(thread["thread_id"], run["run_id"])
    assert got["status"] == "interrupted"
    parts = await _collect(client.runs.join_stream(thread["thread_id"], run["run_id"]))
    assert parts[-1].event == "end" and parts[-1].data["status"] == "cancelled"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_multitask_reject_interrupt_enqueue(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "slow", input=USER)
    with pytest.raises(ConflictError):
        await client.runs.create(tid, "slow", input=USER, multitask_strategy="reject")
    # "interrupt" cancels the running run; "enqueue" waits for the one before it to end
    second = await client.runs.create(tid, "slow", input=USER, multitask_strategy="interrupt")
    third = await client.runs.create(tid, "slow", input=USER, multitask_strategy="enqueue")
    assert (await client.runs.get(tid, third["run_id"]))["status"] == "pending"
    result = await client.runs.join(tid, third["run_id"])
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(tid, second["run_id"]))["status"] == "success"
    kinds = [m["type"] for m in result["messages"]]
    assert kinds[-4:] == ["human", "ai", "human", "ai"]  # the third ran after the second
    assert result["messages"][-1]["content"] == "".join(SLOW)


async def test_invalid_requests_get_422_with_detail(server: LiveServer, client: Any) -> None:
    thread = await client.threads.create()
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.runs.create(thread["thread_id"], "agent", input=USER, webhook="http://x/")
    assert "webhook" in caught.value.message
    async with httpx.AsyncClient(base_url=server.url) as http:
        bad = await http.post(
            f"/threads/{thread['thread_id']}/runs/stream",
            json={"assistant_id": "agent", "input": USER, "stream_mode": "tokens"},
        )
        assert bad.status_code == 422
        assert "unknown stream_mode 'tokens'" in bad.json()["detail"]
        extra = await http.post(
            "/runs/wait", json={"assistant_id": "agent", "input": USER, "colour": "red"}
        )
        assert extra.status_code == 422 and "colour" in extra.json()["detail"]
        unknown = await http.post("/runs/wait", json={"assistant_id": "ghost", "input": USER})
        assert unknown.status_code == 404 and "ghost" in unknown.json()["detail"]
        config = await http.post(
            "/runs/wait", json={"assistant_id": "agent", "input": USER, "config": {"x": 1}}
        )
        assert config.status_code == 422 and "config" in config.json()["detail"]


async def test_api_key_is_read_from_x_api_key() -> None:
    app = create_app(graphs={"agent": _chat_graph(WORDS)}, api_key="sekret")
    with live_server(app) as live:
        async with get_client(url=live.url, api_key="wrong") as denied:
            with pytest.raises(httpx.HTTPStatusError) as caught:
                await denied.assistants.search()
        assert caught.value.response.status_code == 401
        async with get_client(url=live.url, api_key="sekret") as allowed:
            assert [a["assistant_id"] for a in await allowed.assistants.search()] == ["agent"]


async def test_threads_and_runs_live_in_the_sqlite_file(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    savers: list[SqliteSaver] = []

    def app() -> Any:
        savers.append(SqliteSaver(path))
        return create_app(graphs={"agent": _chat_graph(WORDS, checkpointer=savers[-1])})

    try:
        await _threads_and_runs_live_in_the_sqlite_file(app)
    finally:
        for saver in savers:
            saver.close()


async def _threads_and_runs_live_in_the_sqlite_file(app: Any) -> None:
    with live_server(app()) as live:
        async with get_client(url=live.url, api_key=None) as client:
            thread = await client.threads.create(metadata={"k": "v"})
            await client.runs.wait(thread["thread_id"], "agent", input=USER)
    with live_server(app()) as live:  # as a new process would
        client = get_client(url=live.url, api_key=None)
        again = await client.threads.get(thread["thread_id"])
        assert again["metadata"] is not None and again["metadata"]["k"] == "v"
        assert again["status"] == "idle"
        state = await client.threads.get_state(thread["thread_id"])
        values = state["values"]
        assert isinstance(values, dict)
        assert values["messages"][-1]["content"] == "".join(WORDS)
        runs = await client.runs.list(thread["thread_id"])
        assert [r["status"] for r in runs] == ["success"]
        await client.aclose()


async def test_error_event_in_the_agent_server_shape() -> None:
    app = create_app(graphs={"broken": _broken_graph()})
    with live_server(app) as live:
        async with get_client(url=live.url, api_key=None) as sdk:
            parts = await _collect(sdk.runs.stream(None, "broken", input=USER))
            error = [p.data for p in parts if p.event == "error"]
            assert error[0]["error"] == "ValueError" and "boom" in error[0]["message"]
            waited = await sdk.runs.wait(None, "broken", input=USER, raise_error=False)
            assert isinstance(waited, dict)
            assert waited["__error__"]["error"] == "ValueError"


def _broken_graph() -> Any:
    def fail(state: MessagesState) -> dict[str, Any]:
        raise ValueError("boom")

    return StateGraph(MessagesState).add_node(fail).add_edge(START, "fail").compile()


async def test_a_run_from_a_checkpoint_forks_the_thread(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input=USER)
    first = await client.threads.get_state(tid)
    await client.runs.wait(tid, "agent", input=USER)
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 4
    forked = await client.runs.wait(tid, "agent", input=USER, checkpoint=first["checkpoint"])
    assert len(forked["messages"]) == 4  # two from the first turn, two new
    state = await client.threads.get_state(tid)
    assert state["parent_checkpoint"] is not None
    history = await client.threads.get_history(tid, limit=100)
    assert first["checkpoint"]["checkpoint_id"] in {
        h["checkpoint"]["checkpoint_id"] for h in history
    }


async def test_rollback_starts_from_the_state_before_the_cancelled_run(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input=USER)
    first = await client.runs.create(tid, "slow", input=USER)

    async def running() -> bool:
        return bool((await client.runs.get(tid, first["run_id"]))["status"] == "running")

    await async_wait_until(running, timeout=20, interval=0.05)
    second = await client.runs.create(tid, "agent", input=USER, multitask_strategy="rollback")
    result = await client.runs.join(tid, second["run_id"])
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    # the cancelled run's input is gone: the first turn, then the second
    assert [m["type"] for m in result["messages"]] == ["human", "ai", "human", "ai"]
    assert result["messages"][-1]["content"] == "".join(WORDS)


async def test_a_client_that_leaves_cancels_the_run_unless_continue(client: Any) -> None:
    for on_disconnect, final in (("cancel", "interrupted"), ("continue", "success")):
        thread = await client.threads.create()
        tid = thread["thread_id"]
        run_id = None
        async for part in client.runs.stream(
            tid, "slow", input=USER, stream_mode="messages-tuple", on_disconnect=on_disconnect
        ):
            run_id = run_id or part.data["run_id"]
            if part.event == "messages":
                break

        async def ended(run_id: str = str(run_id), tid: str = tid) -> Any:
            return (await client.runs.get(tid, run_id))["status"]

        await async_wait_until(ended, is_=final, timeout=20, interval=0.05)


async def test_cors_preflight_and_exposed_headers() -> None:
    app = create_app(graphs={"agent": _chat_graph(WORDS)}, cors_origins=["https://app.example"])
    with live_server(app) as live:
        async with httpx.AsyncClient(base_url=live.url) as http:
            origin = {"origin": "https://app.example"}
            pre = await preflight(
                http, "/threads", "https://app.example", "content-type, x-api-key"
            )
            assert pre.status_code == 204
            assert "x-api-key" in pre.headers["access-control-allow-headers"]
            made = await http.post("/threads", json={}, headers=origin)
            thread_id = made.json()["thread_id"]
            run = await http.post(
                f"/threads/{thread_id}/runs/stream",
                json={"assistant_id": "agent", "input": USER, "stream_resumable": True},
                headers=origin,
            )
            exposed = run.headers["access-control-expose-headers"]
            assert "content-location" in exposed and "location" in exposed.split(", ")
            assert run.headers["location"].endswith("/stream")


async def test_thread_ids_that_cannot_travel_in_a_header_are_refused(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        bad = await http.post("/threads", json={"thread_id": "a\r\nx-evil: 1"})
        assert bad.status_code == 422 and "thread_id" in bad.json()["detail"]
        good = await http.post("/threads", json={"thread_id": "user-42:chat"})
        assert good.status_code == 200
        missing = await http.get("/threads/%0d%0aevil/state")
        assert missing.status_code == 404
        run = await http.post(
            "/threads/user-42:chat/runs/wait", json={"assistant_id": "agent", "input": USER}
        )
        assert run.headers["content-location"].startswith("/threads/user-42:chat/runs/")


async def test_interrupt_then_resume_with_a_command(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    parts = await _collect(
        client.runs.stream(tid, "approval", input=USER, stream_mode=["values", "updates"])
    )
    paused = [p.data for p in parts if p.event == "values"][-1]
    (asked,) = paused["__interrupt__"]
    assert asked["value"] == {"question": "Send the reply?", "draft": "".join(WORDS)}
    assert asked["id"]
    update = [p.data for p in parts if p.event == "updates"][-1]
    assert update == {"__interrupt__": [asked]}
    assert (await client.threads.get(tid))["status"] == "interrupted"
    assert (await client.threads.get(tid))["interrupts"]
    state = await client.threads.get_state(tid)
    assert state["next"] == ["review"]
    assert [i["id"] for i in state["interrupts"]] == [asked["id"]]
    assert state["tasks"][0]["name"] == "review"
    assert state["tasks"][0]["interrupts"][0]["value"] == asked["value"]

    resumed = await _collect(
        client.runs.stream(
            tid, "approval", command={"resume": "yes"}, stream_mode="values", version="v2"
        )
    )
    final = [p for p in resumed if p["type"] == "values"][-1]
    assert final["interrupts"] == []
    assert [m["content"] for m in final["data"]["messages"]] == ["hi", "approved: yes"]
    assert (await client.threads.get(tid))["status"] == "idle"
    assert (await client.threads.get_state(tid))["next"] == []


async def test_wait_answers_the_interrupt_and_resumes_by_id(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "approval", input=USER)
    (asked,) = paused["__interrupt__"]
    done = await client.runs.wait(tid, "approval", command={"resume": {asked["id"]: "by id"}})
    assert done["messages"][-1]["content"] == "approved: by id"
    assert "__interrupt__" not in done


async def test_interrupt_before_a_node_then_continue(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input=USER, interrupt_before=["chat"])
    state = await client.threads.get_state(tid)
    assert state["next"] == ["chat"] and len(state["values"]["messages"]) == 1
    assert (await client.threads.get(tid))["status"] == "interrupted"
    done = await client.runs.wait(tid, "agent", input=None)
    assert done["messages"][-1]["content"] == "".join(WORDS)
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_update_state_as_a_node(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input=USER)
    before = await client.threads.get_state(tid)
    answer = await client.threads.update_state(
        tid, {"messages": [{"type": "ai", "content": "edited"}]}, as_node="chat"
    )
    assert answer["checkpoint"]["thread_id"] == tid
    assert answer["checkpoint"]["checkpoint_id"] != before["checkpoint"]["checkpoint_id"]
    after = await client.threads.get_state(tid)
    assert after["checkpoint"] == answer["checkpoint"]
    assert [m["content"] for m in after["values"]["messages"]][-1] == "edited"
    assert len(after["values"]["messages"]) == 3  # the reducer appended it
    assert after["next"] == []
    assert (await client.threads.get(tid))["values"]["messages"][-1]["content"] == "edited"


async def test_update_state_while_paused_then_resume(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "approval", input=USER)
    await client.threads.update_state(
        tid, {"messages": [{"role": "user", "content": "please be brief"}]}, as_node="__start__"
    )
    state = await client.threads.get_state(tid)
    assert [m["content"] for m in state["values"]["messages"]] == ["hi", "please be brief"]
    assert state["next"] == ["review"]
    done = await client.runs.wait(tid, "approval", command={"resume": "ok"})
    assert done["messages"][-1]["content"] == "approved: ok"
    # or answer in the node's place: the paused node does not run
    other = (await client.threads.create())["thread_id"]
    await client.runs.wait(other, "approval", input=USER)
    await client.threads.update_state(
        other, {"messages": [{"type": "ai", "content": "rejected"}]}, as_node="review"
    )
    skipped = await client.threads.get_state(other)
    assert skipped["next"] == [] and skipped["values"]["messages"][-1]["content"] == "rejected"
    assert (await client.threads.get(other))["status"] == "idle"
    assert (await client.threads.get(other))["interrupts"] == {}


async def test_update_state_errors(server: LiveServer, client: Any) -> None:
    thread = await client.threads.create()
    with pytest.raises(UnprocessableEntityError):  # no graph has run on it yet
        await client.threads.update_state(thread["thread_id"], {"messages": []})
    async with httpx.AsyncClient(base_url=server.url) as http:
        bad = await http.post(
            f"/threads/{thread['thread_id']}/state", json={"values": {}, "node": "x"}
        )
        assert bad.status_code == 422 and "as_node" in bad.json()["detail"]


async def test_delete_thread_removes_its_state_and_runs(client: Any) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "agent", input=USER)
    running = await client.runs.create(tid, "slow", input=USER, multitask_strategy="enqueue")
    await client.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await client.threads.get(tid)
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, running["run_id"])
    again = await client.threads.create(thread_id=tid)  # a new thread under the same id
    empty = await client.threads.get_state(again["thread_id"])
    assert empty["values"] == {} and empty["checkpoint"] is None
    await client.runs.wait(tid, "agent", input=USER)
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 2


async def test_a_run_without_a_thread_leaves_no_checkpoints() -> None:
    saver = MemorySaver()
    app = create_app(graphs={"own": _chat_graph(WORDS, checkpointer=saver)})
    with live_server(app) as live:
        async with get_client(url=live.url, api_key=None) as sdk:
            done = await sdk.runs.wait(None, "own", input=USER)
            assert isinstance(done, dict)
            assert done["messages"][-1]["content"] == "".join(WORDS)
            kept = await sdk.runs.wait(None, "own", input=USER, on_completion="keep")
            assert isinstance(kept, dict)
            assert kept["messages"][-1]["content"] == "".join(WORDS)

            async def saved_threads() -> set[str]:
                return {
                    found.config["configurable"]["thread_id"] async for found in saver.alist(None)
                }

            await async_wait_until(lambda: _one(saved_threads), timeout=10, interval=0.05)


async def _one(threads: Any) -> bool:
    return len(await threads()) == 1  # the run kept with on_completion="keep"
