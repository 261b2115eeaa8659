"""LLM tokens from inside nodes ("messages" mode), filtered by node and by tag.

needs: 3.11 (LangGraph's async nodes find their run without a config argument from 3.11 on)
"""

import asyncio
from typing import TypedDict

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import START, StateGraph

joke_model = GenericFakeChatModel(
    messages=iter([AIMessage("a joke about cats")] * 4), tags=["joke"]
)
poem_model = GenericFakeChatModel(messages=iter([AIMessage("roses are red")] * 4), tags=["poem"])


class State(TypedDict):
    topic: str
    joke: str
    poem: str


async def write_joke(state: State) -> dict:
    reply = await joke_model.ainvoke([{"role": "user", "content": f"joke on {state['topic']}"}])
    return {"joke": reply.content}


async def write_poem(state: State) -> dict:
    reply = await poem_model.ainvoke([{"role": "user", "content": f"poem on {state['topic']}"}])
    return {"poem": reply.content}


graph = (
    StateGraph(State)
    .add_node(write_joke)
    .add_node(write_poem)
    .add_edge(START, "write_joke")
    .add_edge("write_joke", "write_poem")
    .compile()
)


async def main() -> None:
    async for chunk, metadata in graph.astream({"topic": "cats"}, stream_mode="messages"):
        if chunk.content:
            print(metadata["langgraph_node"], metadata["tags"], repr(chunk.content))
    async for chunk, metadata in graph.astream({"topic": "cats"}, stream_mode="messages"):
        if chunk.content and "poem" in metadata.get("tags", []):
            print("poem only:", chunk.content, end="|")
    print()


asyncio.run(main())
