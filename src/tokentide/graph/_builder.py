"""`StateGraph`: declare nodes and edges, then ``compile()`` into a runnable graph."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from ._node import Branch, NodeSpec, _name_of
from ._scheduler import GraphSpec
from ._state import StateSchema
from ._types import END, START, RetryPolicy

if TYPE_CHECKING:
    from tokentide.checkpoint import BaseCheckpointSaver

    from ._compiled import CompiledStateGraph

__all__ = ["StateGraph"]


class StateGraph:
    """A graph of nodes that read and update one shared state, run in supersteps.

    The state is a ``TypedDict`` (or dataclass); a key annotated ``Annotated[T, reducer]``
    merges updates with the reducer (``operator.add``, :func:`add_messages`), any other key is
    overwritten. A node is a function (sync or async) taking ``state`` and optionally
    ``config`` and ``writer``, returning a partial update (a dict), ``None`` or a
    :class:`Command`. Every builder method returns the graph, so calls chain.

    Example::

        from typing import TypedDict
        from tokentide.graph import START, StateGraph

        class State(TypedDict):
            topic: str
            joke: str

        def write_joke(state: State) -> dict:
            return {"joke": f"Why did the {state['topic']} cross the road?"}

        graph = StateGraph(State).add_node(write_joke).add_edge(START, "write_joke").compile()
        graph.invoke({"topic": "cat"})["joke"]
    """

    def __init__(self, state_schema: type[Any], config_schema: Any = None, **kwargs: Any) -> None:
        self.state_schema = state_schema
        self.schema = StateSchema(state_schema)
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.waiting_edges: list[tuple[tuple[str, ...], str]] = []
        self.branches: dict[str, list[Branch]] = {}
        self.compiled = False

    # ------------------------------------------------------------------ nodes

    def add_node(
        self,
        node: str | Callable[..., Any] | Any,
        action: Callable[..., Any] | Any | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        retry_policy: RetryPolicy | None = None,
        retry: RetryPolicy | None = None,
        destinations: dict[str, str] | tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> StateGraph:
        """Add a node: ``add_node(fn)`` (named after the function) or ``add_node(name, fn)``.

        ``retry_policy`` (or its older name ``retry``) retries a failing node run as LangGraph
        does (see :class:`RetryPolicy`). ``destinations`` names where a node returning
        ``Command(goto=...)`` may go (also read from a ``-> Command[Literal[...]]``
        annotation)."""
        if not isinstance(node, str):
            action, name = node, _name_of(node)
        else:
            name = node
        if action is None:
            raise TypeError(f"add_node({name!r}) needs a function or runnable to run")
        if name in (START, END):
            raise ValueError(f"Node `{name}` is reserved.")
        if name in self.nodes:
            raise ValueError(f"Node `{name}` already present.")
        for bad in ("|", ":"):
            if bad in name:
                raise ValueError(
                    f"'{bad}' is a reserved character and is not allowed in node names."
                )
        spec = NodeSpec.make(name, action, metadata, retry_policy or retry)
        if destinations is not None:
            spec.ends = tuple(destinations)
        self.nodes[name] = spec
        return self

    def add_sequence(self, nodes: Sequence[Callable[..., Any] | tuple[str, Any]]) -> StateGraph:
        """Add nodes that run one after the other."""
        previous: str | None = None
        for item in nodes:
            name, action = item if isinstance(item, tuple) else (_name_of(item), item)
            self.add_node(name, action)
            if previous is not None:
                self.add_edge(previous, name)
            previous = name
        return self

    # ------------------------------------------------------------------ edges

    def add_edge(self, start_key: str | Sequence[str], end_key: str) -> StateGraph:
        """Run ``end_key`` after ``start_key``; with a list of sources, after all of them."""
        if isinstance(start_key, str):
            if start_key == END:
                raise ValueError("END cannot be a start node")
            if end_key == START:
                raise ValueError("START cannot be an end node")
            self.edges.append((start_key, end_key))
            return self
        sources = tuple(start_key)
        for source in sources:
            if source == END:
                raise ValueError("END cannot be a start node")
        if end_key == START:
            raise ValueError("START cannot be an end node")
        self.waiting_edges.append((sources, end_key))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Any] | Any,
        path_map: dict[Hashable, str] | Sequence[str] | None = None,
    ) -> StateGraph:
        """After ``source``, run the node(s) that ``path(state)`` names (``END`` to stop).

        ``path_map`` maps what ``path`` returns to node names (a list means identity).
        """
        branch = Branch.make(source, path, path_map)
        existing = self.branches.setdefault(source, [])
        if any(b.name == branch.name for b in existing):
            raise ValueError(f"Branch with name `{branch.name}` already exists for node `{source}`")
        existing.append(branch)
        return self

    def set_entry_point(self, key: str) -> StateGraph:
        return self.add_edge(START, key)

    def set_conditional_entry_point(
        self, path: Callable[..., Any], path_map: dict[Hashable, str] | None = None
    ) -> StateGraph:
        return self.add_conditional_edges(START, path, path_map)

    def set_finish_point(self, key: str) -> StateGraph:
        return self.add_edge(key, END)

    # ------------------------------------------------------------------ compile

    def validate(self) -> None:
        """Raise ``ValueError`` naming the problem if the graph cannot run."""
        known = set(self.nodes)
        sources = {s for s, _ in self.edges} | {s for ss, _ in self.waiting_edges for s in ss}
        sources |= set(self.branches)
        for source in sources:
            if source != START and source not in known:
                raise ValueError(f"Found edge starting at unknown node '{source}'")
        if START not in sources:
            raise ValueError(
                "Graph must have an entrypoint: add at least one edge from START to another node"
            )
        targets = {t for _, t in self.edges} | {t for _, t in self.waiting_edges}
        for target in targets:
            if target != END and target not in known:
                raise ValueError(f"Found edge ending at unknown node `{target}`")
        for source, branches in self.branches.items():
            for branch in branches:
                for dest in (branch.path_map or {}).values():
                    if dest != END and dest not in known:
                        raise ValueError(
                            f"At '{source}' node, '{branch.name}' branch found unknown target "
                            f"'{dest}'"
                        )

    def compile(
        self,
        checkpointer: BaseCheckpointSaver | None = None,
        *,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> CompiledStateGraph:
        """Check the graph and return a runnable :class:`CompiledStateGraph`.

        ``checkpointer`` saves the state after every step (threads, ``interrupt()``);
        ``interrupt_before`` / ``interrupt_after`` stop the run before / after the named
        nodes (``"*"``: all), to be continued with ``invoke(None, config)``."""
        from ._compiled import CompiledStateGraph

        self.validate()
        for names in (interrupt_before, interrupt_after):
            if names and names != "*":
                for node in names:
                    if node not in self.nodes:
                        raise ValueError(f"Interrupt node `{node}` not found")
        edges: dict[str, list[str]] = {}
        for source, target in self.edges:
            if target not in edges.setdefault(source, []):
                edges[source].append(target)
        spec = GraphSpec(
            schema=self.schema,
            nodes=dict(self.nodes),
            edges=edges,
            joins=list(dict.fromkeys(self.waiting_edges)),
            branches={k: list(v) for k, v in self.branches.items()},
        )
        self.compiled = True
        return CompiledStateGraph(
            spec,
            checkpointer=checkpointer,
            name=name or "LangGraph",
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
        )
