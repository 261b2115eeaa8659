"""astream_events v2: every event of a chain, then filtered by name, type and tag."""

import asyncio

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda


def build():
    model = GenericFakeChatModel(messages=iter([AIMessage("hello big world")] * 10))
    prompt = ChatPromptTemplate.from_template("say hi to {name}")
    shout = RunnableLambda(lambda text: text.upper()).with_config(run_name="shout")
    return (prompt | model.with_config(tags=["greeter"]) | StrOutputParser() | shout).with_config(
        tags=["my_chain"], run_name="greeting"
    )


def describe(event):
    data = event["data"]
    shown = {k: (v.content if hasattr(v, "content") else v) for k, v in data.items()}
    return (event["event"], event["name"], event["tags"], sorted(shown), shown.get("chunk"))


async def main() -> None:
    for filters in (
        {},
        {"include_names": ["StrOutputParser", "shout"]},
        {"include_types": ["chat_model"]},
        {"include_tags": ["greeter"]},
        {"exclude_types": ["prompt", "chain"]},
    ):
        print("--", filters)
        async for event in build().astream_events({"name": "Bob"}, version="v2", **filters):
            if event["event"].endswith("_stream") and event["data"]["chunk"] == "":
                continue
            print(describe(event))
        first = [e async for e in build().astream_events({"name": "Bob"}, version="v2", **filters)]
        print("first input:", first[0]["data"].get("input"))

    model = GenericFakeChatModel(messages=iter([AIMessage("just the model")]))
    async for event in model.astream_events("hello", version="v2"):
        if event["event"] == "on_chat_model_start":
            print("model start input:", event["data"]["input"])


asyncio.run(main())
