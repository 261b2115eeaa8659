"""The fake models the API tests serve (no tests here)."""

from __future__ import annotations

from typing import Any

from tokentide.models import FakeChatModel

__all__ = ["POEM", "poem_models"]

POEM = "Soft paws on the windowsill, a cat keeps watch, serene and still."


def poem_models(name: str, tooly: Any, *, slow_delay: float = 0.2, **more: Any) -> dict[str, Any]:
    """``name`` (replies ``POEM``), ``slow`` (the poem, ``slow_delay`` seconds a chunk),
    ``broken`` (fails after 3 chunks), ``tooly`` (the model given, replying a tool call), and
    the ``more`` models by name."""
    return {
        **more,
        name: FakeChatModel([POEM]),
        "slow": FakeChatModel([POEM], delay=slow_delay),
        "broken": FakeChatModel([POEM], error_after=3),
        "tooly": tooly,
    }
