"""The run context: who is running, under which parent, and who (if anyone) is listening.

One ``ContextVar`` holds the current run. Internal composition passes the parent run explicitly
(through the private ``PARENT_KEY`` of a config dict); the variable is set only around user code
(a lambda, a generator body step, a graph node), so a model called with a plain ``invoke()``
inside user code finds its parent run without ``config`` being passed by hand, on Python 3.10 as
on 3.13.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID, uuid4

from ._config import RunnableConfig, check_config

if TYPE_CHECKING:
    from ._sink import RunSink

__all__ = [
    "LOCAL_TAGS_KEY",
    "PARENT_KEY",
    "RunContext",
    "RunToken",
    "current_run",
    "enter_run",
    "leave_run",
    "new_run",
    "resolve_parent",
    "set_observer",
]

#: Key under which a config dict handed to user code carries its run (so that passing that
#: config on by hand attaches the nested run to the right parent).
PARENT_KEY = "__tokentide_run"
#: Key of a config dict made by :meth:`RunContext.child_config` for tags of that run only.
LOCAL_TAGS_KEY = "__tokentide_local_tags"

_CURRENT: ContextVar[RunContext | None] = ContextVar("tokentide_run", default=None)

#: Put in front of the sink of every root run while an observer (OpenTelemetry, see
#: ``tokentide.observe``) is installed; ``None`` (the default) costs nothing.
_OBSERVER: Callable[[RunSink | None], RunSink] | None = None


def set_observer(observer: Callable[[RunSink | None], RunSink] | None) -> None:
    """Install (or remove, with ``None``) the function that gives every root run its
    observing sink: it receives the sink the run would have had and returns the one to use
    (which forwards to it)."""
    global _OBSERVER
    _OBSERVER = observer


#: Handlers every root run started in this context gets (``get_usage_metadata_callback``);
#: read once per root run, never per token.
_AMBIENT_HANDLERS: ContextVar[tuple[Any, ...]] = ContextVar("tokentide_handlers", default=())


@contextmanager
def handler_in_context(handler: Any) -> Iterator[None]:
    """Attach ``handler`` to every root run started in the ``with`` block (this task or
    thread, and tasks it starts), as LangChain's configure hooks do."""
    token = _AMBIENT_HANDLERS.set((*_AMBIENT_HANDLERS.get(), handler))
    try:
        yield
    finally:
        _AMBIENT_HANDLERS.reset(token)


T = TypeVar("T")


class RunContext:
    """One run of a runnable: its identity, inherited tags/metadata, and the sink listening.

    ``run_id`` is made lazily: a run nobody listens to never pays for a UUID.
    A *scope* (``run_type == "scope"``) is a placeholder parent that only carries a sink and
    inherited config; it is not a run of its own and never appears in ``parent_ids``.
    """

    __slots__ = (
        "_config",
        "_parent_ids",
        "_run_id",
        "child_tags",
        "configurable",
        "extra",
        "inheritable_tags",
        "max_concurrency",
        "metadata",
        "name",
        "parent",
        "recursion_limit",
        "run_type",
        "sink",
        "sink_state",
        "tags",
    )

    def __init__(
        self,
        name: str,
        run_type: str,
        *,
        parent: RunContext | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        sink: RunSink | None = None,
        configurable: dict[str, Any] | None = None,
        recursion_limit: int = 25,
        max_concurrency: int | None = None,
        run_id: UUID | str | None = None,
        extra: dict[str, Any] | None = None,
        inheritable_tags: list[str] | None = None,
    ) -> None:
        self.name = name
        self.run_type = run_type
        self.parent = parent
        self.tags: list[str] = tags if tags is not None else []
        #: The tags nested runs inherit: ``tags`` without this run's local ones (its position
        #: in a sequence, ``seq:step:N``; a model's own tags), as in LangChain.
        self.inheritable_tags: list[str] = (
            inheritable_tags if inheritable_tags is not None else self.tags
        )
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.sink = sink
        self.configurable: dict[str, Any] = configurable if configurable is not None else {}
        self.recursion_limit = recursion_limit
        self.max_concurrency = max_concurrency
        self._run_id: str | None = str(run_id) if run_id is not None else None
        self._parent_ids: list[str] | None = None
        self._config: RunnableConfig | None = None
        self.extra: dict[str, Any] = extra if extra is not None else {}
        self.sink_state: Any = None
        #: Local tags of the runs called directly in this run without tags of their own (a
        #: graph node's ``seq:step:1``, as LangGraph tags what a node's function calls).
        self.child_tags: list[str] | None = None

    @property
    def run_id(self) -> str:
        rid = self._run_id
        if rid is None:
            rid = self._run_id = str(uuid4())
        return rid

    @property
    def parent_ids(self) -> list[str]:
        """Ids of the enclosing runs, root first (LangChain's v2 ``parent_ids``)."""
        ids = self._parent_ids
        if ids is None:
            parent = self.parent
            if parent is None or parent.run_type == "scope":
                ids = []
            else:
                ids = [*parent.parent_ids, parent.run_id]
            self._parent_ids = ids
        return ids

    def as_config(self) -> RunnableConfig:
        """The config handed to user code running as (or inside) this run."""
        config = self._config
        if config is None:
            config = {
                "tags": list(self.inheritable_tags),
                "metadata": dict(self.metadata),
                "configurable": self.configurable,
                "recursion_limit": self.recursion_limit,
                "max_concurrency": self.max_concurrency,
            }
            config[PARENT_KEY] = self  # type: ignore[literal-required]
            self._config = config
        return config

    def child_config(self, local_tags: list[str] | None = None, **extra: Any) -> RunnableConfig:
        """A minimal config making this run the parent of the callee (internal composition).

        ``local_tags`` tag the callee's run only (not the runs nested in it)."""
        config: dict[str, Any] = {PARENT_KEY: self}
        if local_tags:
            config[LOCAL_TAGS_KEY] = local_tags
        config.update(extra)
        return config  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"RunContext(name={self.name!r}, run_type={self.run_type!r})"


