"""Map-reduce with Send: one task per subject, results gathered in send order."""

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


class Overall(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]


def split(state: Overall) -> dict:
    return {"subjects": [f"subject {i}" for i in range(12)]}


def fan_out(state: Overall) -> list:
    return [Send("joke", {"subject": s}) for s in state["subjects"]]


def joke(state: dict) -> dict:
    return {"jokes": [f"joke about {state['subject']}"]}


graph = (
    StateGraph(Overall)
    .add_node(split)
    .add_node(joke)
    .add_edge(START, "split")
    .add_conditional_edges("split", fan_out, ["joke"])
    .add_edge("joke", END)
    .compile()
)

print(graph.invoke({"subjects": [], "jokes": []})["jokes"])
# Task starts come in send order; results as the tasks finish (so only their count is shown).
finished = 0
for step in graph.stream({"subjects": [], "jokes": []}, stream_mode="debug"):
    if step["type"] == "task":
        print(step["step"], step["type"], step["payload"]["name"], step["payload"]["input"])
    else:
        finished += 1
print("results:", finished)
