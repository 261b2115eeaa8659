"""Notebook display: one output area updated in place, throttled, the last update complete."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _kernel import new_notebook

from tokentide.render import adisplay_stream, display_stream, in_notebook


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeDisplay:
    """Records ``display(..., display_id=True)`` and the handle's ``update`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def __call__(self, obj: Any, **kwargs: Any) -> FakeDisplay:
        assert kwargs.pop("display_id") is True
        self.calls.append(("display", obj, kwargs))
        return self

    def update(self, obj: Any, **kwargs: Any) -> None:
        self.calls.append(("update", obj, kwargs))


class Chunk:
    def __init__(self, content: str) -> None:
        self.content = content

    def __add__(self, other: Chunk) -> Chunk:
        return Chunk(self.content + other.content)


def timed(clock: FakeClock, n: int, duration: float) -> Iterator[str]:
    for i in range(n):
        clock.now = duration * i / n
        yield f"t{i} "


@pytest.mark.parametrize("sync", [True, False])
async def test_updates_are_throttled_and_the_last_one_is_complete(sync: bool) -> None:
    clock, display = FakeClock(), FakeDisplay()
    if sync:
        result = display_stream(timed(clock, 1000, 1.0), clock=clock, display=display)
    else:

        async def agen() -> AsyncIterator[str]:
            for item in timed(clock, 1000, 1.0):
                yield item

        result = await adisplay_stream(agen(), clock=clock, display=display)
    full = "".join(f"t{i} " for i in range(1000))
    assert result == full
    kinds = [kind for kind, _, _ in display.calls]
    assert kinds[0] == "display" and set(kinds[1:]) == {"update"}
    assert len(display.calls) <= 21
    assert display.calls[-1][1].data == full  # an IPython Markdown object


def test_plain_text_bundles_and_merged_chunks() -> None:
    clock, display = FakeClock(), FakeDisplay()
    result = display_stream(
        [Chunk("a"), Chunk("b"), Chunk("c")],
        markdown=False,
        clock=clock,
        display=display,
    )
    assert isinstance(result, Chunk) and result.content == "abc"
    assert display.calls[0] == ("display", {"text/plain": "a"}, {"raw": True})
    assert display.calls[-1] == ("update", {"text/plain": "abc"}, {"raw": True})


def test_outside_a_notebook_text_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert not in_notebook()
    assert display_stream(["Hello", " ", "world"]) == "Hello world"
    assert capsys.readouterr().out == "Hello world\n"


def test_unmergeable_items_fall_back_to_text() -> None:
    display = FakeDisplay()
    assert display_stream([Chunk("x"), "y"], display=display) == "xy"
    assert display_stream([], display=display) == ""


NOTEBOOK_CELL = textwrap.dedent(
    """
    import time
    from tokentide.render import display_stream

    def tokens():
        for word in "Streaming **Markdown** into one output area, token by token.".split(" "):
            time.sleep(0.01)
            yield word + " "

    message = display_stream(tokens(), max_rate=20.0)
    assert message == "Streaming **Markdown** into one output area, token by token. "
    """
)


def test_real_kernel_shows_one_output_updated_in_place() -> None:
    notebook, nbclient = new_notebook(NOTEBOOK_CELL)
    client = nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3")
    client.execute()
    outputs = notebook.cells[0].outputs
    assert len(outputs) == 1, outputs
    assert outputs[0].output_type == "display_data"
    expected = "Streaming **Markdown** into one output area, token by token. "
    assert outputs[0].data["text/markdown"] == expected
