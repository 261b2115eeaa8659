"""Model specs of the command line (``--model``): ``local``, ``local:<file.gguf>``, ``fake``,
``openai:<name>``.

Example::

    model = make_model("local", temperature=0, max_tokens=64)
"""

from __future__ import annotations

from typing import Any

from tokentide.models import BaseChatModel

__all__ = ["FAKE_REPLY", "MODEL_SPECS", "ModelSpecError", "make_model"]

MODEL_SPECS = "local, local:<file.gguf>, fake, openai:<model>"
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
    (``temperature``, ``max_tokens``, ``seed``; ``None`` values are left to the model)."""
    kind, _, rest = spec.partition(":")
    options = {key: value for key, value in opts.items() if value is not None}
    if kind == "local":
        from tokentide.models import ChatLlamaCpp

        return ChatLlamaCpp(rest or None, **options)
    if kind == "fake" and not rest:
        from tokentide.models import FakeChatModel

        return FakeChatModel([FAKE_REPLY], temperature=options.get("temperature"))
    if kind == "openai" and rest:
        return _make_openai(rest, options)
    raise ModelSpecError(f"unknown model {spec!r}; use one of: {MODEL_SPECS}")


def _make_openai(name: str, options: dict[str, Any]) -> BaseChatModel:
    import tokentide.models

    chat_openai = getattr(tokentide.models, "ChatOpenAI", None)
    if chat_openai is None:
        raise ModelSpecError(
            f"--model openai:{name} needs ChatOpenAI, which this version of tokentide does not have"
        )
    model: BaseChatModel = chat_openai(model=name, **options)
    return model
