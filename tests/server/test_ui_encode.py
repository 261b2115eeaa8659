"""The UI message stream encoder (sans-I/O) and the useChat request parsing, without a server.

The chunk shapes are those of ``ai``'s ``uiMessageChunkSchema`` (``ui-message-chunks.ts``);
the Node and browser tests check them against the real package.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    tool_call_chunk,
)
from tokentide.server._asgi import HTTPError
from tokentide.server._runs import dumps
from tokentide.server._ui_approvals import approval_responses, resume_value, split_approval_id
from tokentide.server._ui_encode import DONE_FRAME, UIMessageEncoder, encode_chunks
from tokentide.server._ui_input import parse_ui_request, ui_messages_to_messages


def _feed(encoder: UIMessageEncoder, *events: tuple[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, payload in events:
        out += encoder.feed(name, dumps(payload))
    return out


def _msg(message: Any) -> tuple[str, Any]:
    return ("messages", (message, {"langgraph_node": "agent"}))


META = ("metadata", {"run_id": "run_1"})
END = ("end", {"run_id": "run_1", "status": "success"})


def test_text_reply() -> None:
    chunks = _feed(
        UIMessageEncoder("m"),
        META,
        _msg(AIMessageChunk("Hel", id="a")),
        _msg(AIMessageChunk("lo", id="a")),
        _msg(AIMessageChunk("", id="a", response_metadata={"finish_reason": "stop"})),
        END,
    )
    assert chunks == [
        {"type": "start", "messageId": "m"},
        {"type": "start-step"},
        {"type": "text-start", "id": "m-text-1"},
        {"type": "text-delta", "id": "m-text-1", "delta": "Hel"},
        {"type": "text-delta", "id": "m-text-1", "delta": "lo"},
        {"type": "text-end", "id": "m-text-1"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]


def test_tool_calls_results_and_steps() -> None:
    first = [
        AIMessageChunk("Checking.", id="a"),
        AIMessageChunk(
            "", id="a", tool_call_chunks=[{"name": "w", "args": '{"ci', "id": "c1", "index": 0}]
        ),
        AIMessageChunk(
            "",
            id="a",
            tool_call_chunks=[{"name": None, "args": 'ty": "P"}', "id": None, "index": 0}],
        ),
        AIMessageChunk(
            "", id="a", tool_call_chunks=[{"name": "t", "args": "{}", "id": "c2", "index": 1}]
        ),
        AIMessageChunk("", id="a", response_metadata={"finish_reason": "tool_calls"}),
    ]
    events = [META, *map(_msg, first)]
    events += [
        _msg(ToolMessage("sunny", tool_call_id="c1")),
        _msg(ToolMessage("no", tool_call_id="c2", status="error")),
    ]
    events += [_msg(AIMessageChunk("Sunny.", id="b")), END]
    types = [(c["type"], c.get("toolCallId")) for c in _feed(UIMessageEncoder("m"), *events)]
    assert types == [
        ("start", None),
        ("start-step", None),
        ("text-start", None),
        ("text-delta", None),
        ("text-end", None),
        ("tool-input-start", "c1"),
        ("tool-input-delta", "c1"),
        ("tool-input-delta", "c1"),
        ("tool-input-start", "c2"),
        ("tool-input-delta", "c2"),
        ("tool-input-available", "c1"),
        ("tool-input-available", "c2"),
        ("tool-output-available", "c1"),
        ("tool-output-error", "c2"),
        ("finish-step", None),
        ("start-step", None),
        ("text-start", None),
        ("text-delta", None),
        ("text-end", None),
        ("finish-step", None),
        ("finish", None),
    ]
    chunks = _feed(UIMessageEncoder("m"), *events)
    available = [c for c in chunks if c["type"] == "tool-input-available"]
    assert available[0] == {
        "type": "tool-input-available",
        "toolCallId": "c1",
        "toolName": "w",
        "input": {"city": "P"},
    }
    assert {"type": "tool-output-error", "toolCallId": "c2", "errorText": "no"} in chunks
    assert chunks[-1] == {"type": "finish", "finishReason": "stop"}


def test_finish_reason_of_the_last_reply() -> None:
    reply = AIMessageChunk("x", id="a", response_metadata={"finish_reason": "length"})
    assert _feed(UIMessageEncoder("m"), META, _msg(reply), END)[-1] == {
        "type": "finish",
        "finishReason": "length",
    }


def test_whole_messages_reasoning_and_unknown_results() -> None:
    whole = AIMessage(
        "Done.",
        id="x",
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "k", "type": "tool_call"}],
    )
    thinking = AIMessageChunk("", id="r", additional_kwargs={"reasoning_content": "hmm"})
    chunks = _feed(
        UIMessageEncoder("m"),
        META,
        _msg(HumanMessage("not shown")),
        _msg(ToolMessage("orphan", tool_call_id="never-announced")),
        _msg(whole),
        _msg(thinking),
        # content blocks (a list), as some providers stream them; the constructor is typed for text
        _msg(AIMessageChunk([{"type": "text", "text": "ok"}], id="r")),  # type: ignore[arg-type]
        END,
    )
    kinds = [c["type"] for c in chunks]
    assert kinds == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "tool-input-start",
        "tool-input-available",
        "finish-step",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    assert {
        "type": "tool-input-available",
        "toolCallId": "k",
        "toolName": "f",
        "input": {"a": 1},
    } in chunks


def test_invalid_arguments_are_a_tool_input_error() -> None:
    bad = AIMessageChunk(
        "", id="a", tool_call_chunks=[{"name": "f", "args": "{oops", "id": "c", "index": 0}]
    )
    chunks = _feed(UIMessageEncoder("m"), META, _msg(bad), END)
    error = next(c for c in chunks if c["type"] == "tool-input-error")
    assert error["toolCallId"] == "c" and error["input"] == "{oops" and "JSON" in error["errorText"]


@pytest.mark.parametrize(
    ("write", "chunk"),
    [
        (
            {"type": "data-weather", "id": "w", "data": {"t": 1}},
            {"type": "data-weather", "id": "w", "data": {"t": 1}},
        ),
        (
            {"type": "data-note", "data": 2, "transient": True},
            {"type": "data-note", "data": 2, "transient": True},
        ),
        ({"progress": 0.5}, {"type": "data-custom", "data": {"progress": 0.5}}),
        ("text", {"type": "data-custom", "data": "text"}),
    ],
)
def test_custom_writes_are_data_parts(write: Any, chunk: dict[str, Any]) -> None:
    assert _feed(UIMessageEncoder("m"), META, ("custom", write))[1:] == [chunk]


def test_cancelled_and_failed_runs() -> None:
    cancelled = _feed(
        UIMessageEncoder("m"),
        META,
        _msg(AIMessageChunk("a", id="a")),
        ("end", {"status": "cancelled"}),
    )
    assert cancelled[-1] == {"type": "abort", "reason": "the run was cancelled"}
    failed = _feed(
        UIMessageEncoder("m"),
        META,
        _msg(AIMessageChunk("a", id="a")),
        ("error", {"type": "StreamInterrupted", "message": "boom", "retryable": False}),
    )
    assert [c["type"] for c in failed[-5:]] == [
        "text-delta",
        "text-end",
        "finish-step",
        "error",
        "finish",
    ]
    assert failed[-2] == {"type": "error", "errorText": "boom"}
    assert failed[-1] == {"type": "finish", "finishReason": "error"}
    encoder = UIMessageEncoder("m")
    _feed(encoder, META, END)
    assert encoder.ended and encoder.feed("custom", "1") == []  # nothing after the end


def test_two_readers_encode_the_same_chunks() -> None:
    events = [
        META,
        _msg(
            AIMessageChunk(
                "a", id="a", tool_call_chunks=[tool_call_chunk(name="f", args="{}", index=0)]
            )
        ),
        END,
    ]
    assert _feed(UIMessageEncoder("m"), *events) == _feed(UIMessageEncoder("m"), *events)


def test_frames() -> None:
    frames = encode_chunks([{"type": "text-delta", "id": "t", "delta": "é\n"}, {"type": "finish"}])
    assert (
        frames
        == b'data: {"type":"text-delta","id":"t","delta":"\xc3\xa9\\n"}\n\ndata: {"type":"finish"}\n\n'
    )
    assert DONE_FRAME == b"data: [DONE]\n\n"


# ---------------------------------------------------------------------- the request


def _ui(role: str, *parts: dict[str, Any], ident: str = "x") -> dict[str, Any]:
    return {"id": ident, "role": role, "parts": list(parts)}


def test_ui_messages_become_messages() -> None:
    history = [
        _ui("system", {"type": "text", "text": "Be brief."}),
        _ui("user", {"type": "text", "text": "Weather?"}, ident="u1"),
        _ui(
            "assistant",
            {"type": "step-start"},
            {"type": "reasoning", "text": "thinking"},
            {"type": "text", "text": "Checking."},
            {
                "type": "tool-w",
                "toolCallId": "c1",
                "state": "output-available",
                "input": {"city": "P"},
                "output": {"t": 20},
            },
            {
                "type": "dynamic-tool",
                "toolName": "t",
                "toolCallId": "c2",
                "state": "output-error",
                "input": {},
                "errorText": "no",
            },
            {"type": "tool-w", "toolCallId": "c3", "state": "input-available", "input": {}},
            {"type": "data-weather", "data": {}},
            {"type": "step-start"},
            {"type": "text", "text": "Sunny."},
            ident="a1",
        ),
    ]
    messages = ui_messages_to_messages(history)
    assert [type(m) for m in messages] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        ToolMessage,
        AIMessage,
    ]
    call = messages[2]
    assert isinstance(call, AIMessage)
    assert call.content == "Checking." and call.id == "a1"
    assert [(c["name"], c["id"], c["args"]) for c in call.tool_calls] == [
        ("w", "c1", {"city": "P"}),
        ("t", "c2", {}),
    ]
    assert json.loads(str(messages[3].content)) == {"t": 20}
    assert isinstance(messages[4], ToolMessage) and messages[4].status == "error"
    assert messages[5].content == "Sunny." and messages[5].id == "a1-1"
    assert messages[1].id == "u1"


def test_images_in_user_messages() -> None:
    (message,) = ui_messages_to_messages(
        [
            _ui(
                "user",
                {"type": "text", "text": "What is it?"},
                {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,AA"},
            )
        ]
    )
    # a message with a file has content blocks (a list); `content` is typed as text
    assert message.content == [  # type: ignore[comparison-overlap]
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
    ]


def test_parse_request() -> None:
    body = {
        "id": "chat-1",
        "messages": [_ui("user", {"type": "text", "text": "hi"})],
        "trigger": "submit-message",
        "messageId": None,
        "model": "agent",
        "extra": 1,
    }
    request = parse_ui_request(body)
    assert (request.chat_id, request.trigger, request.model) == (
        "chat-1",
        "submit-message",
        "agent",
    )
    assert request.body == {"model": "agent", "extra": 1}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"messages": [_ui("user")]}, "id"),
        ({"id": "c", "messages": []}, "messages"),
        ({"id": "c", "messages": [_ui("robot")]}, "messages[0].role"),
        ({"id": "c", "messages": [{"role": "user", "parts": "hi"}]}, "messages[0].parts"),
        ({"id": "c", "messages": [_ui("user")], "trigger": "resume"}, "trigger"),
        ({"id": "c", "messages": [_ui("user")], "model": 3}, "model"),
        ({"id": "x" * 201, "messages": [_ui("user")]}, "id"),
    ],
)
def test_bad_requests_say_what_is_wrong(body: Any, param: str | None) -> None:
    with pytest.raises(HTTPError) as caught:
        parse_ui_request(body)
    assert caught.value.status == 400 and caught.value.param == param


# ---------------------------------------------------------------------- tool approvals


def _calls_step() -> list[tuple[str, Any]]:
    calls = AIMessage(
        "",
        id="a",
        tool_calls=[
            {"name": "lookup", "args": {}, "id": "c0", "type": "tool_call"},
            {"name": "send", "args": {"to": "x"}, "id": "c1", "type": "tool_call"},
            {"name": "send", "args": {"to": "y"}, "id": "c2", "type": "tool_call"},
        ],
    )
    request = {
        "action_requests": [
            {"name": "send", "args": {"to": "x"}, "description": "?"},
            {"name": "send", "args": {"to": "y"}, "description": "?"},
        ],
        "review_configs": [],
    }
    paused = {"run_id": "run_9", "thread_id": "t", "interrupts": [{"value": request, "id": "i"}]}
    return [META, _msg(calls), ("interrupt", paused), ("end", {"status": "interrupted"})]


def test_an_interrupt_asks_for_approval_of_the_flagged_calls() -> None:
    chunks = _feed(UIMessageEncoder("m"), *_calls_step())
    approvals = [c for c in chunks if c["type"] == "tool-approval-request" and "reason" in c]
    assert approvals == [
        {
            "type": "tool-approval-request",
            "approvalId": "run_9:0",
            "toolCallId": "c1",
            "reason": "?",
        },
        {
            "type": "tool-approval-request",
            "approvalId": "run_9:1",
            "toolCallId": "c2",
            "reason": "?",
        },
    ]
    assert chunks[-4:-2] == [
        {
            "type": "tool-approval-request",
            "approvalId": "run_9:auto-c0",
            "toolCallId": "c0",
            "isAutomatic": True,
        },
        {"type": "tool-approval-response", "approvalId": "run_9:auto-c0", "approved": True},
    ]
    assert [c["type"] for c in chunks[-2:]] == ["finish-step", "finish"]


def test_a_resumed_run_skips_the_calls_the_page_has_and_denies_the_rejected() -> None:
    resent = AIMessage(
        "", id="a", tool_calls=[{"name": "send", "args": {}, "id": "c1", "type": "tool_call"}]
    )
    encoder = UIMessageEncoder(
        "m", skip_calls=frozenset({"c1", "c2"}), denied_calls=frozenset({"c2"})
    )
    chunks = _feed(
        encoder,
        META,
        _msg(resent),
        _msg(ToolMessage("sent", tool_call_id="c1")),
        _msg(ToolMessage("rejected", tool_call_id="c2", status="error")),
        _msg(AIMessageChunk("Done.", id="b")),
        END,
    )
    assert chunks[1:3] == [
        {"type": "tool-output-available", "toolCallId": "c1", "output": "sent"},
        {"type": "tool-output-denied", "toolCallId": "c2"},
    ]
    assert [c["type"] for c in chunks[3:]] == [
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]


def test_approval_responses_become_decisions() -> None:
    page_message = _ui(
        "assistant",
        {"type": "step-start"},
        {
            "type": "tool-send",
            "toolCallId": "c1",
            "state": "approval-responded",
            "input": {},
            "approval": {"id": "run_9:0", "approved": True},
        },
        {
            "type": "tool-send",
            "toolCallId": "c2",
            "state": "approval-responded",
            "input": {},
            "approval": {"id": "run_9:1", "approved": False, "reason": "not y"},
        },
        {"type": "tool-lookup", "toolCallId": "c0", "state": "input-available", "input": {}},
    )
    responses = approval_responses([_ui("user", {"type": "text", "text": "hi"}), page_message])
    assert [(r.approval_id, r.tool_call_id, r.approved, r.reason) for r in responses] == [
        ("run_9:0", "c1", True, None),
        ("run_9:1", "c2", False, "not y"),
    ]
    assert resume_value(responses, 2) == {
        "decisions": [{"type": "approve"}, {"type": "reject", "message": "not y"}]
    }
    with pytest.raises(ValueError, match="request 3 of 3 has no answer"):
        resume_value(responses, 3)
    assert split_approval_id("run_9:1") == ("run_9", 1)
    assert split_approval_id("nonsense") is None
    assert approval_responses([_ui("user", {"type": "text", "text": "hi"})]) == []


def test_other_interrupts_are_data_parts() -> None:
    paused = {
        "run_id": "run_9",
        "thread_id": "t",
        "interrupts": [{"value": {"ask": "name?"}, "id": "i1"}],
    }
    chunks = _feed(
        UIMessageEncoder("m"), META, ("interrupt", paused), ("end", {"status": "interrupted"})
    )
    assert chunks[1] == {
        "type": "data-interrupt",
        "id": "i1",
        "data": {"value": {"ask": "name?"}, "runId": "run_9", "threadId": "t"},
    }
    assert chunks[-1] == {"type": "finish", "finishReason": "stop"}
