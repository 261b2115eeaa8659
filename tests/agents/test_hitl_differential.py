"""Differential suite: ``HumanInTheLoopMiddleware`` in tokentide and in LangChain 1.4.

The same agent (same tools, same scripted model replies, same middleware settings) runs in
both libraries: it is streamed until it pauses, then resumed with the same decisions, turn
after turn. The streamed items (interrupts included), the pending interrupts and next nodes
after each pause, and the final messages are compared item by item after normalization (ids,
timestamps and model-option metadata aside; see `_lib.norm`).

LangChain's middleware cannot call ``interrupt()`` from async code before Python 3.11 (its
documented limitation): there, our async run is compared with LangChain's sync run of the
same agent, which yields the same items.
"""

# No `from __future__ import annotations`: tools annotate with each library's names.
import json
import sys
from typing import Any

import pytest

pytest.importorskip("langchain.agents.middleware")

import langchain.agents.middleware as lc_middleware  # noqa: E402
import langgraph.checkpoint.memory as lg_memory  # noqa: E402
import langgraph.types as lg_types  # noqa: E402

import tokentide.agents.middleware as tt_middleware  # noqa: E402
import tokentide.checkpoint as tt_checkpoint  # noqa: E402
import tokentide.graph as tt_graph  # noqa: E402
from differential_support import cases  # noqa: E402

from ._lib import LANGCHAIN, TOKENTIDE, Lib, norm  # noqa: E402

USER = {"messages": [("user", "Weather in sf, then email bob.")]}


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id}


def _middleware(lib: Lib) -> Any:
    return tt_middleware if lib is TOKENTIDE else lc_middleware


def _command(lib: Lib, resume: Any) -> Any:
    return (tt_graph.Command if lib is TOKENTIDE else lg_types.Command)(resume=resume)


def _saver(lib: Lib) -> Any:
    return (tt_checkpoint.InMemorySaver if lib is TOKENTIDE else lg_memory.InMemorySaver)()


def tools(lib: Lib) -> list[Any]:
    @lib.tools.tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        return f"It's always sunny in {city}!"

    @lib.tools.tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        return f"sent to {to}"

    @lib.tools.tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    return [get_weather, send_email, delete_file]


def describe(tool_call: Any, state: Any, runtime: Any) -> str:
    return f"{tool_call['name']} wants {sorted(tool_call['args'])} after {len(state['messages'])}"


INTERRUPT_ON: dict[str, Any] = {
    "send_email": True,
    "delete_file": {"allowed_decisions": ["approve", "reject"], "description": "Deletes!"},
    "get_weather": False,
}

