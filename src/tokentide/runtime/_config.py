"""`RunnableConfig`: the per-call options that flow from a run to the runs nested in it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, TypedDict, cast
from uuid import UUID

__all__ = ["RunnableConfig", "ensure_config", "merge_configs"]


class RunnableConfig(TypedDict, total=False):
    """Options for one call of a runnable (all optional).

    Same keys as LangChain's ``RunnableConfig``. ``tags`` and ``metadata`` are inherited by
    every run nested inside this one (a model called by a node of a graph sees the graph's
    metadata); ``run_name`` and ``run_id`` apply to this run only.

    Example::

        chain.invoke({"topic": "cats"}, {"tags": ["demo"], "metadata": {"user": "u1"}})
    """

    tags: list[str]
    metadata: dict[str, Any]
    run_name: str
    run_id: UUID | str
    max_concurrency: int | None
    recursion_limit: int
    configurable: dict[str, Any]
    callbacks: Any


_KNOWN_KEYS = frozenset(RunnableConfig.__annotations__)
#: Keys of the runtime's own (the parent run handed to a nested call); never a user's.
_INTERNAL_PREFIX = "__tokentide"
#: The keys of the configs the runtime hands on (the parent run, a callee's local tags): a
#: config with only these keys needs no key-by-key check.
_PLAIN_KEYS = _KNOWN_KEYS | {"__tokentide_run", "__tokentide_local_tags"}


def ensure_config(config: RunnableConfig | None = None) -> RunnableConfig:
    """Return a config dict with every inheritable key filled in (a new dict)."""
    out: RunnableConfig = {"tags": [], "metadata": {}, "recursion_limit": 25, "configurable": {}}
    if config:
        check_config(config)
        out.update(config)
    return out


def check_config(config: Any) -> None:
    """Raise a clear ``TypeError`` for a config that is not a dict, has a key that
    ``RunnableConfig`` does not know (a misspelling gets a suggestion: ``'tag'`` -> did you
    mean ``'tags'``?), or has ``tags`` / ``metadata`` of the wrong type."""
    if not isinstance(config, dict):
        raise TypeError(
            f"config must be a dict (RunnableConfig), got {type(config).__name__}: {config!r:.80}"
        )
    if not _PLAIN_KEYS.issuperset(config):
        for key in config:
            if key not in _KNOWN_KEYS and not (
                isinstance(key, str) and key.startswith(_INTERNAL_PREFIX)
            ):
                raise TypeError(_unknown_key(key))
    tags = config.get("tags")
    if (
        tags is not None
        and type(tags) is not list
        and (isinstance(tags, str) or not isinstance(tags, Sequence))
    ):
        raise TypeError(f"config['tags'] must be a list of strings, got {tags!r:.80}")
    metadata = config.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"config['metadata'] must be a dict, got {type(metadata).__name__}")


def _unknown_key(key: Any) -> str:
    known = sorted(_KNOWN_KEYS)
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"unknown config key {key!r}: {hint}a RunnableConfig has {', '.join(map(repr, known))} "
        "(values for your own code go in config['configurable'])"
    )


def merge_configs(*configs: RunnableConfig | None) -> RunnableConfig:
    """Merge configs left to right: tags are united (sorted, as LangChain), metadata and
    configurable are merged, other keys are replaced."""
    out: dict[str, Any] = {}
    for config in configs:
        if not config:
            continue
        for key, value in cast("dict[str, Any]", config).items():
            if key == "tags":
                out["tags"] = sorted({*out.get("tags", ()), *value})
            elif key in ("metadata", "configurable"):
                out[key] = {**out.get(key, {}), **value}
            else:
                out[key] = value
    return out  # type: ignore[return-value]
