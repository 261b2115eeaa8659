"""Where each LangChain / LangGraph / OpenAI-integration import lives in tokentide.

One table shared by ``tokentide port`` (the codemod), ``docs/porting.md`` (checked against
:func:`render_table` by a test) and the import twins (a test imports every supported row's
module and every name it lists). No imports from the package: the data only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["INCUMBENT_ROOTS", "MODULES", "ModuleRow", "render_table", "row_for"]

Status = Literal["supported", "planned", "unsupported"]

#: Top-level packages whose imports the codemod looks at.
INCUMBENT_ROOTS = (
    "langchain_core",
    "langchain",
    "langgraph",
    "langchain_openai",
    "langchain_community",
)

_MISSING = "ImportError (no such name in tokentide)"


@dataclass(frozen=True)
class ModuleRow:
    """One incumbent module: its tokentide twin and the names that port.

    ``names`` keep their name in ``target``; ``moved`` maps a name to ``"module:name"`` when it
    lives elsewhere or is renamed; ``unsupported`` names what does not port and what happens.
    """

    incumbent: str
    target: str | None
    status: Status = "supported"
    names: tuple[str, ...] = ()
    moved: Mapping[str, str] = field(default_factory=dict)
    unsupported: str = ""

    def destination(self, name: str) -> tuple[str, str] | None:
        """``(module, name)`` that ``name`` of this module ports to, or ``None``."""
        if self.status != "supported" or self.target is None:
            return None
        if name in self.names:
            return self.target, name
        moved = self.moved.get(name)
        if moved is not None:
            module, _, new = moved.partition(":")
            return module, new
        return None


_MESSAGES = (
    "AIMessage",
    "AIMessageChunk",
    "BaseMessage",
    "BaseMessageChunk",
    "ChatMessage",
    "HumanMessage",
    "HumanMessageChunk",
    "InputTokenDetails",
    "InvalidToolCall",
    "MessageLikeRepresentation",
    "OutputTokenDetails",
    "SystemMessage",
    "SystemMessageChunk",
    "ToolCall",
    "ToolCallChunk",
    "ToolMessage",
    "UsageMetadata",
    "convert_to_messages",
    "message_chunk_to_message",
)
#: Message names that ``langchain.messages`` (1.x) does not re-export.
_CORE_ONLY_MESSAGES = frozenset(
    {
        "BaseMessage",
        "BaseMessageChunk",
        "ChatMessage",
        "HumanMessageChunk",
        "SystemMessageChunk",
        "convert_to_messages",
        "message_chunk_to_message",
    }
)
_PROMPTS = (
    "AIMessagePromptTemplate",
    "BasePromptTemplate",
    "ChatPromptTemplate",
    "HumanMessagePromptTemplate",
    "MessagesPlaceholder",
    "PromptTemplate",
    "SystemMessagePromptTemplate",
)
_PARSERS = ("BaseOutputParser", "JsonOutputParser", "StrOutputParser")
_RUNNABLES = (
    "Runnable",
    "RunnableAssign",
    "RunnableBinding",
    "RunnableConfig",
    "RunnableGenerator",
    "RunnableLambda",
    "RunnableParallel",
    "RunnablePassthrough",
    "RunnableSequence",
    "chain",
    "ensure_config",
)
_LANGUAGE_MODELS = (
    "BaseChatModel",
    "BaseLLM",
    "FakeListChatModel",
    "GenericFakeChatModel",
    "LanguageModelInput",
)
_GRAPH = ("END", "START", "MessagesState", "StateGraph", "add_messages")
_CHECKPOINT_BASE = ("BaseCheckpointSaver", "Checkpoint", "CheckpointTuple")
_CUSTOM_EVENTS = ("adispatch_custom_event", "dispatch_custom_event")

MODULES: tuple[ModuleRow, ...] = (
    # ------------------------------------------------------------------ langchain_core
    ModuleRow(
        "langchain_core.messages",
        "tokentide.messages",
        names=_MESSAGES,
        moved={"get_buffer_string": "tokentide.prompts:get_buffer_string"},
        unsupported="content blocks, `RemoveMessage`, `trim_messages`, `filter_messages`, "
        "`FunctionMessage`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.prompts",
        "tokentide.prompts",
        names=_PROMPTS,
        unsupported="few-shot and jinja2 templates, `load_prompt`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.output_parsers",
        "tokentide.output_parsers",
        names=_PARSERS,
        unsupported="list, XML, Pydantic and tool-call parsers: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.runnables",
        "tokentide.runnables",
        names=_RUNNABLES,
        unsupported="`RunnableBranch`, `RunnableWithFallbacks`, `RunnableWithMessageHistory`, "
        "`ConfigurableField`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.runnables.config",
        "tokentide.runnables.config",
        names=("RunnableConfig", "ensure_config", "merge_configs"),
        unsupported="`patch_config`, `get_config_list`, `run_in_executor`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.callbacks",
        "tokentide.callbacks",
        names=(
            "AsyncCallbackHandler",
            "BaseCallbackHandler",
            "Callbacks",
            "StreamingStdOutCallbackHandler",
            "UsageMetadataCallbackHandler",
            *_CUSTOM_EVENTS,
            "get_usage_metadata_callback",
        ),
        unsupported="callback managers: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.callbacks.manager",
        "tokentide.callbacks.manager",
        names=_CUSTOM_EVENTS,
        unsupported="`CallbackManager` and run managers: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.language_models",
        "tokentide.language_models",
        names=_LANGUAGE_MODELS,
        unsupported="`LLM`, `SimpleChatModel`, `FakeListLLM`, `ParrotFakeChatModel`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.language_models.fake_chat_models",
        "tokentide.language_models",
        names=("FakeListChatModel", "GenericFakeChatModel"),
        unsupported="`FakeMessagesListChatModel`, `ParrotFakeChatModel`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.language_models.chat_models",
        "tokentide.language_models",
        names=("BaseChatModel",),
        unsupported="`SimpleChatModel`, `generate_from_stream`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_core.tools",
        "tokentide.tools",
        names=(
            "BaseTool",
            "InjectedToolArg",
            "InjectedToolCallId",
            "StructuredTool",
            "ToolException",
            "tool",
        ),
        unsupported="`Tool`, `BaseToolkit`, `create_retriever_tool`, `render_text_description`: "
        + _MISSING,
    ),
    ModuleRow(
        "langchain_core.documents",
        None,
        status="unsupported",
        unsupported="documents, retrievers and vector stores are out of scope: ImportError",
    ),
    # ------------------------------------------------------------------ langchain (1.x)
    ModuleRow(
        "langchain.messages",
        "tokentide.messages",
        names=tuple(n for n in _MESSAGES if n not in _CORE_ONLY_MESSAGES),
        unsupported="content blocks, `RemoveMessage`, `trim_messages`: " + _MISSING,
    ),
    ModuleRow(
        "langchain.prompts",
        "tokentide.prompts",
        names=_PROMPTS,
        unsupported="few-shot templates: " + _MISSING,
    ),
    ModuleRow(
        "langchain.chat_models",
        None,
        status="unsupported",
        unsupported="`init_chat_model`: construct `tokentide.models.ChatOpenAI` (or "
        "`ChatLlamaCpp`) instead; ImportError",
    ),
    ModuleRow(
        "langchain.agents",
        "tokentide.agents",
        names=("AgentState", "create_agent"),
    ),
    ModuleRow(
        "langchain.agents.middleware",
        "tokentide.agents.middleware",
        names=("HumanInTheLoopMiddleware", "InterruptOnConfig", "ToolCallRequest"),
        unsupported="`AgentMiddleware` and the other middleware classes: " + _MISSING,
    ),
    ModuleRow(
        "langchain.tools",
        "tokentide.tools",
        names=(
            "BaseTool",
            "InjectedToolArg",
            "InjectedToolCallId",
            "ToolException",
            "ToolRuntime",
            "tool",
        ),
        unsupported="`InjectedState`, `InjectedStore`: " + _MISSING,
    ),
    # ------------------------------------------------------------------ langgraph
    ModuleRow(
        "langgraph.graph",
        "tokentide.graph",
        names=_GRAPH,
        unsupported="`MessageGraph` (deprecated): " + _MISSING,
    ),
    ModuleRow(
        "langgraph.graph.state",
        "tokentide.graph",
        names=("StateGraph", "CompiledStateGraph"),
    ),
    ModuleRow(
        "langgraph.graph.message",
        "tokentide.graph.message",
        names=("MessagesState", "add_messages"),
        unsupported="`MessageGraph`, `REMOVE_ALL_MESSAGES`: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.types",
        "tokentide.types",
        names=(
            "Command",
            "Interrupt",
            "PregelTask",
            "RetryPolicy",
            "Send",
            "StateSnapshot",
            "StreamMode",
            "StreamWriter",
            "interrupt",
        ),
        unsupported="`CachePolicy`, `Overwrite`, `Durability`: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.config",
        "tokentide.config",
        names=("get_config", "get_stream_writer"),
        unsupported="`get_store`: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.errors",
        "tokentide.errors",
        names=(
            "GraphBubbleUp",
            "GraphInterrupt",
            "GraphRecursionError",
            "InvalidUpdateError",
            "ParentCommand",
        ),
        unsupported="`NodeInterrupt` (deprecated): " + _MISSING,
    ),
    ModuleRow(
        "langgraph.checkpoint.base",
        "tokentide.checkpoint",
        names=_CHECKPOINT_BASE,
        unsupported="`CheckpointMetadata`, serializers: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.checkpoint.memory",
        "tokentide.checkpoint.memory",
        names=("InMemorySaver", "MemorySaver"),
    ),
    ModuleRow(
        "langgraph.checkpoint.sqlite",
        "tokentide.checkpoint.sqlite",
        names=("SqliteSaver",),
        unsupported="`AsyncSqliteSaver` (`langgraph.checkpoint.sqlite.aio`): use `SqliteSaver` "
        "with `ainvoke`/`astream`; ImportError",
    ),
    ModuleRow(
        "langgraph.checkpoint.postgres",
        "tokentide.checkpoint.postgres",
        names=("PostgresSaver",),
        unsupported="`ShallowPostgresSaver`, `BasePostgresSaver`: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.checkpoint.postgres.aio",
        "tokentide.checkpoint.postgres.aio",
        names=("AsyncPostgresSaver",),
        unsupported="`AsyncShallowPostgresSaver`: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.prebuilt",
        "tokentide.prebuilt",
        names=("InjectedState", "ToolNode", "ToolRuntime", "create_react_agent", "tools_condition"),
        unsupported="`ValidationNode`, `InjectedStore`, `ToolCallTransformer`: " + _MISSING,
    ),
    ModuleRow(
        "langgraph.func",
        None,
        status="unsupported",
        unsupported="the functional API (`entrypoint`, `task`) is not implemented: ImportError",
    ),
    ModuleRow(
        "langgraph.store.memory",
        None,
        status="unsupported",
        unsupported="long-term stores are not implemented: ImportError",
    ),
    # ------------------------------------------------------------------ integrations
    ModuleRow(
        "langchain_openai",
        "tokentide.models",
        names=("ChatOpenAI", "OpenAI"),
        unsupported="`AzureChatOpenAI`, `OpenAIEmbeddings`: " + _MISSING,
    ),
    ModuleRow(
        "langchain_community.chat_models",
        "tokentide.models",
        names=("ChatLlamaCpp",),
        unsupported="every other provider: " + _MISSING,
    ),
    ModuleRow(
        "langchain_community.llms",
        "tokentide.models",
        names=("LlamaCpp",),
        unsupported="every other provider: " + _MISSING,
    ),
)

_BY_NAME = {row.incumbent: row for row in MODULES}


def row_for(module: str) -> ModuleRow | None:
    """The row of an incumbent module (exact path), if the table has one."""
    return _BY_NAME.get(module)


def render_table() -> str:
    """The Markdown table of ``docs/porting.md`` (one row per incumbent module)."""
    lines = [
        "| incumbent module | tokentide module | status | names that port | not supported (what happens) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in MODULES:
        names = [*row.names, *(f"{k} → {v.replace(':', '.')}" for k, v in row.moved.items())]
        target = f"`{row.target}`" if row.target else "—"
        shown = ", ".join(f"`{n}`" for n in names) if names else "—"
        lines.append(
            f"| `{row.incumbent}` | {target} | {row.status} | {shown} | {row.unsupported or '—'} |"
        )
    return "\n".join(lines) + "\n"
