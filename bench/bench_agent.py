"""A tool-calling agent streamed in ``messages`` mode, side by side with LangGraph's.

The agent: ``create_react_agent(model, [ping])`` (tokentide's and LangGraph's), one trivial
tool, a scripted model whose four turns each stream an answer of N tokens (20,000 split in
four by default; 2,000 a turn in the issue's case with ``--tokens 8000``); the first three
turns end with a call to ``ping`` (three tool rounds), the fourth answers. Both libraries get
the same token list from a minimal provider (one chunk per token, the tool call as one chunk).

Cases:

- per-token cost: ``agent.astream(stream_mode="messages")`` / ``agent.stream(...)`` over the
  whole run, divided by the tokens streamed;
- fixed cost per round: the same agent with one-token turns, ``invoke`` 50 times per timed
  sample, the time divided by the tool rounds run (three per run: model node + tool node +
  routing);
- the same two with ``create_agent`` against LangChain's ``create_agent``.

Run::

    python bench/bench_agent.py            # full size
    python bench/bench_agent.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
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
    optional_import,
    parse_args,
    print_table,
    write_jsonl,
)
from bench.bench_core import make_tokens  # noqa: E402

import tokentide.agents as tt_agents  # noqa: E402
import tokentide.prebuilt as tt_prebuilt  # noqa: E402
import tokentide.tools as tt_tools  # noqa: E402
from tokentide.messages import AIMessageChunk, BaseMessage  # noqa: E402
from tokentide.models import BaseChatModel  # noqa: E402

BENCH = "agent"
OURS = "tokentide"
THEIRS = "langgraph"
ROUNDS = 3
SPEEDUP = 15.0
INPUT = {"messages": [("user", "ping three times")]}


def _call(turn: int) -> dict[str, Any]:
    return {"name": "ping", "args": json.dumps({"n": turn}), "id": f"call_{turn}", "index": 0}


class ScriptedAgentModel(BaseChatModel):
    """tokentide provider: each turn streams its tokens, then (turns 1-3) a ``ping`` call."""

    provider = "bench"

    def __init__(self, tokens: list[str]) -> None:
        super().__init__()
        self.tokens = tokens
        self.turn = 0

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _next(self) -> int:
        self.turn += 1
        return self.turn % (ROUNDS + 1)

    def _stream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        turn = self._next()
        for t in self.tokens:
            yield AIMessageChunk(content=t)
        if turn:
            yield AIMessageChunk(content="", tool_call_chunks=[_call(turn)])  # type: ignore[list-item]

    async def _astream(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        for chunk in self._stream(messages):
            yield chunk


def make_lc_agent_model(tokens: list[str]) -> Any:
    """The same provider for langchain-core (``None`` if it is not installed)."""
    if optional_import("langchain_core") is None:
        return None
    from langchain_core.language_models.chat_models import (
        BaseChatModel as LCBaseChatModel,
    )
    from langchain_core.language_models.chat_models import generate_from_stream
    from langchain_core.messages import AIMessageChunk as LCChunk
    from langchain_core.outputs import ChatGenerationChunk

    class LCScriptedAgentModel(LCBaseChatModel):
        tokens: list[str]
        turn: int = 0

        @property
        def _llm_type(self) -> str:
            return "bench"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

        def _stream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Iterator[Any]:
            self.turn += 1
            turn = self.turn % (ROUNDS + 1)
            for t in self.tokens:
                chunk = ChatGenerationChunk(message=LCChunk(content=t))
                if run_manager is not None:
                    run_manager.on_llm_new_token(t, chunk=chunk)
                yield chunk
            if turn:
                yield ChatGenerationChunk(
                    message=LCChunk(content="", tool_call_chunks=[_call(turn)])
                )

        async def _astream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> AsyncIterator[Any]:
            self.turn += 1
            turn = self.turn % (ROUNDS + 1)
            for t in self.tokens:
                chunk = ChatGenerationChunk(message=LCChunk(content=t))
                if run_manager is not None:
                    await run_manager.on_llm_new_token(t, chunk=chunk)
                yield chunk
            if turn:
                yield ChatGenerationChunk(
                    message=LCChunk(content="", tool_call_chunks=[_call(turn)])
                )

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Any:
            return generate_from_stream(self._stream(messages, stop, run_manager))

    return LCScriptedAgentModel(tokens=tokens)


def ping_tool(tools: Any) -> Any:
    @tools.tool
    def ping(n: int) -> str:
        """Answer pong."""
        return f"pong {n}"

    return ping


def agents(tokens: list[str], kind: str) -> dict[str, Any]:
    """The agent of ``kind`` ("react" or "create_agent") for each installed library."""
    out: dict[str, Any] = {}
    model = ScriptedAgentModel(tokens)
    if kind == "react":
        out[OURS] = tt_prebuilt.create_react_agent(model, [ping_tool(tt_tools)])
    else:
        out[OURS] = tt_agents.create_agent(model, [ping_tool(tt_tools)])
    lc_model = make_lc_agent_model(tokens)
    lc_tools = optional_import("langchain_core.tools")
    if lc_model is None or lc_tools is None:
        return out
    if kind == "react":
        prebuilt = optional_import("langgraph.prebuilt")
        if prebuilt is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated in favour of create_agent
                out[THEIRS] = prebuilt.create_react_agent(lc_model, [ping_tool(lc_tools)])
    else:
        lc_agents = optional_import("langchain.agents")
        if lc_agents is not None:
            out[THEIRS] = lc_agents.create_agent(lc_model, [ping_tool(lc_tools)])
    return out


def astream_messages(agent: Any) -> Callable[[], Any]:
    async def run() -> None:
        async for _ in agent.astream(INPUT, stream_mode="messages"):
            pass

    return run


def stream_messages(agent: Any) -> Callable[[], None]:
    def run() -> None:
        for _ in agent.stream(INPUT, stream_mode="messages"):
            pass

    return run


#: Runs of the agent per timed sample in the fixed-cost case (as ``bench_core``'s 1-token
#: calls: the steady cost of a round, not one cold call after a garbage collection).
INVOKES = 50


def invoke(agent: Any, n: int = INVOKES) -> Callable[[], None]:
    def run() -> None:
        for _ in range(n):
            agent.invoke(INPUT)

    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "agent bench", argv)
    per_turn = max(1, args.tokens // (ROUNDS + 1))
    tokens = make_tokens(per_turn)
    streamed = per_turn * (ROUNDS + 1)
    opts = {"runs": args.runs, "warmup": args.warmup}
    rows: list[Result | Budget] = []
    speedups: dict[str, float] = {}
    for kind in ("react", "create_agent"):
        theirs_name = THEIRS if kind == "react" else "langchain"
        cases: list[tuple[str, Callable[[Any], Callable[[], Any]], list[str], int, str]] = [
            (f"{kind}: astream messages", astream_messages, tokens, streamed, "us/token"),
            (f"{kind}: stream messages", stream_messages, tokens, streamed, "us/token"),
            (
                f"{kind}: invoke, 1-token turns",
                invoke,
                make_tokens(1),
                ROUNDS * INVOKES,
                "us/round",
            ),
        ]
        for case, make, toks, per, unit in cases:
            built = agents(toks, kind)
            timings = measure({name: make(a) for name, a in built.items()}, per=per, **opts)
            for name, t in timings.items():
                impl = name if name == OURS else theirs_name
                rows.append(
                    Result(
                        BENCH,
                        case,
                        impl,
                        t.us_per_item,
                        unit,
                        args.runs,
                        t.spread,
                        cpu_value=t.cpu_us_per_item,
                    )
                )
            if THEIRS in timings:
                ratio = timings[THEIRS].us_per_item / timings[OURS].us_per_item
                speedups[case] = ratio
                rows.append(
                    Result(
                        BENCH,
                        case,
                        f"{theirs_name} / {OURS}",
                        ratio,
                        "x",
                        args.runs,
                        None,
                        f"{OURS} is {ratio:.1f}x faster",
                    )
                )
                rows.append(
                    check_budget(
                        BENCH,
                        f"{case}: speedup",
                        measured=ratio,
                        limit=SPEEDUP,
                        unit="x",
                        higher_is_better=True,
                    )
                )
    print_table(rows)
    print(
        json.dumps(
            {
                "bench": BENCH,
                "tokens_per_turn": per_turn,
                "speedups": {k: round(v, 1) for k, v in speedups.items()},
            }
        )
    )
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    close_event_loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
