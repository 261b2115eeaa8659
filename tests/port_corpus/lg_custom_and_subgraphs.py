"""Custom data with get_stream_writer, and a subgraph streamed with subgraphs=True."""

from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph


class State(TypedDict):
    query: str
    answer: str


def lookup(state: State) -> dict:
    writer = get_stream_writer()
    writer({"status": "looking up"})
    writer({"status": "found it"})
    return {"answer": f"answer to {state['query']}"}


class SubState(TypedDict):
    answer: str
    notes: str


def take_notes(state: SubState) -> dict:
    return {"notes": "noted", "answer": state["answer"] + " (checked)"}


sub = StateGraph(SubState).add_node(take_notes).add_edge(START, "take_notes").compile()

graph = (
    StateGraph(State)
    .add_node(lookup)
    .add_node("review", sub)
    .add_edge(START, "lookup")
    .add_edge("lookup", "review")
    .compile()
)

for chunk in graph.stream({"query": "tides"}, stream_mode="custom"):
    print(chunk)
for mode, chunk in graph.stream({"query": "tides"}, stream_mode=["custom", "updates"]):
    print(mode, chunk)
for namespace, chunk in graph.stream({"query": "tides"}, stream_mode="updates", subgraphs=True):
    print(len(namespace), [n.split(":")[0] for n in namespace], chunk)
