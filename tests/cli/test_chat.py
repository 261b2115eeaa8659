"""``tokentide chat`` in process (files for stdin/stdout) and as a piped process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokentide.cli import build_parser
from tokentide.cli._chat import ChatSession
from tokentide.cli._conversation import Conversation, ConversationFileError
from tokentide.cli._models import FAKE_REPLY, make_model
from tokentide.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "TOKENTIDE_HISTORY_FILE": ""}


def session(
    lines: str, *options: str, model: Any = None, stdout: io.StringIO | None = None
) -> tuple[ChatSession, io.StringIO, io.StringIO]:
    args = build_parser().parse_args(["chat", "--model", "fake", *options])
    out = stdout if stdout is not None else io.StringIO()
    err = io.StringIO()
    chosen = model if model is not None else make_model("fake")
    chat = ChatSession(chosen, args, stdin=io.StringIO(lines), stdout=out, stderr=err)
    return chat, out, err


def run_chat(lines: str, *options: str, model: Any = None) -> tuple[ChatSession, str, str]:
    chat, out, err = session(lines, *options, model=model)
    assert chat.loop() == 0
    return chat, out.getvalue(), err.getvalue()


class ScriptedStream:
    """A model whose stream yields ``pieces`` and then raises ``KeyboardInterrupt`` (as the
    signal handler does when Ctrl-C lands while the model runs); records closing."""

    def __init__(self, pieces: list[str], interrupt: bool = True) -> None:
        self.pieces = pieces
        self.interrupt = interrupt
        self.closed = 0
        self.seen: list[list[Any]] = []
        self.streams: list[Iterator[AIMessageChunk]] = []  # kept: no closing by the GC

    def stream(self, messages: list[Any]) -> Iterator[AIMessageChunk]:
        self.seen.append(list(messages))
        self.streams.append(self._generate())
        return self.streams[-1]

    def _generate(self) -> Iterator[AIMessageChunk]:
        try:
            for piece in self.pieces:
                yield AIMessageChunk(content=piece)
            if self.interrupt:
                raise KeyboardInterrupt
            yield AIMessageChunk(
                content="",
                usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
            )
        finally:
            self.closed += 1


# ------------------------------------------------------------------ turns and memory


def test_replies_go_to_stdout_and_the_history_grows() -> None:
    chat, out, err = run_chat("hi\nmore words here\n")
    assert out == (FAKE_REPLY + "\n") * 2
    assert err == ""  # not a terminal: no prompt, no banner, no spinner
    kinds = [m.type for m in chat.conversation.messages]
    assert kinds == ["human", "ai", "human", "ai"]
    first, second = chat.conversation.messages[1], chat.conversation.messages[3]
    assert isinstance(first, AIMessage) and isinstance(second, AIMessage)
    # The fake model counts the words of every message it is sent: the second question was
    # sent with the whole conversation before it.
    assert first.usage_metadata is not None and second.usage_metadata is not None
    assert first.usage_metadata["input_tokens"] == 1
    assert second.usage_metadata["input_tokens"] == 1 + len(FAKE_REPLY.split()) + 3
    usage = chat.conversation.usage
    assert (
        usage["total_tokens"]
        == first.usage_metadata["total_tokens"] + (second.usage_metadata["total_tokens"])
    )


def test_system_message_starts_the_conversation_and_survives_reset(tmp_path: Path) -> None:
    saved = tmp_path / "chat.json"
    chat, _, err = run_chat(f"hi\n/reset\n/save {saved}\n", "--system", "Be brief.")
    assert "[conversation cleared]" in err
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert [(m["type"], m["content"]) for m in data["messages"]] == [("system", "Be brief.")]
    assert data["usage"] == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert data["model"] == "fake"


def test_blank_lines_are_skipped_and_double_slash_sends_a_slash() -> None:
    chat, out, _ = run_chat("\n   \n//etc/hosts please\n")
    assert out == FAKE_REPLY + "\n"
    assert chat.conversation.messages[0].content == "/etc/hosts please"


def test_exit_ends_the_chat_before_later_lines() -> None:
    chat, out, _ = run_chat("/exit\nhi\n")
    assert out == "" and chat.conversation.messages == []


def test_help_and_unknown_commands_write_to_stderr() -> None:
    _, out, err = run_chat("/help\n/bogus\n/save\n")
    assert out == ""
    assert "/save FILE" in err and "/load FILE" in err and "/reset" in err
    assert "unknown command /bogus" in err
    assert "/save needs a file name" in err


# ------------------------------------------------------------------ Ctrl-C during a reply


def test_ctrl_c_in_the_model_keeps_the_partial_reply_marked_interrupted() -> None:
    model = ScriptedStream(["Once ", "upon "])
    chat, out, err = run_chat("tell me a story\nand then?\n", model=model)
    assert model.closed == 2
    assert out == "Once upon \nOnce upon \n"
    assert err.count("[interrupted]") == 2
    messages = chat.conversation.messages
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]
    assert messages[1].content == "Once upon "
    assert messages[1].response_metadata["interrupted"] is True
    # the follow-up was sent with the interrupted partial reply before it
    assert [m.content for m in model.seen[1]] == ["tell me a story", "Once upon ", "and then?"]


class InterruptingOutput(io.StringIO):
    """stdout on which the Ctrl-C lands while a piece is being written."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def write(self, text: str) -> int:
        self.after -= 1
        if self.after == 0:
            raise KeyboardInterrupt
        return super().write(text)


