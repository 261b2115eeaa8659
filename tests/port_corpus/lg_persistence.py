"""A conversation kept by a checkpointer: two turns on a thread, its state and history."""

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

model = GenericFakeChatModel(
    messages=iter([AIMessage("Hi Bob!", id="r1"), AIMessage("Your name is Bob.", id="r2")])
)


def chat(state: MessagesState) -> dict:
    return {"messages": [model.invoke(state["messages"])]}


graph = StateGraph(MessagesState).add_node(chat).add_edge(START, "chat")
app = graph.compile(checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": "1"}}

for chunk, meta in app.stream(
    {"messages": [("user", "hi, I'm Bob")]}, config, stream_mode="messages"
):
    print(meta["langgraph_node"], repr(chunk.content))
for item in app.stream({"messages": [("user", "what's my name?")]}, config, stream_mode="values"):
    print([m.content for m in item["messages"]])

state = app.get_state(config)
print(state.next, state.metadata["step"], state.metadata["source"])
for snapshot in app.get_state_history(config):
    print(
        snapshot.metadata["step"],
        snapshot.metadata["source"],
        snapshot.next,
        len(snapshot.values.get("messages", [])),
    )
