"""A prompt | model | parser chain streams the parser's output."""

import asyncio

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

replies = iter([AIMessage("Why did the parrot talk? It had a lot to say")] * 3)
model = GenericFakeChatModel(messages=replies)
prompt = ChatPromptTemplate.from_template("tell me a joke about {topic}")
chain = prompt | model | StrOutputParser()

for piece in chain.stream({"topic": "parrot"}):
    print(piece, end="|")
print()


async def main() -> None:
    async for piece in chain.astream({"topic": "parrot"}):
        print(piece, end="|")
    print()
    print(repr(await chain.ainvoke({"topic": "parrot"})))


asyncio.run(main())