class RecordingErrors(io.StringIO):
    """stderr that tells when ``[interrupted]`` was shown, relative to the model closing."""

    def __init__(self, model: ScriptedStream) -> None:
        super().__init__()
        self.model = model
        self.closed_when_noted: int | None = None

    def write(self, text: str) -> int:
        if "[interrupted]" in text:
            self.closed_when_noted = self.model.closed
        return super().write(text)


@pytest.mark.parametrize("options", [[], ["--pace"]])
def test_ctrl_c_while_printing_closes_the_model_stream(options: list[str]) -> None:
    model = ScriptedStream(["a ", "b ", "c ", "d ", "e "], interrupt=False)
    chat, out, _ = session("go\n", *options, model=model, stdout=InterruptingOutput(3))
    chat.stderr = err = RecordingErrors(model)
    assert chat.loop() == 0
    # generation was stopped (the stream closed) before the chat went on, not just the printing
    assert err.closed_when_noted == 1
    reply = chat.conversation.messages[1]
    assert reply.response_metadata == {"interrupted": True}
    assert reply.content.startswith("a b ")
    assert "e " not in reply.content
    assert out.getvalue() == reply.content + "\n"  # what was received is shown, then a newline


def test_a_failed_turn_is_reported_and_forgotten() -> None:
    from tokentide.models import FakeChatModel

    model = FakeChatModel(["never"], error_after=0)
    chat, out, err = run_chat("hi\n", model=model)
    assert out == ""
    assert "tokentide chat: error: scripted failure" in err
    assert chat.conversation.messages == []


def test_an_error_after_some_text_keeps_it_marked() -> None:
    from tokentide.models import FakeChatModel

    model = FakeChatModel(["one two three four"], error_after=2)
    chat, out, err = run_chat("hi\n", model=model)
    assert out == "one two \n"
    reply = chat.conversation.messages[1]
    assert reply.content == "one two "
    assert reply.response_metadata["interrupted"] is True
    assert "scripted failure" in reply.response_metadata["error"]


def test_stats_after_each_reply() -> None:
    _, out, err = run_chat("hi\n", "--stats")
    assert out == FAKE_REPLY + "\n"
    assert "time to first token" in err and "tokens/s" in err
    assert "usage: 1 in, 26 out, 27 total" in err