def current_run() -> RunContext | None:
    """The run whose user code is executing now, or ``None`` outside any run."""
    return _CURRENT.get()


RunToken = Token["RunContext | None"]


def enter_run(run: RunContext | None) -> RunToken:
    """Make ``run`` the current run of this thread or task, around user code (a lambda, a
    graph node, a tool) or to attach a sink to a scope; always pair it with
    :func:`leave_run` in a ``finally``. Internal interface for the layers above the runtime."""
    return _CURRENT.set(run)


def leave_run(token: RunToken) -> None:
    """Restore the current run that :func:`enter_run` replaced."""
    _CURRENT.reset(token)


def resolve_parent(config: RunnableConfig | None) -> RunContext | None:
    """The parent of a new run: the run named by ``config`` if any, else the current run."""
    if config:
        if not isinstance(config, dict):
            check_config(config)  # raises a clear TypeError
        parent: RunContext | None = cast("dict[str, Any]", config).get(PARENT_KEY)
        if parent is not None:
            return parent
    return _CURRENT.get()


def new_run(
    name: str,
    run_type: str,
    config: RunnableConfig | None,
    *,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    callbacks: Any = None,
) -> RunContext:
    """Make the run of one call: inherit from the parent, apply ``config``, then the runnable's
    own ``tags``/``metadata``; ``callbacks`` (the runnable's own) and ``config["callbacks"]``
    put a callback sink in front of the inherited one."""
    parent = resolve_parent(config)
    if config and parent is not None and not callbacks and _is_handed_on(config, parent):
        return _child_run(name, run_type, parent, config, tags, metadata)
    observer = _OBSERVER
    if parent is None:
        run_tags: list[str] = []
        run_meta: dict[str, Any] = {}
        sink = None
        configurable: dict[str, Any] = {}
        recursion_limit = 25
        max_concurrency = None
    else:
        run_tags = parent.inheritable_tags
        run_meta = parent.metadata
        sink = parent.sink
        configurable = parent.configurable
        recursion_limit = parent.recursion_limit
        max_concurrency = parent.max_concurrency
    run_id = None
    ctags: Any = None
    if config:
        check_config(config)
        ctags = config.get("tags")
        cmeta = config.get("metadata")
        # A config handed on from the parent run (a node's ``config``) repeats the parent's
        # metadata and configurable: nothing to merge then.
        if cmeta and cmeta != run_meta:
            run_meta = {**run_meta, **cmeta}
        conf = config.get("configurable")
        if conf and conf is not configurable:
            configurable = {**configurable, **conf}
        name = config.get("run_name") or name
        run_id = config.get("run_id")
        recursion_limit = config.get("recursion_limit", recursion_limit)
        max_concurrency = config.get("max_concurrency", max_concurrency)
        handlers = config.get("callbacks")
        if handlers:
            sink = _with_callbacks(handlers, sink)
    if callbacks:
        sink = _with_callbacks(callbacks, sink)
    if parent is None or parent.run_type == "scope":
        sink = _outermost_sink(sink, observer)
    local: list[str] | None = cast("dict[str, Any]", config).get(LOCAL_TAGS_KEY) if config else None
    # A config without tags carries the inherited ones (LangChain's configs always do).
    run_tags, inheritable = _ordered_tags(
        run_tags,
        run_tags if ctags is None else ctags,
        local,
        parent.child_tags if parent is not None else None,
        tags,
    )
    if metadata:
        run_meta = {**run_meta, **metadata}
    return RunContext(
        name,
        run_type,
        parent=parent,
        tags=run_tags,
        inheritable_tags=inheritable,
        metadata=run_meta,
        sink=sink,
        configurable=configurable,
        recursion_limit=recursion_limit,
        max_concurrency=max_concurrency,
        run_id=run_id,
    )


