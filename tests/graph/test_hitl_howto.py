"""LangGraph's human-in-the-loop how-to code, ported by changing imports only (the model is
LangGraph's model string or ``ChatAnthropic``; here the scripted ``FakeChatModel`` under that
name, as the seed tests do): approve or reject with ``Command[Literal[...]]``, review and edit
state, review a tool call inside the tool, and static breakpoints on a prebuilt agent."""

from __future__ import annotations

import uuid
from typing import Literal, TypedDict

from tokentide.checkpoint.memory import InMemorySaver
from tokentide.graph import END, StateGraph
from tokentide.messages import AIMessage, ToolCall
from tokentide.models import FakeChatModel as ChatAnthropic
from tokentide.prebuilt import create_react_agent
from tokentide.runnables import RunnableConfig
from tokentide.types import Command, interrupt

# ------------------------------------------------------------------ approve or reject


class State(TypedDict):
    llm_output: str
    decision: str


def generate_llm_output(state: State) -> State:
    return {"llm_output": "This is the generated output."}  # type: ignore[typeddict-item]


def human_approval(state: State) -> Command[Literal["approved_path", "rejected_path"]]:
    decision = interrupt(
        {
            "question": "Do you approve the following output?",
            "llm_output": state["llm_output"],
        }
    )
    if decision == "approve":
        return Command(goto="approved_path", update={"decision": "approved"})
    return Command(goto="rejected_path", update={"decision": "rejected"})


def approved_node(state: State) -> State:
    print("✅ Approved path taken.")
    return state


def rejected_node(state: State) -> State:
    print("❌ Rejected path taken.")
    return state


def _approval_graph() -> object:
    builder = StateGraph(State)
    builder.add_node("generate_llm_output", generate_llm_output)
    builder.add_node("human_approval", human_approval)
    builder.add_node("approved_path", approved_node)
    builder.add_node("rejected_path", rejected_node)
    builder.set_entry_point("generate_llm_output")
    builder.add_edge("generate_llm_output", "human_approval")
    builder.add_edge("approved_path", END)
    builder.add_edge("rejected_path", END)
    checkpointer = InMemorySaver()
    return builder.compile(checkpointer=checkpointer)


def test_approve_or_reject() -> None:
    graph = _approval_graph()
    for answer, path in (("approve", "approved"), ("reject", "rejected")):
        config: RunnableConfig = {"configurable": {"thread_id": uuid.uuid4()}}
        result = graph.invoke({}, config=config)  # type: ignore[attr-defined]
        (pending,) = result["__interrupt__"]
        assert pending.value == {
            "question": "Do you approve the following output?",
            "llm_output": "This is the generated output.",
        }
        final_result = graph.invoke(Command(resume=answer), config=config)  # type: ignore[attr-defined]
        assert final_result == {"llm_output": "This is the generated output.", "decision": path}
    assert graph.builder.nodes["human_approval"].ends == ("approved_path", "rejected_path")  # type: ignore[attr-defined]


# ------------------------------------------------------------------ review and edit state


class EditState(TypedDict):
    summary: str


def generate_summary(state: EditState) -> EditState:
    return {"summary": "The cat sat on the mat and looked at the stars."}


def human_review_edit(state: EditState) -> EditState:
    result = interrupt(
        {"task": "Please review and edit the generated summary if necessary.", **state}
    )
    return {"summary": result["edited_summary"]}


def downstream_use(state: EditState) -> EditState:
    print(f"✅ Using edited summary: {state['summary']}")
    return state


async def test_review_and_edit_state() -> None:
    builder = StateGraph(EditState)
    builder.add_node("generate_summary", generate_summary)
    builder.add_node("human_review_edit", human_review_edit)
    builder.add_node("downstream_use", downstream_use)
    builder.set_entry_point("generate_summary")
    builder.add_edge("generate_summary", "human_review_edit")
    builder.add_edge("human_review_edit", "downstream_use")
    builder.add_edge("downstream_use", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": uuid.uuid4()}}
    result = await graph.ainvoke({}, config=config)
    assert result["__interrupt__"][0].value["task"].startswith("Please review")
    edited = {"edited_summary": "The cat lay on the rug, gazing peacefully at the night sky."}
    resumed = await graph.ainvoke(Command(resume=edited), config=config)
    assert resumed == {"summary": edited["edited_summary"]}


# ------------------------------------------------------------------ review tool calls


def book_hotel(hotel_name: str):
    """Book a hotel"""
    response = interrupt(
        f"Trying to call `book_hotel` with args {{'hotel_name': {hotel_name}}}. "
        "Please approve or suggest edits."
    )
    if response["type"] == "accept":
        pass
    elif response["type"] == "edit":
        hotel_name = response["args"]["hotel_name"]
    else:
        raise ValueError(f"Unknown response type: {response['type']}")
    return f"Successfully booked a stay at {hotel_name}."


def _model() -> ChatAnthropic:
    call: ToolCall = {
        "name": "book_hotel",
        "args": {"hotel_name": "McKittrick Hotel"},
        "id": "call_1",
    }
    return ChatAnthropic(
        [AIMessage("", tool_calls=[call]), "Your stay at the hotel is booked."],
        model="claude-3-5-sonnet-latest",
    )


def test_review_tool_calls_accept_and_edit() -> None:
    for resume, booked in (
        ({"type": "accept"}, "McKittrick Hotel"),
        ({"type": "edit", "args": {"hotel_name": "The Plaza"}}, "The Plaza"),
    ):
        checkpointer = InMemorySaver()
        agent = create_react_agent(model=_model(), tools=[book_hotel], checkpointer=checkpointer)
        config: RunnableConfig = {"configurable": {"thread_id": "1"}}
        first = list(
            agent.stream(
                {"messages": [{"role": "user", "content": "book a stay at McKittrick hotel"}]},
                config,
            )
        )
        assert list(first[0]) == ["agent"]
        (pending,) = first[-1]["__interrupt__"]
        assert pending.value.startswith("Trying to call `book_hotel`")
        second = list(agent.stream(Command(resume=resume), config))
        tool_reply = second[0]["tools"]["messages"][0]
        assert tool_reply.content == f"Successfully booked a stay at {booked}."
        assert second[-1]["agent"]["messages"][0].content == "Your stay at the hotel is booked."


async def test_static_breakpoint_before_tools() -> None:
    agent = create_react_agent(
        model=_model(),
        tools=[_plain_book_hotel()],
        checkpointer=InMemorySaver(),
        interrupt_before=["tools"],
    )
    config: RunnableConfig = {"configurable": {"thread_id": "2"}}
    items = [
        chunk async for chunk in agent.astream({"messages": [("user", "book McKittrick")]}, config)
    ]
    assert items[-1] == {"__interrupt__": ()}
    assert agent.get_state(config).next == ("tools",)
    done = await agent.ainvoke(None, config)
    assert done["messages"][-1].content == "Your stay at the hotel is booked."


def _plain_book_hotel():
    def book_hotel(hotel_name: str) -> str:
        """Book a hotel"""
        return f"Booked {hotel_name}."

    return book_hotel
