"""A two-node graph streamed in "values" and "updates" modes, and several modes at once."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    topic: str
    joke: str


def refine_topic(state: State) -> dict:
    return {"topic": state["topic"] + " and cats"}


def generate_joke(state: State) -> dict:
    return {"joke": f"This is a joke about {state['topic']}"}


graph = (
    StateGraph(State)
    .add_node(refine_topic)
    .add_node(generate_joke)
    .add_edge(START, "refine_topic")
    .add_edge("refine_topic", "generate_joke")
    .add_edge("generate_joke", END)
    .compile()
)

for chunk in graph.stream({"topic": "ice cream"}, stream_mode="values"):
    print(chunk)
for chunk in graph.stream({"topic": "ice cream"}, stream_mode="updates"):
    print(chunk)
for mode, chunk in graph.stream({"topic": "ice cream"}, stream_mode=["updates", "values"]):
    print(mode, chunk)
print(graph.invoke({"topic": "ice cream"}))
