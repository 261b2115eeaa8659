"""The same chains built from langchain-core and from tokentide give the same event stream.

Compared: the sequence of ``(event, name)`` pairs, the data keys of each event, the tags and
the depth of ``parent_ids``. Known, intentional differences (asserted below, nothing else):

1. ``FakeChatModel`` ends every reply with one more chunk of empty text carrying the token usage
   and finish reason (as OpenAI-compatible providers do); LangChain's ``GenericFakeChatModel``
   does not. Each step that streams therefore reports one more stream event.
2. The first step of a sequence, and the branches of a parallel map, get their input whole, so
   their start event carries ``input`` (LangChain leaves it out for runnables that can
   transform a stream, such as lambdas, and reports it at the end only).
3. Events of runs that execute concurrently (the branches of a parallel map and the map
   itself) may interleave in another order; each run's own events keep their order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

lc_fake = pytest.importorskip(
    "langchain_core.language_models.fake_chat_models",
    reason="langchain-core is not installed (pip install langchain-core): differential tests",
)
from langchain_core import output_parsers as lc_parsers  # noqa: E402
from langchain_core import prompts as lc_prompts  # noqa: E402
from langchain_core import runnables as lc_runnables  # noqa: E402
from langchain_core.messages import AIMessage as LcAIMessage  # noqa: E402

from tokentide import output_parsers, prompts, runnables  # noqa: E402
from tokentide.models import FakeChatModel  # noqa: E402

TEXT = "hello big world"
TOKENS = ["hello", " ", "big", " ", "world"]  # how GenericFakeChatModel splits TEXT


class Kit:
    """The same building blocks from either library."""

    def __init__(self, lib: str) -> None:
        self.lib = lib
        self.prompts = lc_prompts if lib == "lc" else prompts
        self.parsers = lc_parsers if lib == "lc" else output_parsers
        self.runnables = lc_runnables if lib == "lc" else runnables

    def model(self, text: str = TEXT) -> Any:
        if self.lib == "lc":
            return lc_fake.GenericFakeChatModel(messages=iter([LcAIMessage(content=text)]))
        tokens = TOKENS if text == TEXT else [text[i : i + 4] for i in range(0, len(text), 4)]
        return FakeChatModel(responses=[tokens], name="GenericFakeChatModel")


def summary(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["event"], e["name"], tuple(sorted(e["data"])), tuple(e["tags"]), len(e["parent_ids"]))
        for e in events
    ]


async def collect(runnable: Any, input: Any) -> list[dict[str, Any]]:
    return [e async for e in runnable.astream_events(input, version="v2")]


def _empty(chunk: Any) -> bool:
    if isinstance(chunk, dict):
        return all(_empty(v) for v in chunk.values())
    return bool(getattr(chunk, "content", chunk) == "")


def drop_final_empty_chunk(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Known difference 1: remove the stream events caused by the final empty usage chunk
    (the replies compared here have no other empty chunk)."""
    return [
        e for e in events if not (e["event"].endswith("_stream") and _empty(e["data"]["chunk"]))
    ]


def without_start_input(events: list[tuple[Any, ...]], names: set[str]) -> list[tuple[Any, ...]]:
    """Known difference 2: runs of ``names`` report their input at start in tokentide."""
    return [
        (ev, name, () if ev.endswith("_start") and name in names else keys, tags, depth)
        for ev, name, keys, tags, depth in events
    ]


