"""Drive a `Pacer` with scripted arrivals on a fake clock."""

from __future__ import annotations

from tokentide.render import Pacer


def simulate(
    arrivals: list[tuple[float, str]], *, rate: float, max_lag: float, end_at: float | None = None
) -> list[tuple[float, str]]:
    """Feed ``(time, text)`` arrivals; return ``(time, piece)`` releases.

    The input ends at ``end_at`` (default: once nothing more can be released).
    """
    pacer = Pacer(rate=rate, max_lag=max_lag)
    out: list[tuple[float, str]] = []
    i = 0
    now = 0.0
    next_at: float | None = None
    for _ in range(1_000_000):
        times = [
            t for t in (arrivals[i][0] if i < len(arrivals) else None, next_at) if t is not None
        ]
        if end_at is not None and (not times or min(times) >= end_at):
            now = max(now, end_at)
            break
        if not times:
            break
        now = max(now, min(times))
        while i < len(arrivals) and arrivals[i][0] <= now:
            pacer.feed(arrivals[i][1], arrivals[i][0])
            i += 1
        text, next_at = pacer.poll(now)
        if text:
            out.append((now, text))
    else:  # pragma: no cover
        raise AssertionError("the pacer did not settle")
    while i < len(arrivals):
        pacer.feed(arrivals[i][1], arrivals[i][0])
        i += 1
    pacer.end()
    text, next_at = pacer.poll(now)
    assert next_at is None and pacer.done
    if text:
        out.append((now, text))
    return out
