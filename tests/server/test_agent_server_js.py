"""``@langchain/langgraph-sdk``'s ``Client`` (the npm package, in Node) against the Agent
Server API of a live server: assistants, threads, streamed runs in the modes ``useStream``
asks for, the ``messages`` mode, state, history, wait, join from ``Last-Event-ID``, cancel, an
interrupt answered with a ``Command`` and an invalid request (``tests/js/agent_server.mjs``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.live_server import LiveServer, live_server
from tokentide.graph import START, MessagesState, StateGraph, get_stream_writer, interrupt
from tokentide.messages import AIMessage
from tokentide.models import FakeChatModel
from tokentide.server import create_app

pytestmark = [pytest.mark.timeout(120), pytest.mark.once]

JS = Path(__file__).resolve().parents[1] / "js"
WORDS = [f"w{i} " for i in range(6)]


def _graph(words: list[str], delay: float = 0.0) -> Any:
    model = FakeChatModel([list(words)], delay=delay)

    async def chat(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"progress": "thinking"})
        return {"messages": [await model.ainvoke(state["messages"])]}

    return StateGraph(MessagesState).add_node(chat).add_edge(START, "chat").compile()


def _approval() -> Any:
    def review(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "Send it?"})
        return {"messages": [AIMessage(f"approved: {answer}")]}

    return StateGraph(MessagesState).add_node(review).add_edge(START, "review").compile()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    graphs = {
        "agent": _graph(WORDS),
        "slow": _graph([f"s{i} " for i in range(80)], 0.02),
        "approval": _approval(),
    }
    with live_server(create_app(graphs=graphs, heartbeat=0.5)) as live:
        yield live


def test_the_js_client_drives_the_agent_server_api(server: LiveServer) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (scripts/setup installs it)"
    assert (JS / "node_modules" / "@langchain" / "langgraph-sdk").is_dir(), "run scripts/setup"
    done = subprocess.run(
        [node, str(JS / "agent_server.mjs"), server.url],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    text = "".join(WORDS)
    assert seen["assistants"] == ["agent", "approval", "slow"]
    assert seen["assistant"] == "agent"
    assert seen["threadStatus"] == "idle"
    assert seen["createdRunId"] and seen["createdThreadId"]
    assert seen["firstEvent"] == "metadata"
    assert seen["eventNames"] == ["custom", "end", "messages", "metadata", "updates", "values"]
    assert seen["streamedText"] == text and seen["lastValuesText"] == text
    assert seen["node"] == "chat" and seen["custom"] == {"progress": "thinking"}
    assert seen["partialText"] == text
    assert seen["stateMessages"] == 2 and seen["stateCheckpoint"] is True
    assert seen["history"] == 2
    assert seen["waitedMessages"] == 4 and seen["threadAfter"] == "idle"
    assert seen["joinedFrom"] == 4 and seen["joinedContiguous"] is True
    assert seen["joinedRunStatus"] == "success"
    assert seen["cancelledStatus"] == "interrupted"
    assert "unknown stream_mode 'tokens'" in seen["invalid"]
    assert seen["askedQuestion"] == "Send it?" and seen["askedThread"] == "interrupted"
    assert seen["answered"] == "approved: yes"
