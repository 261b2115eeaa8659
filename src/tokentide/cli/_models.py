"""Model specs of the command line (``--model``): ``local``, ``local:<file.gguf>``, ``fake``,
``fake:slow``, ``openai:<name>``, ``openai-responses:<name>`` (the OpenAI Responses API),
``anthropic:<name>`` (the Anthropic Messages API; ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``).

The fake models reply with a scripted text: `FAKE_REPLY`, or the value of the environment
variable ``TOKENTIDE_FAKE_REPLY``; a value that is a JSON array is a script of replies used in
turn: strings, or objects such as ``{"content": "", "tool_calls": [{"name": "get_weather",
"args": {"city": "Paris"}}]}`` (to try ``tokentide chat --tools`` without a model). ``fake:slow`` waits ``TOKENTIDE_FAKE_DELAY`` seconds (default
0.1) before each word, like a slow server: handy to try interruption, spinners and pacing.

Example::

    model = make_model("local", temperature=0, max_tokens=64)
    model = make_model("openai:my-model", base_url="http://localhost:8000/v1")
    llm = make_completion_model("local")  # LlamaCpp: raw text completion
"""

from __future__ import annotations

import os
from typing import Any

from tokentide.models import BaseChatModel, BaseLLM

__all__ = [
    "FAKE_REPLY",
    "FAKE_SLOW_DELAY",
    "MODEL_SPECS",
    "ModelSpecError",
    "make_completion_model",
    "make_model",
]

MODEL_SPECS = (
    "local, local:<file.gguf>, fake, fake:slow, openai:<model>, openai-responses:<model>, "
    "anthropic:<model>"
)
_REMOTE = ("openai", "openai-responses", "anthropic")
FAKE_SLOW_DELAY = 0.1
FAKE_REPLY = (
    "Soft paws on the windowsill,\n"
    "a cat keeps watch, serene and still.\n"
    "It dreams of birds and sunlit naps,\n"
    "then curls up warm in someone's lap."
)


class ModelSpecError(ValueError):
    """The ``--model`` value names no model this installation can make."""


def make_model(spec: str, **opts: Any) -> BaseChatModel:
    """The chat model for ``spec``; ``opts`` are the model options given on the command line
    (``temperature``, ``max_tokens``, ``seed``, ``base_url``; ``None`` values are left to the
    model). ``base_url`` is for ``openai:``, ``openai-responses:`` and ``anthropic:`` only."""
    kind, _, rest = spec.partition(":")
    options = {key: value for key, value in opts.items() if value is not None}
    if "base_url" in options and kind not in _REMOTE:
        raise ModelSpecError(
            f"--base-url needs --model openai:<name>, openai-responses:<name> or "
            f"anthropic:<name>, not {spec!r}"
        )
    if kind == "local":
        from tokentide.models import ChatLlamaCpp

        return ChatLlamaCpp(rest or None, **options)
    if kind == "fake" and rest in ("", "slow"):
        return _make_fake(slow=rest == "slow", temperature=options.get("temperature"))
    if kind == "openai" and rest:
        return _make_openai(rest, options)
    if kind == "openai-responses" and rest:
        return _make_openai(rest, {**options, "use_responses_api": True})
    if kind == "anthropic" and rest:
        return _make_anthropic(rest, options)
    raise ModelSpecError(f"unknown model {spec!r}; use one of: {MODEL_SPECS}")


def make_completion_model(spec: str, **opts: Any) -> BaseLLM:
    """The text-completion model for ``spec`` (``tokentide ask --completion``): `LlamaCpp` for
    ``local`` / ``local:<file.gguf>``, `OpenAI` (``/v1/completions``) for ``openai:<name>``;
    ``opts`` as for :func:`make_model`."""
    kind, _, rest = spec.partition(":")
    options = {key: value for key, value in opts.items() if value is not None}
    if "base_url" in options and kind != "openai":
        raise ModelSpecError(f"--base-url needs --model openai:<name>, not {spec!r}")
    if kind == "local":
        from tokentide.models import LlamaCpp

        return LlamaCpp(rest or None, **options)
    if kind == "openai" and rest:
        from tokentide.models import OpenAI

        return OpenAI(model=rest, **options)
    raise ModelSpecError(
        f"no completion model for {spec!r}; --completion works with local, local:<file.gguf> "
        "and openai:<model>"
    )


def _make_fake(*, slow: bool, temperature: float | None) -> BaseChatModel:
    from tokentide.models import FakeChatModel

    replies = _fake_script(os.environ.get("TOKENTIDE_FAKE_REPLY") or FAKE_REPLY)
    delay = 0.0
    if slow:
        raw = os.environ.get("TOKENTIDE_FAKE_DELAY", "")
        try:
            delay = float(raw) if raw else FAKE_SLOW_DELAY
        except ValueError:
            raise ModelSpecError(f"TOKENTIDE_FAKE_DELAY must be seconds, got {raw!r}") from None
        if delay < 0:
            raise ModelSpecError(f"TOKENTIDE_FAKE_DELAY must be seconds, got {raw!r}")
    return FakeChatModel(replies, delay=delay, temperature=temperature)


def _fake_script(value: str) -> list[Any]:
    """The replies of ``TOKENTIDE_FAKE_REPLY``: one text, or a JSON array of replies."""
    if not value.lstrip().startswith("["):
        return [value]
    import json

    from tokentide.messages import AIMessage, tool_call

    try:
        items = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ModelSpecError(f"TOKENTIDE_FAKE_REPLY is not a valid JSON array: {exc}") from None
    replies: list[Any] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            replies.append(item)
        elif isinstance(item, dict):
            calls = [
                tool_call(
                    name=str(call["name"]),
                    args=dict(call.get("args") or {}),
                    id=call.get("id") or f"call_{i}_{n}",
                )
                for n, call in enumerate(item.get("tool_calls") or [])
            ]
            replies.append(AIMessage(item.get("content", ""), tool_calls=calls))
        else:
            raise ModelSpecError(f"TOKENTIDE_FAKE_REPLY[{i}] must be a string or an object")
    if not replies:
        raise ModelSpecError("TOKENTIDE_FAKE_REPLY is an empty array")
    return replies


def _make_anthropic(name: str, options: dict[str, Any]) -> BaseChatModel:
    from tokentide.models import ChatAnthropic

    options.pop("seed", None)  # the Messages API has no seed
    return ChatAnthropic(model=name, **options)


def _make_openai(name: str, options: dict[str, Any]) -> BaseChatModel:
    import tokentide.models

    chat_openai = getattr(tokentide.models, "ChatOpenAI", None)
    if chat_openai is None:
        raise ModelSpecError(
            f"--model openai:{name} needs ChatOpenAI, which this version of tokentide does not have"
        )
    model: BaseChatModel = chat_openai(model=name, **options)
    return model
