"""``tokentide chat --tools`` in a real pseudo-terminal: the agent's calls and results are dim
lines while the answer streams; Ctrl-C while a tool runs returns to the prompt."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.chat_terminal import save_and_quit, tool_chat_terminals
from tokentide.cli._agent import ToolsSpecError, load_tools

pexpect = pytest.importorskip("pexpect", reason="the terminal tests need pexpect")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

PROMPT = "> "
DIM = "\x1b[2m"
TOOLS_MODULE = '''
import time


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"It's always sunny in {city}!"


def slow_clock(city: str) -> str:
    """Get the local time in a city (slowly)."""
    time.sleep(30)
    return "noon"


TOOLS = [get_weather, slow_clock]
'''
SCRIPT = [
    {
        "content": "Let me check.",
        "tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}}],
    },
    "It is sunny in Paris.",
    {"content": "", "tool_calls": [{"name": "slow_clock", "args": {"city": "Oslo"}}]},
    "Never shown.",
]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    with tool_chat_terminals(tmp_path, TOOLS_MODULE, SCRIPT, delay=0.05, columns=120) as start:
        yield start


def test_calls_and_results_are_dim_lines_then_ctrl_c_in_a_tool(spawn: Any, tmp_path: Path) -> None:
    child = spawn("--model", "fake:slow", "--tools", "chat_tools:TOOLS")
    child.expect_exact("with tools")
    child.expect_exact(PROMPT)
    child.sendline("Weather in Paris?")
    child.expect_exact("Let me check.")
    child.expect_exact('-> get_weather {"city": "Paris"}')
    assert child.before.endswith(DIM), repr(child.before[-20:])  # a dim line of its own
    child.expect_exact("<- get_weather: It's always sunny in Paris!")
    child.expect_exact("It is sunny in Paris.")
    child.expect_exact(PROMPT)

    child.sendline("Time in Oslo?")
    child.expect_exact('-> slow_clock {"city": "Oslo"}')
    child.sendintr()  # the tool sleeps 30 s: Ctrl-C stops the turn at once
    started = time.monotonic()
    child.expect_exact("[interrupted]", timeout=20)
    assert time.monotonic() - started < 10  # long before the tool's 30 s are over
    child.expect_exact(PROMPT)
    saved = save_and_quit(child, tmp_path / "chat.json", 4)  # the call without a result is not kept
    assert [m["type"] for m in saved] == ["human", "ai", "tool", "ai"]
    assert saved[1]["tool_calls"][0]["name"] == "get_weather"
    assert saved[2]["content"] == "It's always sunny in Paris!"
    assert saved[2]["tool_call_id"] == saved[1]["tool_calls"][0]["id"]
    assert saved[3]["content"] == "It is sunny in Paris."


def test_tools_spec_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad_tools.py").write_text("TOOLS = 3\nEMPTY = []\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec, message in [
        ("nocolon", "expected MODULE:ATTR"),
        ("no_such_module_xyz:T", "cannot import"),
        ("bad_tools:MISSING", "has no 'MISSING'"),
        ("bad_tools:TOOLS", "expected a list of tools"),
        ("bad_tools:EMPTY", "expected a list of tools"),
    ]:
        with pytest.raises(ToolsSpecError, match=message):
            load_tools(spec)
