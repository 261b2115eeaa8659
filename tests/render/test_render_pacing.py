"""Pacing: bounded lag, steady release, exact text, whole grapheme clusters; sync and async."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import regex
from _sim import simulate
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.waiting import async_wait_until
from tokentide.render import Pacer, asmooth, smooth
from tokentide.render._pacing import DEFAULT_MIN_INTERVAL
from tokentide.render._segment import last_grapheme_start

TICK = DEFAULT_MIN_INTERVAL

KOREAN = (
    "일반적인 LLM(Language Model) 응답 방식은 사용자의 입력을 받은 후, 모델이 전체 답변을 "
    "생성한 뒤 한 번에 반환하는 방식입니다. 하지만 **Streaming**을 사용하면 모델이 한 단어씩"
    "(또는 토큰 단위로) 즉시 응답을 출력하므로, 사용자 경험(UX)이 크게 향상됩니다. "
)
JAPANESE = "ストリーミングを使うと、モデルが生成したトークンをすぐに表示できます。便利ですね！"
CHINESE = "流式输出让用户立即看到模型生成的每个词元，而不必等待完整的回答。"
EMOJI = "Hi 👩🏽‍💻 and 👨‍👩‍👧‍👦 with 🇰🇷🇫🇷 flags, e\u0301te\u0301 🏳️‍🌈 done "

PIECES = [
    KOREAN,
    JAPANESE,
    CHINESE,
    EMOJI,
    "e\u0301",
    "\u0301",
    "\u200d",
    "🇰",
    "👍",
    "🏽",
    " ",
    "\n\n",
]


def boundaries(text: str) -> set[int]:
    return {0, *(m.end() for m in regex.finditer(r"\X", text))}


def check_lag(
    arrivals: list[tuple[float, str]], out: list[tuple[float, str]], max_lag: float, end: float
) -> None:
    """Every character is out by max(arrival + max_lag, when it stopped being the held last
    grapheme cluster) plus one tick."""
    released: list[float] = []
    for t, piece in out:
        released += [t] * len(piece)
    text = ""
    known_at: list[float] = []  # for each character: when it was no longer the last cluster
    arrived: list[float] = []
    for t, piece in arrivals:
        text += piece
        arrived += [t] * len(piece)
        known = last_grapheme_start(text, 0)
        while len(known_at) < known:
            known_at.append(t)
    known_at += [end] * (len(text) - len(known_at))
    for i, t in enumerate(released):
        bound = max(arrived[i] + max_lag, known_at[i]) + TICK + 1e-9
        assert t <= bound, (i, t, arrived[i], known_at[i])


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


text_strategy = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=12).map(
    "".join
)


@settings(max_examples=150, deadline=None)
@given(
    text=text_strategy,
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
    gaps=st.lists(st.floats(0, 0.8), min_size=1, max_size=30),
    rate=st.sampled_from([5.0, 40.0, 90.0, 1000.0]),
    max_lag=st.sampled_from([0.0, 0.2, 0.5, 2.0]),
)
def test_pacer_text_exact_lag_bounded_graphemes_whole(
    text: str, cuts: list[int], gaps: list[float], rate: float, max_lag: float
) -> None:
    items = split(text, cuts)
    arrivals, t = [], 0.0
    for i, item in enumerate(items):
        t += gaps[i % len(gaps)]
        arrivals.append((t, item))
    end = t + 0.3
    out = simulate(arrivals, rate=rate, max_lag=max_lag, end_at=end)
    assert "".join(p for _, p in out) == text
    assert all(p for _, p in out)
    bounds, offset = boundaries(text), 0
    for _, piece in out:
        offset += len(piece)
        assert offset in bounds
    check_lag(arrivals, out, max_lag, end)


def release_intervals(out: list[tuple[float, str]]) -> list[float]:
    times = [t for t, _ in out]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.mark.parametrize("producer", ["bursts", "fast words"])
def test_release_is_steady_when_the_producer_is_faster_than_the_rate(producer: str) -> None:
    if producer == "bursts":  # 25 characters every 0.25 s: 100 chars/s in lumps
        arrivals = [(i * 0.25, "word " * 5) for i in range(40)]
    else:  # a word every 20 ms: 250 chars/s
        arrivals = [(i * 0.02, "word ") for i in range(200)]
    out = simulate(arrivals, rate=60.0, max_lag=0.5)
    steady = release_intervals(out)[len(out) // 10 : -2]
    assert statistics.pstdev(steady) / statistics.mean(steady) < 0.2
    assert all(p == "word " for _, p in out[:-2])  # then the held last word, then the flush


def test_slow_producer_is_released_as_it_arrives() -> None:
    arrivals = [(i * 0.5, f"w{i} ") for i in range(10)]
    out = simulate(arrivals, rate=60.0, max_lag=0.5)
    for (t, _piece), (arrived, _) in zip(out, arrivals[1:], strict=False):
        assert t == arrived  # each word leaves as soon as the next one shows it is complete


def test_an_incomplete_word_is_held_until_its_deadline() -> None:
    pacer = Pacer(rate=50.0, max_lag=0.5)
    pacer.feed("Hello wor", 0.0)
    assert pacer.poll(0.0) == ("Hello ", 0.5)
    assert pacer.poll(0.5) == ("wo", None)  # the last cluster ("r") waits for more input
    pacer.feed("ld ok", 0.6)
    assert pacer.poll(0.6)[0] == "rld "
    pacer.end()
    assert pacer.poll(0.6) == ("ok", None)
    assert pacer.done


def test_pacer_rejects_feed_after_end() -> None:
    pacer = Pacer()
    pacer.end()
    with pytest.raises(RuntimeError):
        pacer.feed("x", 0.0)


@pytest.mark.parametrize(
    "text", [KOREAN, JAPANESE, CHINESE, EMOJI], ids=["ko", "ja", "zh", "emoji"]
)
def test_scripts_one_code_point_at_a_time(text: str) -> None:
    arrivals = [(i * 0.02, ch) for i, ch in enumerate(text)]  # 50 chars/s, under the rate
    out = simulate(arrivals, rate=90.0, max_lag=0.5)
    assert "".join(p for _, p in out) == text
    bounds, offset = boundaries(text), 0
    for _, piece in out:
        offset += len(piece)
        assert offset in bounds
    if text is KOREAN:
        # word by word; at the end the held final space follows its word
        assert [p for _, p in out] == [*(w + " " for w in text.split()[:-1]), "향상됩니다.", " "]
    if text in (JAPANESE, CHINESE):
        assert max(len(p) for _, p in out) <= 6


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


class Chunk:
    """A message chunk as far as the render layer cares."""

    def __init__(self, content: str) -> None:
        self.content = content


def test_smooth_sync_paces_a_slow_bursty_producer_and_flushes_at_the_end() -> None:
    clock = FakeClock()
    released: list[tuple[float, str]] = []

    def producer() -> Iterator[Chunk]:
        for i in range(5):
            clock.now += 1.0  # the model thinks for a second, then sends a burst
            yield Chunk(f"burst {i} has several words in it ")
        yield Chunk("end")

    for piece in smooth(producer(), rate=40.0, max_lag=0.5, clock=clock, sleep=clock.sleep):
        released.append((clock.now, piece))
    text = "".join(f"burst {i} has several words in it " for i in range(5)) + "end"
    assert "".join(p for _, p in released) == text
    assert released[-1][1] == "end"
    assert len(released) > 30  # word by word, not burst by burst
    assert max(clock.sleeps) <= 0.5


def test_smooth_sync_does_not_slow_a_fast_lazy_producer() -> None:
    clock = FakeClock()

    def producer() -> Iterator[str]:
        for _ in range(500):
            clock.now += 0.002  # 2,500 characters a second
            yield "word "

    out = list(smooth(producer(), rate=60.0, clock=clock, sleep=clock.sleep))
    assert "".join(out) == "word " * 500
    assert clock.now < 2 * 500 * 0.002 + 0.1  # at most the producer's own time again


def test_smooth_sync_closes_the_producer_on_early_exit() -> None:
    closed = []

    def producer() -> Iterator[str]:
        try:
            while True:
                yield "word "
        finally:
            closed.append(True)

    clock = FakeClock()
    stream = smooth(producer(), clock=clock, sleep=clock.sleep)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    assert closed == [True]


async def test_asmooth_bounded_lag_with_a_silent_producer() -> None:
    loop = asyncio.get_running_loop()
    bursts = [f"the quick brown fox jumps over {i} lazy dogs " for i in range(3)] + ["fin"]
    arrivals: list[float] = []
    released: list[tuple[float, str]] = []

    async def producer() -> AsyncIterator[Chunk]:
        for i, burst in enumerate(bursts):
            if i:
                await asyncio.sleep(1.0)  # silent for much longer than max_lag + slack
            arrivals.append(loop.time())
            yield Chunk(burst)

    async for piece in asmooth(producer(), rate=30.0, max_lag=0.2, clock=loop.time):
        released.append((loop.time(), piece))
    assert "".join(p for _, p in released) == "".join(bursts)
    assert len(released) > 20  # word by word
    # When each character must be out, with slack for a busy machine: 0.5 s after arrival,
    # still well before the next burst (1 s) or the end of paced release (44 chars at 30/s).
    slack = 0.3
    bound: list[float] = []
    for i, burst in enumerate(bursts):
        bound += [arrivals[i] + 0.2 + slack] * (len(burst) - 1)
        # the last cluster of a burst waits for the next item (or the end)
        bound.append((arrivals[i + 1] if i + 1 < len(arrivals) else arrivals[i]) + slack)
    at = 0
    for t, piece in released:
        assert all(t <= b for b in bound[at : at + len(piece)])
        at += len(piece)


async def test_asmooth_with_a_fake_sleep_releases_word_by_word() -> None:
    clock = FakeClock()

    async def producer() -> AsyncIterator[str]:
        yield "one two three four five six seven eight nine ten "
        # Silent until the fake clock has run ahead (not a real-time pause, which a stalled
        # event loop on a loaded machine could outlast before the first words are paced).
        await async_wait_until(lambda: clock.now >= 0.2, message="the fake clock never ran")
        yield "end"

    out = [p async for p in asmooth(producer(), rate=20.0, clock=clock, sleep=clock.asleep)]
    assert "".join(out) == "one two three four five six seven eight nine ten end"
    assert out[:3] == ["one ", "two ", "three "]


def _endless_words(closed: asyncio.Event, *, pause: float) -> Callable[[], AsyncIterator[str]]:
    """A producer of ``"word "`` every ``pause`` seconds, for ever; ``closed`` is set when it
    is closed."""

    async def producer() -> AsyncIterator[str]:
        try:
            while True:
                yield "word "
                await asyncio.sleep(pause)
        finally:
            closed.set()

    return producer


async def test_asmooth_early_exit_cancels_the_reader_and_closes_the_producer() -> None:
    closed = asyncio.Event()
    producer = _endless_words(closed, pause=0.001)

    tasks_before = len(asyncio.all_tasks())
    stream = asmooth(producer(), rate=1000.0)
    async for _ in stream:
        break
    await stream.aclose()
    assert closed.is_set()
    assert len(asyncio.all_tasks()) == tasks_before


async def test_asmooth_raises_the_producer_error_after_the_text_before_it() -> None:
    async def producer() -> AsyncIterator[str]:
        yield "partial answer "
        raise ValueError("upstream broke")

    out: list[str] = []
    with pytest.raises(ValueError, match="upstream broke"):
        async for piece in asmooth(producer(), rate=1000.0):
            out.append(piece)
    assert "".join(out) == "partial answer "


async def test_asmooth_cancellation_closes_the_producer() -> None:
    closed = asyncio.Event()
    producer = _endless_words(closed, pause=0.01)

    async def consume() -> None:
        async for _ in asmooth(producer(), rate=1000.0):
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()


@pytest.mark.parametrize("sync", [True, False])
async def test_key_extracts_text(sync: bool) -> None:
    items = [{"t": "alpha "}, {"t": "beta"}]
    if sync:
        out = list(smooth(items, key=lambda d: d["t"], rate=1e6))
    else:

        async def agen() -> AsyncIterator[dict[str, str]]:
            for item in items:
                yield item

        out = [p async for p in asmooth(agen(), key=lambda d: d["t"], rate=1e6)]
    assert "".join(out) == "alpha beta"


def test_smooth_in_real_time_is_quick_for_a_fast_source() -> None:
    started = time.perf_counter()
    out = list(smooth(["word "] * 200, rate=90.0, max_lag=0.5))
    assert "".join(out) == "word " * 200
    assert time.perf_counter() - started < 1.0
