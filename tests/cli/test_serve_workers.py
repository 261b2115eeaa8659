"""``tokentide serve --workers``: several processes need a shared store."""

from __future__ import annotations

import argparse

import pytest

from tokentide.cli._serve import ServeError, check_args, register


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser)
    return parser.parse_args(list(argv))


def test_one_worker_is_the_default() -> None:
    args = _args("--model", "fake")
    assert args.workers == 1
    check_args(args)


def test_several_workers_need_a_shared_store() -> None:
    with pytest.raises(ServeError, match="--redis-url"):
        check_args(_args("--model", "fake", "--workers", "2"))
    check_args(_args("--model", "fake", "--workers", "2", "--redis-url", "redis://localhost/0"))


def test_workers_must_be_positive() -> None:
    with pytest.raises(ServeError, match="at least 1"):
        check_args(_args("--model", "fake", "--workers", "0"))
