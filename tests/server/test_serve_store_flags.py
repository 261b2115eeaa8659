"""``tokentide serve``'s run-store flags: retention caps and TTL for both stores, the lease of
the Redis store, and usage errors for values that cannot work."""

from __future__ import annotations

import pytest

from tokentide.cli import build_parser, main
from tokentide.cli._serve import build_app
from tokentide.server import MemoryStreamStore
from tokentide.server._redis_store import RedisStreamStore

pytestmark = pytest.mark.timeout(30)


def _app(*argv: str) -> object:
    return build_app(build_parser().parse_args(["serve", "--model", "fake", *argv]))


def test_defaults() -> None:
    store = _app().store  # type: ignore[attr-defined]
    assert isinstance(store, MemoryStreamStore)
    assert store.max_finished_runs == 10_000
    assert store.max_finished_bytes == 256 * 1024 * 1024
    assert store.ttl == 3600


async def test_flags_reach_the_memory_store() -> None:
    app = _app("--max-finished-runs", "5", "--max-finished-bytes", "1000000", "--run-ttl", "60")
    store = app.store  # type: ignore[attr-defined]
    assert isinstance(store, MemoryStreamStore)
    assert (store.max_finished_runs, store.max_finished_bytes, store.ttl) == (5, 1_000_000, 60)


async def test_flags_reach_the_redis_store() -> None:
    app = _app(
        "--redis-url",
        "redis://127.0.0.1:1/0",
        "--max-finished-runs",
        "7",
        "--max-finished-bytes",
        "4096",
        "--run-ttl",
        "120",
        "--run-lease",
        "2.5",
    )
    store = app.store  # type: ignore[attr-defined]
    assert isinstance(store, RedisStreamStore)
    assert (store.max_finished_runs, store.max_finished_bytes, store.ttl) == (7, 4096, 120)
    assert store.lease == 2.5
    await store.aclose()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--max-finished-runs", "0"], "--max-finished-runs"),
        (["--max-finished-bytes", "0"], "--max-finished-bytes"),
        (["--run-ttl", "-1"], "--run-ttl"),
        (["--run-lease", "0"], "--run-lease"),
    ],
)
def test_bad_values_are_usage_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--model", "fake", *argv])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err
