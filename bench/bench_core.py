"""Core streaming paths, side by side with langchain-core, in one process.

Every case consumes the same pre-built list of token strings (20,000 by default) and reports the
median µs per token (or per call) over several interleaved runs, after a warm-up.

What each side runs (a minimal provider written the same way for both libraries, so that the
frameworks are compared, not their fakes):

- ours: ``FakeChatModel(responses=[tokens])`` (the shipped scripted model: one
  ``AIMessageChunk(content=t, id=...)`` per token, then one empty chunk with usage and
  ``finish_reason``) and ``TokenListModel``, a 10-line ``BaseChatModel`` subclass whose
  ``_stream``/``_astream`` yield ``AIMessageChunk(content=t)`` per token and nothing else;
- langchain-core: ``LCTokenListModel``, a ``langchain_core`` ``BaseChatModel`` subclass whose
  ``_stream``/``_astream`` yield ``ChatGenerationChunk(message=AIMessageChunk(content=t))`` per
  token and nothing else (its ``stream``/``astream`` report every chunk to the callback
  manager themselves and add a last empty chunk). ``GenericFakeChatModel`` is not used: it
  re-splits its message on whitespace instead of streaming the given chunks.
- floors: a bare sync and a bare async generator over the same list.

Run::

    python bench/bench_core.py            # full size
    python bench/bench_core.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    Budget,
    Result,
    Timing,
    check_budget,
    close_event_loop,
    measure,
    optional_import,
    parse_args,
    peak_memory,
    print_table,
    write_jsonl,
)

from tokentide.cli._bench_cases import (  # noqa: E402  (shared with `tokentide bench --check`)
    TokenListModel,
    make_lc_model,
    make_tokens,
)
from tokentide.messages import AIMessageChunk  # noqa: E402
from tokentide.models import BaseChatModel, FakeChatModel  # noqa: E402

BENCH = "core"
OURS = "tokentide"
LC = "langchain-core"
PROMPT_INPUT = {"topic": "the sea"}

# Budgets (docs: DESIGN.md "Performance budgets").
ASTREAM_OVER_FLOOR_US = 1.0
ASTREAM_SPEEDUP = 15.0
CHAIN_EVENTS_SPEEDUP = 30.0
MEMORY_BYTES_PER_TOKEN = 100.0


# ---------------------------------------------------------------------------- providers
# ``make_tokens``, ``TokenListModel`` and ``make_lc_model`` live in the package, shared with
# ``tokentide bench --check`` (imported above).


class SyncOnlyModel(TokenListModel):
    """The minimal provider without ``_astream``: ``astream()`` runs its ``_stream`` in a worker
    thread and hands the chunks to the event loop (``sync_to_async_stream``)."""

    _astream = BaseChatModel._astream  # type: ignore[assignment]


def make_lc_sync_only(lc_model: Any) -> Any:
    """langchain-core's minimal provider without ``_astream`` (its ``astream()`` then calls
    ``next`` on the sync iterator in the executor, once per chunk)."""
    if lc_model is None:
        return None
    from langchain_core.language_models import BaseChatModel as LCBaseChatModel

    class LCSyncOnly(type(lc_model)):  # type: ignore[misc]
        _astream = LCBaseChatModel._astream

    return LCSyncOnly(tokens=lc_model.tokens)


# ---------------------------------------------------------------------------- consumers


def consume(make: Callable[[], Iterator[Any]]) -> Callable[[], None]:
    def run() -> None:
        for _ in make():
            pass

    return run


def aconsume(make: Callable[[], AsyncIterator[Any]]) -> Callable[[], Any]:
    async def run() -> None:
        async for _ in make():
            pass

    return run


def calls(make: Callable[[], Iterator[Any]], n: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(n):
            for _ in make():
                pass

    return run


def acalls(make: Callable[[], AsyncIterator[Any]], n: int) -> Callable[[], Any]:
    async def run() -> None:
        for _ in range(n):
            async for _ in make():
                pass

    return run


def sync_floor(tokens: list[str]) -> Iterator[str]:
    yield from tokens


async def async_floor(tokens: list[str]) -> AsyncIterator[str]:
    for t in tokens:
        yield t


async def async_floor_chunks(tokens: list[str]) -> AsyncIterator[AIMessageChunk]:
    for t in tokens:
        yield AIMessageChunk(content=t)


# ---------------------------------------------------------------------------- chains


def make_chain(model: Any) -> Any:
    """``prompt | model | StrOutputParser()`` with tokentide (``None`` until prompts exist)."""
    prompts = optional_import("tokentide.prompts")
    parsers = optional_import("tokentide.output_parsers")
    if prompts is None or parsers is None:
        return None
    prompt = prompts.ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")])
    return prompt | model | parsers.StrOutputParser()


def make_lc_chain(model: Any) -> Any:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")])
    return prompt | model | StrOutputParser()


# ---------------------------------------------------------------------------- report


class Report:
    def __init__(self, runs: int) -> None:
        self.rows: list[Result | Budget] = []
        self.runs = runs

    def timing(self, case: str, impl: str, t: Timing, unit: str, note: str = "") -> float:
        value = t.us_per_item
        self.rows.append(
            Result(
                BENCH,
                case,
                impl,
                value,
                unit,
                self.runs,
                t.spread,
                note,
                cpu_value=t.cpu_us_per_item,
            )
        )
        return value

    def compare(self, case: str, timings: dict[str, Timing], unit: str = "us/token") -> None:
        """Rows for every impl of one case, then the ratio langchain-core / ours."""
        values = {impl: self.timing(case, impl, t, unit) for impl, t in timings.items()}
        if LC in values and OURS in values:
            ratio = values[LC] / values[OURS]
            cpu_ratio = timings[LC].cpu_us_per_item / timings[OURS].cpu_us_per_item
            self.rows.append(
                Result(
                    BENCH,
                    case,
                    f"{LC} / {OURS}",
                    ratio,
                    "x",
                    self.runs,
                    None,
                    f"{OURS} is {ratio:.1f}x faster",
                    cpu_value=cpu_ratio,
                )
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "core bench", argv)
    n = args.tokens
    per_call = 20 if args.smoke else 2_000
    tokens = make_tokens(n)
    text_bytes = sum(len(t) for t in tokens)
    opts = {"runs": args.runs, "warmup": args.warmup}
    report = Report(args.runs)
    lc_model = make_lc_model(tokens)
    if lc_model is None:
        print(f"{LC} is not installed: its cases are skipped", file=sys.stderr)

    fake = FakeChatModel(responses=[tokens])
    minimal = TokenListModel(tokens)

    def cases(
        ours: Callable[[], Any], lc: Callable[[], Any] | None, **extra: Callable[[], Any]
    ) -> dict[str, Callable[[], Any]]:
        out = {OURS: ours, **extra}
        if lc is not None and lc_model is not None:
            out[LC] = lc
        return out

    # Floors.
    floors = measure(
        {
            "sync generator": consume(lambda: sync_floor(tokens)),
            "async generator": aconsume(lambda: async_floor(tokens)),
            "async generator of AIMessageChunk": aconsume(lambda: async_floor_chunks(tokens)),
        },
        per=n,
        **opts,
    )
    for name, t in floors.items():
        report.timing(f"floor: {name}", "python", t, "us/token")
    floor_async = floors["async generator"].us_per_item

    # model.stream() / model.astream()
    report.compare(
        "model.stream()",
        measure(
            cases(
                consume(lambda: fake.stream("hi")),
                consume(lambda: lc_model.stream("hi")),
                **{f"{OURS} (minimal provider)": consume(lambda: minimal.stream("hi"))},
            ),
            per=n,
            **opts,
        ),
    )
    astream = measure(
        cases(
            aconsume(lambda: fake.astream("hi")),
            aconsume(lambda: lc_model.astream("hi")),
            **{f"{OURS} (minimal provider)": aconsume(lambda: minimal.astream("hi"))},
        ),
        per=n,
        **opts,
    )
    report.compare("model.astream()", astream)

    # model.astream() of a provider that only has a sync _stream: the thread hand-off
    sync_only, lc_sync_only = SyncOnlyModel(tokens), make_lc_sync_only(lc_model)
    report.compare(
        "model.astream(), sync-only provider (thread hand-off)",
        measure(
            cases(
                aconsume(lambda: sync_only.astream("hi")),
                aconsume(lambda: lc_sync_only.astream("hi")),
            ),
            per=n,
            **opts,
        ),
    )

    # model.astream_events(version="v2")
    report.compare(
        'model.astream_events("v2")',
        measure(
            cases(
                aconsume(lambda: fake.astream_events("hi", version="v2")),
                aconsume(lambda: lc_model.astream_events("hi", version="v2")),
            ),
            per=n,
            **opts,
        ),
    )

    # prompt | model | StrOutputParser()
    chain = make_chain(fake)
    chain_events: dict[str, Timing] | None = None
    if chain is None:
        print(
            "tokentide.prompts / tokentide.output_parsers not available yet: chain cases skipped",
            file=sys.stderr,
        )
    else:
        lc_chain = make_lc_chain(lc_model) if lc_model is not None else None
        report.compare(
            "chain.stream()",
            measure(
                cases(
                    consume(lambda: chain.stream(PROMPT_INPUT)),
                    consume(lambda: lc_chain.stream(PROMPT_INPUT)),
                ),
                per=n,
                **opts,
            ),
        )
        chain_events = measure(
            cases(
                aconsume(lambda: chain.astream_events(PROMPT_INPUT, version="v2")),
                aconsume(lambda: lc_chain.astream_events(PROMPT_INPUT, version="v2")),
            ),
            per=n,
            **opts,
        )
        report.compare('chain.astream_events("v2")', chain_events)

    # Fixed cost per call: a 1-token stream, many calls.
    one = ["hello"]
    fake1 = FakeChatModel(responses=[one])
    lc1 = make_lc_model(one)
    report.compare(
        "1-token model.stream(), per call",
        measure(
            cases(
                calls(lambda: fake1.stream("hi"), per_call),
                calls(lambda: lc1.stream("hi"), per_call),
            ),
            per=per_call,
            **opts,
        ),
        unit="us/call",
    )
    report.compare(
        "1-token model.astream(), per call",
        measure(
            cases(
                acalls(lambda: fake1.astream("hi"), per_call),
                acalls(lambda: lc1.astream("hi"), per_call),
            ),
            per=per_call,
            **opts,
        ),
        unit="us/call",
    )

    # Peak memory while consuming the stream (astream): in all, and beyond the text itself.
    memory: dict[str, float] = {}
    mem_cases = cases(
        aconsume(lambda: fake.astream("hi")),
        aconsume(lambda: lc_model.astream("hi")),
        **{"python (async generator)": aconsume(lambda: async_floor(tokens))},
    )
    for impl, fn in mem_cases.items():
        peak = peak_memory(fn)
        report.rows.append(
            Result(
                BENCH,
                "model.astream() peak memory",
                impl,
                peak / n,
                "B/token",
                1,
                None,
                f"peak {peak:,} B",
            )
        )
        if impl in (OURS, LC):
            memory[impl] = (peak - text_bytes) / n
            report.rows.append(
                Result(
                    BENCH,
                    "model.astream() peak memory beyond text",
                    impl,
                    memory[impl],
                    "B/token",
                    1,
                    None,
                    f"text {text_bytes:,} B",
                )
            )
    gc.collect()

    # Budgets: judged on the wall-clock medians; the CPU-time figure is given beside them.
    ours_astream, ours_cpu = astream[OURS].us_per_item, astream[OURS].cpu_us_per_item
    floor_cpu = floors["async generator"].cpu_us_per_item
    report.rows.append(
        check_budget(
            BENCH,
            "model.astream() over the bare async generator",
            measured=ours_astream - floor_async,
            limit=ASTREAM_OVER_FLOOR_US,
            unit="us/token",
            higher_is_better=False,
            note=f"on CPU time: {ours_cpu - floor_cpu:.3g}",
        )
    )
    if LC in astream:
        report.rows.append(
            check_budget(
                BENCH,
                f"model.astream() speed-up over {LC}",
                measured=astream[LC].us_per_item / ours_astream,
                limit=ASTREAM_SPEEDUP,
                unit="x",
                higher_is_better=True,
                note=f"on CPU time: {astream[LC].cpu_us_per_item / ours_cpu:.3g}",
            )
        )
    if chain_events is not None and LC in chain_events:
        lc_t, ours_t = chain_events[LC], chain_events[OURS]
        report.rows.append(
            check_budget(
                BENCH,
                f'chain.astream_events("v2") speed-up over {LC}',
                measured=lc_t.us_per_item / ours_t.us_per_item,
                limit=CHAIN_EVENTS_SPEEDUP,
                unit="x",
                higher_is_better=True,
                note=f"on CPU time: {lc_t.cpu_us_per_item / ours_t.cpu_us_per_item:.3g}",
            )
        )
    report.rows.append(
        check_budget(
            BENCH,
            "model.astream() peak memory beyond text",
            measured=memory[OURS],
            limit=MEMORY_BYTES_PER_TOKEN,
            unit="B/token",
            higher_is_better=False,
        )
    )

    print(
        f"bench_core: {n:,} tokens ({text_bytes:,} chars), {args.runs} runs + "
        f"{args.warmup} warm-up, median per token; 1-token calls: {per_call:,} per run"
    )
    print_table(report.rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, report.rows)
    close_event_loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