_HANDED_ON_KEYS = frozenset(
    {
        PARENT_KEY,
        LOCAL_TAGS_KEY,
        "tags",
        "metadata",
        "configurable",
        "recursion_limit",
        "max_concurrency",
    }
)


def _is_handed_on(config: Any, parent: RunContext) -> bool:
    """Whether ``config`` only hands ``parent`` on: a :meth:`RunContext.child_config`, or
    the parent's :meth:`RunContext.as_config` as it was made (a node passing its ``config``
    to a model), maybe with local tags. Such a config changes nothing that the parent does
    not already give the new run."""
    if type(config) is not dict or not _HANDED_ON_KEYS.issuperset(config):
        return False
    tags = config.get("tags")
    if tags is not None and (type(tags) is not list or tags != parent.inheritable_tags):
        return False
    metadata = config.get("metadata")
    if metadata and (type(metadata) is not dict or metadata != parent.metadata):
        return False
    configurable = config.get("configurable")
    if configurable and configurable is not parent.configurable:
        return False
    limit = config.get("recursion_limit", parent.recursion_limit)
    if type(limit) is not int or limit != parent.recursion_limit:
        return False
    return config.get("max_concurrency", parent.max_concurrency) == parent.max_concurrency


def _child_run(
    name: str,
    run_type: str,
    parent: RunContext,
    config: Any,
    tags: list[str] | None,
    metadata: dict[str, Any] | None,
) -> RunContext:
    """:func:`new_run` for a child config under a run that is not a scope (no callbacks of
    its own): everything is inherited from ``parent``."""
    sink = parent.sink
    if parent.run_type == "scope":
        sink = _outermost_sink(sink, _OBSERVER)
    # A handed-on config's tags are the inherited ones (or absent, which means the same).
    inherited = parent.inheritable_tags
    run_tags, inheritable = _ordered_tags(
        inherited, inherited, config.get(LOCAL_TAGS_KEY), parent.child_tags, tags
    )
    return RunContext(
        name,
        run_type,
        parent=parent,
        tags=run_tags,
        inheritable_tags=inheritable,
        metadata={**parent.metadata, **metadata} if metadata else parent.metadata,
        sink=sink,
        configurable=parent.configurable,
        recursion_limit=parent.recursion_limit,
        max_concurrency=parent.max_concurrency,
    )


def _outermost_sink(sink: RunSink | None, observer: Any) -> RunSink | None:
    """The sink of a run with no parent run (or under a scope): the ambient callback
    handlers and the process-wide observer go in front of it."""
    ambient = _AMBIENT_HANDLERS.get()
    if ambient:
        sink = _with_callbacks(list(ambient), sink)
    if observer is not None:
        sink = observer(sink)
    return sink


def _ordered_tags(
    inherited: list[str],
    config_tags: Sequence[str],
    local: Sequence[str] | None,
    child_tags: Sequence[str] | None,
    own: Sequence[str] | None,
) -> tuple[list[str], list[str]]:
    """A run's tags and the tags its children inherit, in LangChain's order: inherited, then
    this run's position (``local``, else the parent's ``child_tags``, e.g. ``seq:step:N``),
    then the config's tags (moved to the end if already there), then the runnable's own."""
    inheritable = _add_tags(inherited, config_tags) if config_tags else inherited
    run_tags = inherited
    if local:
        run_tags = _add_tags(run_tags, local)
    elif child_tags:
        run_tags = _add_tags(run_tags, child_tags)
    if config_tags:
        run_tags = _add_tags(run_tags, config_tags)
    if own:
        run_tags = _add_tags(run_tags, own)
    return run_tags, inheritable


def _with_callbacks(callbacks: Any, sink: RunSink | None) -> RunSink | None:
    # The callback handlers are a subscriber of the run sinks (the observe layer, in
    # ``tokentide.callbacks``): looked up only when a run is given handlers.
    from tokentide.callbacks._dispatch import attach_callbacks

    return attach_callbacks(callbacks, sink)


def _add_tags(base: list[str], more: Sequence[str]) -> list[str]:
    """``base`` with ``more`` appended; a tag already in ``base`` moves to the end (LangChain's
    ``add_tags``)."""
    if not base:
        return list(more) if len(more) < 2 else list(dict.fromkeys(more))
    added = list(dict.fromkeys(more))
    return [*(t for t in base if t not in added), *added]
