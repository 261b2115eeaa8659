"""The AI SDK chat endpoints over HTTP (a live in-process server, httpx): headers and framing,
the resume GET (204, replay + follow, identical for every reader), the grace period after a
disconnect (cancel, or resume within it), the stop endpoint, routing, auth and bad input.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fakes.live_server import LiveServer, live_server
from fakes.waiting import async_wait_until
from tokentide.cli import build_parser
from tokentide.cli._serve import ServeError, build_app
from tokentide.models import FakeChatModel
from tokentide.server import TokentideApp, create_app

pytestmark = pytest.mark.timeout(60)

WORDS = [f"w{i} " for i in range(40)]
GRACE = 1.0  # shorter than what is left of a "slow" run when its reader leaves


def _app(**options: Any) -> TokentideApp:
    return create_app(
        models={
            "fast": FakeChatModel([["Hello", " there"]]),
            "slow": FakeChatModel([list(WORDS)], delay=0.04),
        },
        heartbeat=None,
        **{"ui_resume_grace": GRACE, **options},
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(_app()) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        yield client


def _body(chat_id: str, model: str = "fast", text: str = "hi") -> dict[str, Any]:
    user = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": chat_id, "messages": [user], "trigger": "submit-message", "model": model}


def _chunks(body: bytes) -> list[Any]:
    out: list[Any] = []
    for frame in body.decode().split("\n\n"):
        if frame.startswith("data: "):
            data = frame[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def _status(http: httpx.AsyncClient, run_id: str) -> str:
    status: str = (await http.get(f"/v1/runs/{run_id}")).json()["status"]
    return status


async def _start_and_leave(
    http: httpx.AsyncClient, chat_id: str, deltas: int = 3
) -> tuple[str, float]:
    """POST a slow chat, read a few text deltas, disconnect; the run id and the ``time.time()``
    taken just before the disconnect (the grace period cannot start earlier)."""
    async with http.stream("POST", "/api/chat", json=_body(chat_id, "slow")) as response:
        run_id = response.headers["x-run-id"]
        seen = 0
        async for line in response.aiter_lines():
            seen += '"text-delta"' in line
            if seen >= deltas:
                break
        left = time.time()
    return run_id, left


async def test_headers_framing_and_204_after_the_end(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/chat", json=_body("c-headers"))
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    chunks = _chunks(response.content)
    assert chunks[-1] == "[DONE]"
    assert [c["type"] for c in chunks[:-1]] == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    resumed = await http.get("/api/chat/c-headers/stream")
    assert resumed.status_code == 204 and resumed.content == b""
    assert (await http.get("/api/chat/never-seen/stream")).status_code == 204


async def test_readers_of_one_run_get_the_same_bytes(http: httpx.AsyncClient) -> None:
    async with http.stream("POST", "/api/chat", json=_body("c-two", "slow")) as first:
        assert first.status_code == 200
        second = await http.get("/api/chat/c-two/stream")  # replays, then follows to the end
        first_body = await first.aread()
    assert second.status_code == 200
    assert second.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert second.content == first_body
    text = "".join(c["delta"] for c in _chunks(first_body)[:-1] if c["type"] == "text-delta")
    assert text == "".join(WORDS)


async def test_a_disconnect_cancels_after_the_grace(http: httpx.AsyncClient) -> None:
    run_id, left = await _start_and_leave(http, "c-leave")
    await async_wait_until(lambda: _status(http, run_id), is_="cancelled", interval=0.02)
    record = (await http.get(f"/v1/runs/{run_id}")).json()
    assert record["updated_at"] - left >= GRACE * 0.9  # not before the grace period
    assert (await http.get("/api/chat/c-leave/stream")).status_code == 204


async def test_a_reconnect_within_the_grace_keeps_the_run(http: httpx.AsyncClient) -> None:
    run_id, _ = await _start_and_leave(http, "c-back")
    resumed = await http.get("/api/chat/c-back/stream")  # waits for the end: longer than grace
    chunks = _chunks(resumed.content)
    assert chunks[-2] == {"type": "finish", "finishReason": "stop"}
    assert await _status(http, run_id) == "success"


async def test_the_stop_endpoint(http: httpx.AsyncClient) -> None:
    async with http.stream("POST", "/api/chat", json=_body("c-stop", "slow")) as response:
        run_id = response.headers["x-run-id"]
        stale = await http.post("/api/chat/c-stop/stop", json={"activeStreamId": "run_other"})
        assert stale.json() == {"success": True, "cancelled": False, "runId": run_id}
        stop = await http.post("/api/chat/c-stop/stop", json={"activeStreamId": run_id})
        assert stop.json() == {"success": True, "cancelled": True, "runId": run_id}
        chunks = _chunks(await response.aread())
    assert chunks[-2:] == [{"type": "abort", "reason": "the run was cancelled"}, "[DONE]"]
    nothing = await http.post("/api/chat/c-stop/stop")  # no body, nothing active
    assert nothing.json() == {"success": True, "cancelled": False, "runId": None}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/chat", 405),
        ("POST", "/api/chat/x/stream", 405),
        ("GET", "/api/chat/x/stop", 405),
        ("GET", "/api/chat/x", 404),
        ("GET", "/api/chat//stream", 404),
    ],
)
async def test_routes(http: httpx.AsyncClient, method: str, path: str, status: int) -> None:
    assert (await http.request(method, path)).status_code == status


async def test_several_models_and_no_model_is_a_clear_400(http: httpx.AsyncClient) -> None:
    body = _body("c-which")
    del body["model"]
    response = await http.post("/api/chat", json=body)
    assert response.status_code == 400
    assert "--ui-model" in response.json()["error"]["message"]
    unknown = await http.post("/api/chat", json=_body("c-which", "nope"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


async def test_ui_model_path_and_api_key() -> None:
    app = _app(ui_model="fast", ui_path="/chat/", api_key="secret-key-123")
    with live_server(app) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=20) as http:
            body = _body("c-key")
            del body["model"]
            assert (await http.post("/chat", json=body)).status_code == 401
            headers = {"authorization": "Bearer secret-key-123"}
            response = await http.post("/chat", json=body, headers=headers)
            assert response.status_code == 200 and _chunks(response.content)[-2]["type"] == "finish"
            assert (await http.get("/chat/c-key/stream", headers=headers)).status_code == 204
            assert (await http.post("/api/chat", json=body, headers=headers)).status_code == 404


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="ui_model 'nope' is not served"):
        _app(ui_model="nope")
    with pytest.raises(ValueError, match="outside /v1"):
        _app(ui_path="/v1/chat")
    with pytest.raises(ValueError, match="grace"):
        _app(ui_resume_grace=-1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ui-model", "nope"], "--ui-model 'nope' is not served"),
        (["--ui-path", "api/chat"], "--ui-path"),
        (["--ui-resume-grace", "-1"], "--ui-resume-grace"),
    ],
)
def test_serve_flags(argv: list[str], message: str) -> None:
    args = build_parser().parse_args(["serve", "--model", "fake", *argv])
    with pytest.raises(ServeError, match=message):
        build_app(args)


def test_serve_flags_reach_the_app() -> None:
    argv = ["serve", "--model", "fake", "--ui-path", "/chat", "--ui-resume-grace", "0.5"]
    app = build_app(build_parser().parse_args(argv)).app
    assert (app.ui.path, app.ui.grace, app.ui.model) == ("/chat", 0.5, None)
    asyncio.run(app.aclose())


async def test_a_graph_with_a_checkpointer_answers_on_a_new_thread_each_time() -> None:
    from tokentide.checkpoint import InMemorySaver
    from tokentide.prebuilt import create_react_agent

    threads: list[str] = []

    class Saver(InMemorySaver):
        def put(self, config: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
            threads.append(config["configurable"]["thread_id"])
            return super().put(config, *args, **kwargs)

    agent = create_react_agent(FakeChatModel(["One.", "Two."]), [], checkpointer=Saver())
    with live_server(create_app(graphs={"agent": agent})) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=20) as http:
            first = await http.post("/api/chat", json=_body("c-saver", "agent"))
            assert _chunks(first.content)[-2] == {"type": "finish", "finishReason": "stop"}
            history = _body("c-saver", "agent")
            answer = {"id": "a1", "role": "assistant", "parts": [{"type": "text", "text": "One."}]}
            again = {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "more"}]}
            history["messages"] += [answer, again]
            second = await http.post("/api/chat", json=history)
            chunks = _chunks(second.content)[:-1]
            assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "Two."
    assert len(set(threads)) == 2  # the whole conversation comes each time: a thread each


async def test_approvals_for_a_run_that_is_not_waiting_are_a_409(http: httpx.AsyncClient) -> None:
    done = await http.post("/api/chat", json=_body("c-approve"))
    run_id = done.headers["x-run-id"]
    answered = {
        "type": "tool-send",
        "toolCallId": "c1",
        "state": "approval-responded",
        "input": {},
        "approval": {"id": f"{run_id}:0", "approved": True},
    }
    body = _body("c-approve")
    body["messages"].append({"id": "a1", "role": "assistant", "parts": [answered]})
    response = await http.post("/api/chat", json=body)
    assert response.status_code == 409
    assert "not waiting for approval" in response.json()["error"]["message"]
    answered["approval"] = {"id": "made-up", "approved": True}
    assert (await http.post("/api/chat", json=body)).status_code == 400
