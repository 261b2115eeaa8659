"""The ``serve`` flags of the HTTP clients of ``openai:<name>`` models (a proxy's upstream).

``--max-concurrency`` sizes each such model's pool of kept-alive upstream connections (the
streams it may serve at once); ``--upstream-timeout`` bounds the wait for a free connection,
connecting and the upstream's response headers. A request that finds no free connection in
time is answered ``503`` with ``Retry-After`` (`tokentide.errors.PoolTimeoutError`).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DEFAULT_MAX_CONCURRENCY", "check_upstream", "register_upstream", "upstream_options"]

DEFAULT_MAX_CONCURRENCY = 2048
"""Default ``--max-concurrency``: room for 2,000 concurrent streams through one proxy model."""


def register_upstream(add: Any) -> None:
    """The flags of the HTTP clients of ``openai:<name>`` models (a proxy's upstream)."""
    add(
        "--max-concurrency",
        type=int,
        default=DEFAULT_MAX_CONCURRENCY,
        help="concurrent streams of each openai:<name> model: the size of its pool of kept-alive "
        "upstream connections; a request that finds none free within --upstream-timeout gets "
        f"503 with Retry-After (default: {DEFAULT_MAX_CONCURRENCY})",
    )
    add(
        "--upstream-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds an openai:<name> request may wait for a pooled connection, to connect and "
        "for the upstream's response headers (default: the model's, 60)",
    )


def upstream_options(args: argparse.Namespace) -> dict[str, Any]:
    """``max_connections`` / ``timeout`` of ``openai:<name>`` models, from the flags."""
    options: dict[str, Any] = {
        "max_connections": getattr(args, "max_concurrency", DEFAULT_MAX_CONCURRENCY)
    }
    timeout = getattr(args, "upstream_timeout", None)
    if timeout is not None:
        options["timeout"] = timeout
    return options


def check_upstream(args: argparse.Namespace) -> str | None:
    """What is wrong with the upstream flags, or ``None``."""
    if getattr(args, "max_concurrency", 1) < 1:
        return f"--max-concurrency must be at least 1, got {args.max_concurrency}"
    timeout = getattr(args, "upstream_timeout", None)
    if timeout is not None and not timeout > 0:
        return "--upstream-timeout must be more than 0 seconds"
    return None
