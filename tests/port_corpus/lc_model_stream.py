"""Streaming a chat model: sync chunks, async chunks, and adding chunks together."""

import asyncio

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

model = GenericFakeChatModel(
    messages=iter([AIMessage("The sky is blue today"), AIMessage("Parrots are colorful birds")] * 2)
)

for chunk in model.stream("what color is the sky?"):
    print(chunk.content, end="|", flush=True)
print()


async def main() -> None:
    async for chunk in model.astream([HumanMessage("tell me about parrots")]):
        print(chunk.content, end="|", flush=True)
    print()
    chunks = [chunk async for chunk in model.astream("sky again")]
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    print(type(total).__name__, repr(total.content), len(chunks))


asyncio.run(main())
