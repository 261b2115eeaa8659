"""``tokentide chat --tools ... --approve`` in a real pseudo-terminal: before each tool call
the chat asks y / n / e; an approved call runs, an edited one runs with the typed JSON
arguments (bad JSON is asked again), a rejected one becomes an error result the model reads,
and the conversation keeps all of it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.chat_terminal import save_and_quit, tool_chat_terminals

pexpect = pytest.importorskip("pexpect", reason="the terminal tests need pexpect")
pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal"),
    pytest.mark.timeout(90),
]

PROMPT = "> "
ASK = "run get_weather? [y/e/n] "
TOOLS_MODULE = '''
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"It's always sunny in {city}!"


TOOLS = [get_weather]
'''


def _call(city: str) -> dict[str, Any]:
    return {"content": "", "tool_calls": [{"name": "get_weather", "args": {"city": city}}]}


SCRIPT = [
    {**_call("Paris"), "content": "Let me check."},
    "Sunny in Paris.",
    _call("Oslo"),
    "Sunny in Lyon.",
    _call("Rome"),
    "Fine, no Rome.",
]


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Any]:
    with tool_chat_terminals(tmp_path, TOOLS_MODULE, SCRIPT, delay=0.01, columns=200) as start:
        yield start("--model", "fake:slow", "--tools", "chat_tools:TOOLS", "--approve")


def test_approve_edit_and_reject_each_call(child: Any, tmp_path: Path) -> None:
    child.expect_exact("with tools")
    child.expect_exact(PROMPT)

    child.sendline("Weather in Paris?")
    child.expect_exact("Let me check.")
    child.expect_exact('-> get_weather {"city": "Paris"}')
    child.expect_exact(ASK)
    child.sendline("y")
    child.expect_exact("<- get_weather: It's always sunny in Paris!")
    child.expect_exact("Sunny in Paris.")
    child.expect_exact(PROMPT)

    child.sendline("And Oslo?")
    child.expect_exact('-> get_weather {"city": "Oslo"}')
    child.expect_exact(ASK)
    child.sendline("maybe")
    child.expect_exact("answer y or e or n")
    child.expect_exact(ASK)
    child.sendline("e")
    child.expect_exact('arguments as JSON (now {"city": "Oslo"}): ')
    child.sendline("{city: Lyon}")
    child.expect_exact("not JSON")
    child.expect_exact(ASK)
    child.sendline("e")
    child.expect_exact("arguments as JSON")
    child.sendline('{"city": "Lyon"}')
    child.expect_exact("<- get_weather: Note: a human reviewer replaced this tool call")
    child.expect_exact("Sunny in Lyon.")
    child.expect_exact(PROMPT)

    child.sendline("And Rome?")
    child.expect_exact('-> get_weather {"city": "Rome"}')
    child.expect_exact(ASK)
    child.sendline("n")
    child.expect_exact("reason (Enter for none): ")
    child.sendline("too far")
    child.expect_exact(
        "<- get_weather (error): User rejected the tool call for `get_weather` with reason: too far"
    )
    child.expect_exact("Fine, no Rome.")
    child.expect_exact(PROMPT)

    saved = save_and_quit(child, tmp_path / "chat.json", 12)
    assert [m["type"] for m in saved] == ["human", "ai", "tool", "ai"] * 3
    tools = [m for m in saved if m["type"] == "tool"]
    assert tools[0]["content"] == "It's always sunny in Paris!"
    assert tools[1]["content"].endswith("Tool response:\nIt's always sunny in Lyon!")
    assert saved[5]["tool_calls"][0]["args"] == {"city": "Oslo"}  # the model's own call
    assert (tools[2]["status"], tools[2]["tool_call_id"]) == (
        "error",
        saved[9]["tool_calls"][0]["id"],
    )


def test_approve_needs_tools(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "tokentide.cli", "chat", "--model", "fake", "--approve"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert "--approve needs --tools" in done.stderr