# ------------------------------------------------------------------ save and load


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    saved = tmp_path / "chat.json"
    model = ScriptedStream(["Once ", "upon "])
    chat, _, _ = run_chat(f"tell me\n/save {saved}\n", model=model)
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert [m["type"] for m in data["messages"]] == ["human", "ai"]
    assert data["messages"][1]["response_metadata"] == {"interrupted": True}

    loaded, out, err = run_chat(f"/load {saved}\nnext\n")
    assert "[loaded 2 messages" in err
    messages = loaded.conversation.messages
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]
    assert messages[1].content == "Once upon "
    assert messages[1].response_metadata == {"interrupted": True}
    assert out == FAKE_REPLY + "\n"


def test_load_accepts_openai_style_messages(tmp_path: Path) -> None:
    path = tmp_path / "openai.json"
    path.write_text(
        json.dumps(
            {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}
        ),
        encoding="utf-8",
    )
    conversation = Conversation()
    assert conversation.load(path) is None
    assert conversation.messages == [SystemMessage("S"), HumanMessage("U")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object with a 'messages' list"),
        ('{"messages": {}}', "expected a JSON object with a 'messages' list"),
        ('{"messages": [{"type": "human", "content": "a"}, 3]}', "messages[1]: "),
        ('{"messages": [{"content": "a"}]}', "messages[0]: "),
        ('{"messages": [{"type": "wizard", "content": "a"}]}', "unknown message type"),
        ('{"messages": [], "usage": {"input_tokens": -1}}', "usage.input_tokens"),
        ('{"messages": [], "usage": 5}', "'usage' must be"),
        ('{"messages": [], "model": 5}', "'model' must be a string"),
    ],
)
def test_bad_files_give_a_clear_error_and_change_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    conversation = Conversation()
    conversation.add_question("keep me")
    with pytest.raises(ConversationFileError, match=message.replace("[", r"\[")):
        conversation.load(path)
    assert conversation.messages == [HumanMessage("keep me")]


def test_load_errors_in_the_chat(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    chat, _, err = run_chat(f"hi\n/load {bad}\n/load {tmp_path / 'missing.json'}\n")
    assert f"cannot load {bad}: not a conversation" in err
    assert "missing.json: No such file or directory" in err
    assert len(chat.conversation.messages) == 2  # unchanged


def test_save_to_an_unwritable_place(tmp_path: Path) -> None:
    _, _, err = run_chat(f"/save {tmp_path / 'no' / 'such' / 'dir.json'}\n")
    assert "cannot save to" in err


# ------------------------------------------------------------------ as a process


def chat_process(
    *args: str, stdin: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentide.cli", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=env or ENV,
    )


def test_piped_questions_give_plain_replies_only() -> None:
    result = chat_process("--model", "fake", "--stats", "--markdown", "--pace", stdin="hi\nmore\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (FAKE_REPLY + "\n") * 2
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    assert "⠋" not in result.stderr  # no spinner off a terminal
    assert result.stderr.count("tokens/s") == 2


def test_empty_stdin_ends_cleanly() -> None:
    result = chat_process("--model", "fake", stdin="")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--base-url", "http://127.0.0.1:9/v1"], "--base-url needs --model openai:<name>"),
        (["--max-tokens", "0"], "--max-tokens must be a positive integer"),
        (["--temperature", "-1"], "--temperature must be zero or more"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = chat_process(*args, stdin="hi\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_fake_reply_and_delay_come_from_the_environment() -> None:
    env = {**ENV, "TOKENTIDE_FAKE_REPLY": "# Title\n\nsome *text*", "TOKENTIDE_FAKE_DELAY": "0"}
    result = chat_process("--model", "fake:slow", stdin="hi\n", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "# Title\n\nsome *text*\n"
    bad = chat_process(
        "--model", "fake:slow", stdin="hi\n", env={**env, "TOKENTIDE_FAKE_DELAY": "x"}
    )
    assert bad.returncode == 2 and "TOKENTIDE_FAKE_DELAY" in bad.stderr
