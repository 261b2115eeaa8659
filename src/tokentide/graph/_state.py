"""The state schema: which keys a graph's state has and how updates to each key merge.

Sans-I/O: :meth:`StateSchema.apply` folds a step's writes into the values, nothing else.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, get_args, get_origin

from tokentide.errors import InvalidUpdateError

__all__ = ["Reducer", "StateSchema"]

Reducer = Callable[[Any, Any], Any]

_MISSING: Any = object()


def _reducer_of(hint: Any) -> Reducer | None:
    if get_origin(hint) is typing.Annotated:
        for extra in reversed(get_args(hint)[1:]):
            if callable(extra):
                return typing.cast(Reducer, extra)
    return None


def _empty_of(hint: Any) -> Any:
    """The starting value of a reduced key (``[]`` for a list, ``0`` for an int), if any."""
    base = get_args(hint)[0] if get_origin(hint) is typing.Annotated else hint
    typ = get_origin(base) or base
    if isinstance(typ, type):
        try:
            return typ()
        except Exception:
            return _MISSING
    return _MISSING


class StateSchema:
    """Keys and reducers of a ``TypedDict`` or dataclass state.

    A key annotated ``Annotated[T, reducer]`` merges updates with ``reducer(old, new)`` (and
    starts at ``T()`` when that can be built); any other key takes the single value written to
    it in a step (two writes in one step raise :class:`~tokentide.errors.InvalidUpdateError`).
    """

    __slots__ = ("dataclass", "defaults", "keys", "reducers", "schema")

    def __init__(self, schema: type[Any]) -> None:
        self.schema = schema
        try:
            hints = typing.get_type_hints(schema, include_extras=True)
        except Exception:
            hints = dict(getattr(schema, "__annotations__", {}))
        if not hints:
            raise TypeError(
                f"the state schema {schema!r} has no annotated keys: use a TypedDict or a "
                "dataclass, e.g. class State(TypedDict): messages: list"
            )
        self.keys: tuple[str, ...] = tuple(hints)
        self.reducers: dict[str, Reducer] = {}
        self.defaults: dict[str, Any] = {}
        for key, hint in hints.items():
            reducer = _reducer_of(hint)
            if reducer is not None:
                self.reducers[key] = reducer
                empty = _empty_of(hint)
                if empty is not _MISSING:
                    self.defaults[key] = empty
        self.dataclass = dataclasses.is_dataclass(schema)
        if self.dataclass:
            for fld in dataclasses.fields(schema):
                if fld.default is not dataclasses.MISSING:
                    self.defaults[fld.name] = fld.default
                elif fld.default_factory is not dataclasses.MISSING:
                    self.defaults[fld.name] = fld.default_factory()

    def initial(self) -> dict[str, Any]:
        """The values before any write: the empty value of each reduced key."""
        defaults = self.defaults
        return {
            k: (list(v) if isinstance(v, list) else v)
            for k in sorted(defaults, key=self.keys.index)
            for v in (defaults[k],)
        }

    def coerce_input(self, value: Any) -> Mapping[str, Any]:
        """A graph input or node update as a mapping (a dataclass instance becomes a dict)."""
        if isinstance(value, Mapping):
            return value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        raise InvalidUpdateError(f"Expected dict, got {value!r:.200}")

    def view(self, values: dict[str, Any]) -> Any:
        """What a node receives: the values dict, or an instance of a dataclass schema."""
        if self.dataclass:
            return self.schema(**{k: v for k, v in values.items() if k in self.keys})
        return values

    def _insert_in_order(self, values: dict[str, Any], new: Mapping[str, Any]) -> None:
        """Make room for keys written for the first time so that the values keep the
        schema's key order (as LangGraph's channels do)."""
        old = dict(values)
        values.clear()
        for key in self.keys:
            if key in old:
                values[key] = old[key]
            elif key in new:
                values[key] = _MISSING
        values.update({k: v for k, v in old.items() if k not in values})

    def apply(self, values: dict[str, Any], writes: Iterable[tuple[str, Any]]) -> set[str]:
        """Fold ``writes`` (in order) into ``values`` in place; return the keys updated."""
        by_key: dict[str, list[Any]] = {}
        for key, value in writes:
            if key in self.keys:
                by_key.setdefault(key, []).append(value)
        if not values.keys() >= by_key.keys():
            self._insert_in_order(values, by_key)
        for key, updates in by_key.items():
            reducer = self.reducers.get(key)
            if reducer is None:
                if len(updates) > 1:
                    raise InvalidUpdateError(
                        f"At key '{key}': Can receive only one value per step. Use an "
                        "Annotated key to handle multiple values."
                    )
                values[key] = updates[0]
                continue
            current = values.get(key, _MISSING)
            for update in updates:
                current = update if current is _MISSING else reducer(current, update)
            values[key] = current
        return set(by_key)
