"""Custom events from inside a runnable, and the @chain decorator."""

import asyncio

from langchain_core.callbacks.manager import adispatch_custom_event
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda, chain

model = GenericFakeChatModel(messages=iter([AIMessage("a tiny poem")] * 4))


async def slow_step(text: str, config: RunnableConfig) -> str:
    await adispatch_custom_event("progress", {"done": 0.5}, config=config)
    await adispatch_custom_event("progress", {"done": 1.0}, config=config)
    return text + "!"


@chain
async def poem(topic: str) -> str:
    reply = await model.ainvoke(f"write about {topic}")
    return reply.content


async def main() -> None:
    step = RunnableLambda(slow_step)
    async for event in step.astream_events("go", version="v2"):
        if event["event"] == "on_custom_event":
            print(event["name"], event["data"])
    async for event in poem.astream_events("cats", version="v2"):
        if event["event"] in ("on_chain_start", "on_chat_model_stream", "on_chain_end"):
            data = event["data"]
            value = data.get("chunk", data.get("output", data.get("input")))
            print(event["event"], event["name"], getattr(value, "content", value))
    print(await poem.ainvoke("dogs"))


asyncio.run(main())
