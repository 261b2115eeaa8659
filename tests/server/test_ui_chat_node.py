"""The AI SDK's own client (``ai``'s ``DefaultChatTransport`` and ``readUIMessageStream``, in
Node) against a live ``tokentide serve``: text, an agent's tool calls and results, a failing
model, an unknown model, an abort (the run is cancelled after the resume grace), the stop
endpoint (cancelled at once), and a reconnect mid-answer (the whole answer, replayed and
followed).

The served models and agents are in ``ui_agents.py``; the Node side is ``tests/js/ui_chat.mjs``
(packages installed by the set-up with ``npm ci``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .ui_agents import ANSWER, HELLO, STORY
from .ui_serve import node_scenario, serve

pytestmark = [pytest.mark.timeout(120), pytest.mark.once]

GRACE = 1.0


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    options = []
    for name in ("agent", "story", "hello", "broken"):
        options += ["--graph", f"{name}=ui_agents:{name}"]
    options += ["--ui-model", "agent", "--ui-resume-grace", str(GRACE)]
    with serve(options) as url:
        yield url


def _node(url: str, scenario: str, model: str | None = None) -> dict[str, Any]:
    return node_scenario(url, scenario, model)


def _text(message: dict[str, Any]) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


def test_text_streams_into_one_assistant_message(server: str) -> None:
    result = _node(server, "text", "hello")
    assert result["errors"] == []
    types = result["types"]
    assert types[:3] == ["start", "start-step", "text-start"]
    assert types[-3:] == ["text-end", "finish-step", "finish"]
    assert types.count("text-delta") > 1  # streamed, not whole
    message = result["message"]
    assert message["role"] == "assistant"
    assert message["id"] == "msg_" + result["runIds"][0].removeprefix("run_")
    assert [p["type"] for p in message["parts"]] == ["step-start", "text"]
    assert message["parts"][1] == {"type": "text", "text": HELLO, "state": "done"}
    assert result["resumedAfterEnd"] is False  # 204: nothing active any more


def test_an_agents_tool_calls_results_and_custom_data(server: str) -> None:
    result = _node(server, "tools")  # --ui-model agent
    assert result["errors"] == []
    parts = result["message"]["parts"]
    kinds = [p["type"] for p in parts]
    assert kinds == [
        "step-start",
        "text",
        "tool-get_weather",
        "tool-get_time",
        "data-weather",
        "step-start",
        "text",
    ]
    weather, clock, data = parts[2], parts[3], parts[4]
    assert weather["toolCallId"] == "call_weather"
    assert weather["state"] == "output-available"
    assert weather["input"] == {"city": "Paris"}
    assert weather["output"] == "It's always sunny in Paris!"
    assert clock["state"] == "output-error"
    assert clock["errorText"] == "no clock in Paris"
    assert data == {
        "type": "data-weather",
        "id": "weather-1",
        "data": {"city": "Paris", "status": "done"},
    }
    assert parts[6]["text"] == ANSWER
    types = result["types"]
    assert types.count("tool-input-delta") > 2  # the arguments streamed in pieces
    assert types.count("start-step") == types.count("finish-step") == 2


def test_the_answer_goes_back_as_history(server: str) -> None:
    result = _node(server, "followUp")
    assert "error" not in result["types"]
    assert result["first"]["parts"][2]["state"] == "output-available"
    assert result["second"]["role"] == "assistant"
    assert result["types"][-1] == "finish"


def test_a_failing_model_ends_with_an_error_chunk(server: str) -> None:
    result = _node(server, "error", "broken")
    types = result["types"]
    assert types[-2:] == ["error", "finish"]
    assert result["errors"] == ["scripted failure after 3 chunks (error_after=3)"]
    assert result["text"] == "Partial answer then "  # what streamed before the failure


def test_an_unknown_model_is_an_api_call_error(server: str) -> None:
    result = _node(server, "unknownModel", "no-such-model")
    assert result["rejected"] is True
    assert result["status"] == 404
    assert "no-such-model" in result["message"]


def test_an_abort_cancels_the_run_after_the_grace_period(server: str) -> None:
    result = _node(server, "abort", "story")
    assert result["types"].count("text-delta") == 3
    end = result["end"]
    assert end["status"] == "cancelled"
    # Cancelled after the grace (a reload could have resumed), and well within 5 s of Stop.
    assert GRACE * 1000 * 0.9 <= end["stoppedAfterMs"] < 5000
    produced = end["output"]["content"]
    assert STORY.startswith(produced) and len(produced) < len(STORY) / 2
    assert result["resumedAfterStop"] is False


def test_the_stop_endpoint_cancels_at_once(server: str) -> None:
    result = _node(server, "stop", "story")
    assert result["answer"]["success"] is True and result["answer"]["cancelled"] is True
    assert result["types"][-1] == "abort"
    end = result["end"]
    assert end["status"] == "cancelled"
    assert end["stoppedAfterMs"] < GRACE * 1000  # not waiting for the grace period
    assert len(end["output"]["content"]) < len(STORY) / 4


def test_a_reconnect_mid_answer_replays_and_follows_it(server: str) -> None:
    result = _node(server, "resume", "story")
    assert result["firstText"].startswith("word000 ")
    resumed = result["resumed"]
    assert resumed is not None, "the reconnect found no active stream (204)"
    assert resumed["errors"] == []
    assert resumed["types"][0] == "start" and resumed["types"][-1] == "finish"
    assert resumed["text"] == STORY  # from the start: a replay, then the rest live
    assert resumed["id"] == resumed["firstId"]
    assert result["end"]["status"] == "success"
    assert result["resumedAfterEnd"] is False