#: name -> (model replies, interrupt_on, middleware options, resume values in order)
SCENARIOS: dict[str, tuple[list[Any], dict[str, Any], dict[str, Any], list[Any]]] = {
    "approve": (
        [("", [call("send_email", {"to": "bob", "body": "hi"}, "c1")]), "Sent."],
        INTERRUPT_ON,
        {},
        [{"decisions": [{"type": "approve"}]}],
    ),
    "edit": (
        [("Sending.", [call("send_email", {"to": "bob", "body": "hi"}, "c1")]), "Sent."],
        INTERRUPT_ON,
        {},
        [
            {
                "decisions": [
                    {
                        "type": "edit",
                        "edited_action": {"name": "send_email", "args": {"to": "al", "body": "yo"}},
                    }
                ]
            }
        ],
    ),
    "reject_with_message": (
        [("", [call("delete_file", {"path": "/etc"}, "c1")]), "Not deleted."],
        INTERRUPT_ON,
        {},
        [{"decisions": [{"type": "reject", "message": "Keep it."}]}],
    ),
    "reject_without_message": (
        [("", [call("delete_file", {"path": "/etc"}, "c1")]), "Ok."],
        INTERRUPT_ON,
        {},
        [{"decisions": [{"type": "reject"}]}],
    ),
    "respond": (
        [("", [call("send_email", {"to": "bob", "body": "hi"}, "c1")]), "Ok."],
        INTERRUPT_ON,
        {},
        [{"decisions": [{"type": "respond", "message": "Bob is away."}]}],
    ),
    "mixed_with_pass_through": (
        [
            (
                "Doing all three.",
                [
                    call("get_weather", {"city": "sf"}, "c1"),
                    call("send_email", {"to": "bob", "body": "hi"}, "c2"),
                    call("delete_file", {"path": "/tmp/x"}, "c3"),
                ],
            ),
            ("Again.", [call("send_email", {"to": "cy", "body": "re"}, "c4")]),
            "All done.",
        ],
        INTERRUPT_ON,
        {"description_prefix": "Please check"},
        [
            {
                "decisions": [
                    {
                        "type": "edit",
                        "edited_action": {"name": "send_email", "args": {"to": "b", "body": "x"}},
                    },
                    {"type": "reject", "message": "no"},
                ]
            },
            {"decisions": [{"type": "approve"}]},
        ],
    ),
    "not_flagged": (
        [("", [call("get_weather", {"city": "sf"}, "c1")]), "Sunny."],
        INTERRUPT_ON,
        {},
        [],
    ),
    "when_predicate": (
        [
            (
                "",
                [
                    call("delete_file", {"path": "/tmp/x"}, "c1"),
                    call("delete_file", {"path": "/etc/passwd"}, "c2"),
                ],
            ),
            "One left.",
        ],
        {
            "delete_file": {
                "allowed_decisions": ["approve", "reject"],
                "when": lambda request: request.tool_call["args"]["path"].startswith("/etc"),
            }
        },
        {},
        [{"decisions": [{"type": "reject"}]}],
    ),
    "edit_to_another_tool_and_callable_description": (
        [("", [call("send_email", {"to": "bob", "body": "hi"}, "c1")]), "Checked."],
        {"send_email": {"allowed_decisions": ["edit"], "description": describe}},
        {"edit_notice": None},
        [
            {
                "decisions": [
                    {
                        "type": "edit",
                        "edited_action": {"name": "get_weather", "args": {"city": "la"}},
                    }
                ]
            }
        ],
    ),
}


def build(lib: Lib, scenario: str) -> Any:
    replies, interrupt_on, options, _ = SCENARIOS[scenario]
    hitl = _middleware(lib).HumanInTheLoopMiddleware(interrupt_on=interrupt_on, **options)
    return lib.create_agent(
        lib.model(replies), tools(lib), middleware=[hitl], checkpointer=_saver(lib)
    )


def _interrupt(item: Any) -> Any:
    return ("Interrupt", norm(item.value))


def normalize_item(item: Any) -> Any:
    """``__interrupt__`` tuples hold ``Interrupt`` objects (their ids are hashes of each
    library's task ids): compared by value."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return (item[0], normalize_item(item[1]))
    if isinstance(item, dict) and "__interrupt__" in item:
        rest = {k: v for k, v in item.items() if k != "__interrupt__"}
        return {**norm(rest), "__interrupt__": tuple(_interrupt(i) for i in item["__interrupt__"])}
    return norm(item)


async def run_all(lib: Lib, scenario: str, use_sync: bool, mode: Any) -> list[Any]:
    """Every streamed item of the first run and of each resume, then each pause's state."""
    agent = build(lib, scenario)
    config = {"configurable": {"thread_id": "t1"}}
    inputs = [USER, *(_command(lib, r) for r in SCENARIOS[scenario][3])]
    out: list[Any] = []
    for value in inputs:
        if use_sync:
            items = list(agent.stream(value, config, stream_mode=mode))
        else:
            items = [i async for i in agent.astream(value, config, stream_mode=mode)]
        out.append([normalize_item(i) for i in items])
        snapshot = agent.get_state(config)
        out.append(("next", snapshot.next))
        out.append(("interrupts", tuple(_interrupt(i) for i in snapshot.interrupts)))
    final = agent.get_state(config).values
    out.append(("final", norm(final["messages"])))
    return out


