"""tokentide: stream LLM output token by token, from the model to the reader."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