def per_run(events: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    """Known difference 3: compare each run's own events, not their interleaving."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for event in events:
        out.setdefault(event[1], []).append(event)
    return out


async def compare(
    build: Any,
    input: Any,
    whole_input_runs: set[str] | None = None,
    concurrent: bool = False,
) -> None:
    ours = await collect(build(Kit("tt")), input)
    theirs = await collect(build(Kit("lc")), input)
    extra = len(ours) - len(drop_final_empty_chunk(ours))
    ours_s = summary(drop_final_empty_chunk(ours))
    theirs_s = summary(theirs)
    if whole_input_runs:
        ours_s = without_start_input(ours_s, whole_input_runs)
        theirs_s = without_start_input(theirs_s, whole_input_runs)
    if concurrent:
        assert per_run(ours_s) == per_run(theirs_s)
    else:
        assert ours_s == theirs_s
    n_models = sum(1 for e in ours if e["event"] == "on_chat_model_start")
    assert (extra > 0) == (n_models > 0)  # difference 1 is there when a model ran


async def test_prompt_model_str_parser() -> None:
    def build(k: Kit) -> Any:
        prompt = k.prompts.ChatPromptTemplate.from_template("Tell me a joke about {topic}")
        return prompt | k.model() | k.parsers.StrOutputParser()

    await compare(build, {"topic": "cats"})


async def test_model_alone() -> None:
    await compare(lambda k: k.model(), "hi")


async def test_chat_prompt_with_history_and_json_parser() -> None:
    doc = '{"setup": "Why?", "punchline": "Because."}'

    def build(k: Kit) -> Any:
        prompt = k.prompts.ChatPromptTemplate.from_messages(
            [("system", "You are {role}"), ("placeholder", "{history}"), ("human", "{q}")]
        )
        return prompt | k.model(doc) | k.parsers.JsonOutputParser()

    ours = await collect(build(Kit("tt")), {"role": "r", "q": "q", "history": [("human", "x")]})
    theirs = await collect(build(Kit("lc")), {"role": "r", "q": "q", "history": [("human", "x")]})

    # Token boundaries differ, so compare the run structure and the final values.
    def runs(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(e["event"], e["name"]) for e in events if not e["event"].endswith("_stream")]

    assert runs(ours) == runs(theirs)
    end = [e for e in ours if e["event"] == "on_parser_end"][0]["data"]
    lc_end = [e for e in theirs if e["event"] == "on_parser_end"][0]["data"]
    assert end["output"] == lc_end["output"] == {"setup": "Why?", "punchline": "Because."}
    assert sorted(end) == sorted(lc_end)


async def test_lambda_steps_and_generator() -> None:
    async def shout(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    def build(k: Kit) -> Any:
        first = k.runnables.RunnableLambda(lambda x: x)
        last = k.runnables.RunnableLambda(lambda s: s + "!")
        return first | k.model() | k.parsers.StrOutputParser() | shout | last

    await compare(build, "hi", whole_input_runs={"RunnableLambda"})


async def test_parallel_and_assign() -> None:
    def build(k: Kit) -> Any:
        return k.runnables.RunnablePassthrough.assign(n=lambda d: len(d["q"]))

    names = {"RunnableLambda", "RunnableParallel<n>"}
    await compare(build, {"q": "abc"}, whole_input_runs=names, concurrent=True)


async def test_parallel_of_chains() -> None:
    def build(k: Kit) -> Any:
        joke = k.model() | k.parsers.StrOutputParser()
        return k.runnables.RunnableParallel(joke=joke, n=lambda s: len(s))

    names = {"RunnableSequence", "GenericFakeChatModel", "RunnableLambda"}
    await compare(build, "hi", whole_input_runs=names, concurrent=True)


async def test_same_final_outputs() -> None:
    for lib in ("tt", "lc"):
        k = Kit(lib)
        prompt = k.prompts.ChatPromptTemplate.from_template("Tell me a joke about {topic}")
        chain = prompt | k.model() | k.parsers.StrOutputParser()
        assert await chain.ainvoke({"topic": "x"}) == TEXT


# ------------------------------------------------------------------ shapes: input, filters, tags


async def test_model_alone_reports_the_raw_input() -> None:
    for lib in ("tt", "lc"):
        events = await collect(Kit(lib).model(), "hi")
        start, end = events[0], events[-1]
        assert start["data"] == {"input": "hi"}, lib
        assert sorted(end["data"]) == ["output"], lib


FILTERS: dict[str, dict[str, list[str]]] = {
    "types": {"include_types": ["chat_model", "parser"]},
    "names": {"include_names": ["StrOutputParser"]},
    "tags": {"include_tags": ["seq:step:2"]},
    "exclude": {"exclude_types": ["prompt"]},
    "lambda": {"include_types": ["chain"]},
}


@pytest.mark.parametrize("filters", list(FILTERS), ids=list(FILTERS))
@pytest.mark.parametrize("tagged", [False, True], ids=["plain", "with_config"])
async def test_filtered_events_and_tag_order(filters: str, tagged: bool) -> None:
    """Filtered and not, with and without ``with_config(tags=...)``: the same events with the
    same data keys, the first one carrying the chain's input, tags in LangChain's order."""

    def build(k: Kit) -> Any:
        prompt = k.prompts.ChatPromptTemplate.from_template("Tell me about {topic}")
        chain = prompt | k.model() | k.parsers.StrOutputParser() | (lambda s: s)
        return chain.with_config(tags=["my_chain"], run_name="joke") if tagged else chain

    kw = FILTERS[filters]
    ours = [e async for e in build(Kit("tt")).astream_events({"topic": "x"}, version="v2", **kw)]
    theirs = [e async for e in build(Kit("lc")).astream_events({"topic": "x"}, version="v2", **kw)]
    names = {"RunnableLambda"}
    ours_s = without_start_input(summary(drop_final_empty_chunk(ours)), names)
    theirs_s = without_start_input(summary(theirs), names)
    assert ours_s == theirs_s
    assert ours[0]["data"]["input"] == theirs[0]["data"]["input"] == {"topic": "x"}