MODES: list[Any] = ["updates", "values", "tasks", "debug", ["updates", "messages", "tools"]]


def _their_sync(use_sync: bool) -> bool:
    return use_sync or sys.version_info < (3, 11)


#: Scenarios whose approved calls run at the same time: how their items interleave is up to
#: the scheduler (thread or task start order), on either side.
CONCURRENT = {"mixed_with_pass_through", "when_predicate"}
CALL_IDS = ("c1", "c2", "c3", "c4")


def _key(item: Any) -> str:
    """An item's text with dict keys sorted (the two libraries order some keys differently)."""
    return json.dumps(item, sort_keys=True, default=repr)


def assert_same(ours: list[Any], theirs: list[Any], concurrent: bool) -> None:
    if not concurrent:
        assert ours == theirs
        return
    assert len(ours) == len(theirs)
    for mine, their in zip(ours, theirs, strict=True):
        if not isinstance(mine, list):
            assert mine == their
            continue
        # The same items, and, for each tool call, its own items in the same order.
        assert sorted(map(_key, mine)) == sorted(map(_key, their))
        for cid in CALL_IDS:
            assert [i for i in mine if f"'{cid}'" in repr(i)] == [
                i for i in their if f"'{cid}'" in repr(i)
            ], cid


@pytest.mark.parametrize(("scenario", "mode", "use_sync"), cases(SCENARIOS, MODES))
async def test_same_pauses_items_and_messages(scenario: str, mode: Any, use_sync: bool) -> None:
    ours = await run_all(TOKENTIDE, scenario, use_sync, mode)
    theirs = await run_all(LANGCHAIN, scenario, _their_sync(use_sync), mode)
    assert_same(ours, theirs, scenario in CONCURRENT)


@pytest.mark.parametrize("use_sync", [True, False], ids=["sync", "async"])
async def test_invoke_returns_the_interrupt(use_sync: bool) -> None:
    results = []
    for lib in (TOKENTIDE, LANGCHAIN):
        agent = build(lib, "approve")
        config = {"configurable": {"thread_id": "t1"}}
        if use_sync or (lib is LANGCHAIN and sys.version_info < (3, 11)):
            first = agent.invoke(USER, config)
            last = agent.invoke(_command(lib, SCENARIOS["approve"][3][0]), config)
        else:
            first = await agent.ainvoke(USER, config)
            last = await agent.ainvoke(_command(lib, SCENARIOS["approve"][3][0]), config)
        results.append((normalize_item(first), normalize_item(last)))
    assert results[0] == results[1]


BAD_RESUMES = {
    "decision_not_allowed": {"decisions": [{"type": "edit", "edited_action": {}}]},
    "too_few_decisions": {"decisions": []},
}


@pytest.mark.parametrize("bad", sorted(BAD_RESUMES))
def test_bad_decisions_fail_the_same_way(bad: str) -> None:
    errors = []
    for lib in (TOKENTIDE, LANGCHAIN):
        agent = build(lib, "reject_with_message")
        config = {"configurable": {"thread_id": "t1"}}
        agent.invoke(USER, config)
        with pytest.raises(ValueError) as caught:
            agent.invoke(_command(lib, BAD_RESUMES[bad]), config)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_edit_to_an_unknown_tool_fails_the_same_way() -> None:
    errors = []
    resume = {
        "decisions": [{"type": "edit", "edited_action": {"name": "nope", "args": {}}}],
    }
    for lib in (TOKENTIDE, LANGCHAIN):
        agent = build(lib, "edit")
        config = {"configurable": {"thread_id": "t1"}}
        agent.invoke(USER, config)
        with pytest.raises(ValueError) as caught:
            agent.invoke(_command(lib, resume), config)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
