"""`LlamaCppModel`: what the local chat and completion models share.

Their constructor (options, defaults and checks), the loaded runtime, per-call sampling options
and the worker thread that lets an async consumer drive a generation (`thread_stream`).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from typing import Any, ClassVar, TypeVar

from tokentide.runtime import stream_from_thread

from ._llama_runtime import (
    LlamaRuntime,
    LoadOptions,
    SamplingOptions,
    _import_llama_cpp,
    default_model_path,
    load_runtime,
)
from ._model_base import LanguageModel

__all__ = ["LlamaCppModel", "thread_stream"]

T = TypeVar("T")
Output = TypeVar("Output")

_SAMPLING_KEYS = frozenset(f.name for f in dataclasses.fields(SamplingOptions))
_AHEAD = 1  # items an async stream computes ahead of its consumer


class LlamaCppModel(LanguageModel[Output]):
    """Base of `ChatLlamaCpp` and `LlamaCpp`: a GGUF file run in-process with llama.cpp.

    ``option_aliases`` maps other names of a per-call sampling option to its own name
    (``temp`` -> ``temperature``); a name in neither is refused with ``TypeError``.
    """

    provider: ClassVar[str] = "llamacpp"
    option_aliases: ClassVar[Mapping[str, str]] = {}
    default_min_tokens: ClassVar[int] = 0
    """``min_tokens`` when none is given (each model class says why it chose its own)."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        temperature: float = 0.8,
        max_tokens: int | None = 512,
        min_tokens: int | None = None,
        seed: int | None = None,
        n_ctx: int = 2048,
        repeat_penalty: float = 1.1,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        n_threads: int | None = None,
        stop: list[str] | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        verbose: bool = False,
        model: str | None = None,
        model_name: str | None = None,
        callbacks: Any = None,
        streaming: bool = False,
    ) -> None:
        super().__init__(
            name=name, tags=tags, metadata=metadata, callbacks=callbacks, streaming=streaming
        )
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens}")
        if min_tokens is None:
            min_tokens = self.default_min_tokens
        _check_min_tokens(min_tokens)
        if n_ctx < 16:
            raise ValueError(f"n_ctx must be at least 16, got {n_ctx}")
        path = os.fspath(model_path) if model_path is not None else default_model_path()
        _import_llama_cpp()  # a missing extra is reported here, not at the first token
        self.model_path = path
        self.model_name = os.path.splitext(os.path.basename(path))[0]
        self.requested_model = model or model_name
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.sampling = SamplingOptions(
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            min_p=min_p,
            repeat_penalty=repeat_penalty,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            seed=seed,
            max_tokens=max_tokens,
            min_tokens=min_tokens,
        )
        self.min_tokens = min_tokens
        self.stop = list(stop) if stop else None
        self.load_options = LoadOptions(path, n_ctx=n_ctx, n_threads=n_threads, verbose=verbose)

    @property
    def runtime(self) -> LlamaRuntime:
        """The loaded model (loaded on first use, shared by the process)."""
        return load_runtime(self.load_options)

    @property
    def tokens_generated(self) -> int:
        """Tokens sampled so far by the loaded model behind this instance (a counter shared by
        instances with the same load options): lets a caller check that a stopped stream
        stopped generating."""
        return self.runtime.tokens_generated

    def _options(self, kwargs: dict[str, Any]) -> SamplingOptions:
        """The sampling options of one call: the model's with ``kwargs`` (consumed) applied."""
        for alias, key in self.option_aliases.items():
            if key not in kwargs and alias in kwargs:
                kwargs[key] = kwargs.pop(alias)
        unknown = set(kwargs) - _SAMPLING_KEYS
        if unknown:
            raise TypeError(f"unknown generation options: {', '.join(sorted(unknown))}")
        if "min_tokens" in kwargs:
            _check_min_tokens(kwargs["min_tokens"])
        return dataclasses.replace(self.sampling, **kwargs) if kwargs else self.sampling


def _check_min_tokens(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"min_tokens must be an integer >= 0, got {value!r}")


def thread_stream(
    make: Callable[[threading.Event], Generator[T, None, None]],
) -> AsyncIterator[T]:
    """Run the generator ``make(cancel)`` in a worker thread, at most one item ahead of the
    async consumer; when the consumer leaves, ``cancel`` is set and the generator closed, so
    a llama.cpp generation stops before its next token."""
    return stream_from_thread(make, _AHEAD)
