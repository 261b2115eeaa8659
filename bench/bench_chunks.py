"""What one streamed token's objects cost to build, against a plain slotted object.

A token reaches its consumer as an ``AIMessageChunk`` (a chat model), a ``GenerationChunk``
(a completion model's callback chunk) or, in a graph's ``messages`` mode, the
``(chunk, metadata)`` item. Each should cost little more than the least a Python object can
cost: a class with ``__slots__`` and two fields, built with the same call.

Every case builds one object per token of the same pre-built token list into a list (so the
objects are allocated, kept and freed as a stream's consumer would), with the same call
syntax:

- floor: ``[t for t in tokens]`` (the loop and the list, nothing built);
- plain ``__slots__`` class: ``Plain(content=t, id=i)``, two fields;
- ``AIMessageChunk(content=t, id=i)``;
- ``GenerationChunk(text=t)``;
- the ``messages``-mode item: ``(AIMessageChunk(content=t, id=i), metadata)``, as a graph
  yields it.

The budget rows compare the cost of building (the case minus the floor, on CPU time, which
other processes on a busy machine do not inflate) with the plain class's: at most 2x.

Run::

    python bench/bench_chunks.py            # full size
    python bench/bench_chunks.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    Budget,
    Result,
    check_budget,
    close_event_loop,
    measure,
    parse_args,
    print_table,
    write_jsonl,
)
from bench.bench_core import make_tokens  # noqa: E402

from tokentide.callbacks import GenerationChunk  # noqa: E402
from tokentide.messages import AIMessageChunk  # noqa: E402

BENCH = "chunks"
OURS = "tokentide"
#: Budget: building a token's object costs at most this many times a plain slotted object.
MAX_RATIO = 2.0
MSG_ID = "lc_run--7f1c2b9e-0d4a-4c5e-9a61-3b8f2e6d1c40"
METADATA = {"langgraph_step": 1, "langgraph_node": "model", "ls_provider": "bench"}


class Plain:
    """The reference: a plain class with ``__slots__`` and two fields."""

    __slots__ = ("content", "id")

    def __init__(self, content: str = "", id: str | None = None) -> None:
        self.content = content
        self.id = id


def cases(tokens: list[str]) -> dict[str, Callable[[], Any]]:
    """The named cases, each building one object per token into a list."""
    i, meta = MSG_ID, METADATA

    def floor() -> Any:
        return [t for t in tokens]  # noqa: C416 - the loop itself is the floor

    def plain() -> Any:
        return [Plain(content=t, id=i) for t in tokens]

    def ai_chunk() -> Any:
        return [AIMessageChunk(content=t, id=i) for t in tokens]

    def generation_chunk() -> Any:
        return [GenerationChunk(text=t) for t in tokens]

    def messages_item() -> Any:
        return [(AIMessageChunk(content=t, id=i), meta) for t in tokens]

    return {
        "floor: the loop, nothing built": floor,
        "plain __slots__ class, 2 fields": plain,
        "AIMessageChunk(content=t, id=i)": ai_chunk,
        "GenerationChunk(text=t)": generation_chunk,
        "messages item (AIMessageChunk(...), metadata)": messages_item,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "chunks bench", argv, default_runs=9)
    tokens = make_tokens(args.tokens)
    built = cases(tokens)
    timings = measure(built, runs=args.runs, warmup=args.warmup, per=len(tokens))
    rows: list[Result | Budget] = []
    for name, t in timings.items():
        rows.append(
            Result(
                BENCH,
                name,
                OURS if name.startswith(("AI", "Gen", "messages")) else "reference",
                t.us_per_item * 1000,
                "ns/object",
                args.runs,
                t.spread,
                cpu_value=t.cpu_us_per_item * 1000,
            )
        )
    names = list(built)
    floor, plain = timings[names[0]].cpu_us_per_item, timings[names[1]].cpu_us_per_item
    base = max(plain - floor, 1e-9)
    for name in names[2:]:
        ratio = max(timings[name].cpu_us_per_item - floor, 0.0) / base
        rows.append(
            check_budget(
                BENCH,
                f"{name} vs plain slotted object",
                measured=ratio,
                limit=MAX_RATIO,
                unit="x",
                higher_is_better=False,
                note="CPU time beyond the floor",
            )
        )
    print_table(rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    close_event_loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
