"""The public API changes only on purpose: every public module's ``__all__`` is pinned here.

Adding or removing a public name means editing this file in the same change, so that a review
sees it. Every pinned name must also resolve, and private modules stay private.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

PUBLIC_API: dict[str, list[str]] = {
    "tokentide": [
        "__version__",
    ],
    "tokentide.errors": [
        "APIConnectionError",
        "APIError",
        "APIStatusError",
        "APITimeoutError",
        "AuthenticationError",
        "BadRequestError",
        "GraphBubbleUp",
        "GraphInterrupt",
        "GraphRecursionError",
        "InvalidUpdateError",
        "MissingDependencyError",
        "NotFoundError",
        "ParentCommand",
        "PermissionDeniedError",
        "PoolTimeoutError",
        "ProtocolError",
        "ProviderError",
        "RateLimitError",
        "StreamError",
        "StreamIdleTimeout",
        "StreamInterrupted",
        "TokentideError",
    ],
    "tokentide.wire": [
        "DEFAULT_MAX_EVENT_BYTES",
        "NO_CHANGE",
        "PartialJSONParser",
        "SSEDecoder",
        "SSEEventTooLarge",
        "ServerSentEvent",
        "encode_comment",
        "encode_data",
        "encode_sse",
        "parse_partial_json",
    ],
    "tokentide.messages": [
        "AIMessage",
        "AIMessageChunk",
        "BaseMessage",
        "BaseMessageChunk",
        "ChatMessage",
        "ChunkAccumulator",
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
        "add_usage",
        "convert_to_messages",
        "invalid_tool_call",
        "merge_dicts",
        "merge_message_chunks",
        "merge_tool_call_chunks",
        "message_chunk_to_message",
        "message_from_dict",
        "message_to_openai_dict",
        "messages_to_dicts",
        "parse_tool_call_chunks",
        "tool_call",
        "tool_call_chunk",
    ],
    "tokentide.runnables": [
        "RunContext",
        "Runnable",
        "RunnableAssign",
        "RunnableBinding",
        "RunnableConfig",
        "RunnableGenerator",
        "RunnableLambda",
        "RunnableParallel",
        "RunnablePassthrough",
        "RunnableSequence",
        "StreamEvent",
        "adispatch_custom_event",
        "chain",
        "coerce_to_runnable",
        "current_run",
        "dispatch_custom_event",
        "ensure_config",
        "merge_configs",
    ],
    "tokentide.prompts": [
        "AIMessagePromptTemplate",
        "BasePromptTemplate",
        "ChatPromptTemplate",
        "ChatPromptValue",
        "HumanMessagePromptTemplate",
        "MessagesPlaceholder",
        "MissingVariablesError",
        "PromptTemplate",
        "PromptValue",
        "StringPromptValue",
        "SystemMessagePromptTemplate",
        "get_buffer_string",
    ],
    "tokentide.output_parsers": [
        "BaseOutputParser",
        "JsonOutputParser",
        "OutputParserException",
        "StrOutputParser",
    ],
    "tokentide.callbacks": [
        "AsyncCallbackHandler",
        "AsyncIteratorCallbackHandler",
        "BaseCallbackHandler",
        "Callbacks",
        "ChatGeneration",
        "ChatGenerationChunk",
        "Generation",
        "GenerationChunk",
        "LLMResult",
        "StreamingStdOutCallbackHandler",
        "UsageMetadataCallbackHandler",
        "adispatch_custom_event",
        "dispatch_custom_event",
        "get_usage_metadata_callback",
    ],
    "tokentide.observe": [
        "instrument",
        "uninstrument",
    ],
    "tokentide.callbacks.manager": [
        "adispatch_custom_event",
        "dispatch_custom_event",
    ],
    "tokentide.runnables.config": [
        "RunnableConfig",
        "ensure_config",
        "merge_configs",
    ],
    "tokentide.language_models": [
        "BaseChatModel",
        "BaseLLM",
        "FakeChatModel",
        "FakeListChatModel",
        "GenericFakeChatModel",
        "LanguageModelInput",
    ],
    "tokentide.types": [
        "Command",
        "Interrupt",
        "PregelTask",
        "RetryPolicy",
        "Send",
        "StateSnapshot",
        "StreamMode",
        "StreamWriter",
        "interrupt",
    ],
    "tokentide.config": [
        "get_config",
        "get_stream_writer",
    ],
    "tokentide.checkpoint.memory": [
        "InMemorySaver",
        "MemorySaver",
    ],
    "tokentide.checkpoint.sqlite": [
        "SqliteSaver",
    ],
    "tokentide.checkpoint.postgres": [
        "PostgresSaver",
    ],
    "tokentide.checkpoint.postgres.aio": [
        "AsyncPostgresSaver",
    ],
    "tokentide.models": [
        "AsyncChatStream",
        "AsyncCompletionStream",
        "BaseChatModel",
        "BaseLLM",
        "ChatAnthropic",
        "ChatLlamaCpp",
        "ChatOpenAI",
        "ChatStream",
        "CompletionInfo",
        "CompletionStream",
        "CompletionText",
        "FakeChatModel",
        "LanguageModelInput",
        "LlamaCpp",
        "OpenAI",
    ],
    "tokentide.graph": [
        "Command",
        "CompiledStateGraph",
        "END",
        "Interrupt",
        "MessagesState",
        "PregelTask",
        "START",
        "Send",
        "StateGraph",
        "StateSnapshot",
        "StreamMode",
        "StreamWriter",
        "add_messages",
        "get_stream_writer",
        "interrupt",
    ],
    "tokentide.graph.message": [
        "MessagesState",
        "add_messages",
    ],
    "tokentide.checkpoint": [
        "AsyncPostgresSaver",
        "BaseCheckpointSaver",
        "Checkpoint",
        "CheckpointTuple",
        "InMemorySaver",
        "MemorySaver",
        "PendingWrite",
        "PostgresSaver",
        "SqliteSaver",
    ],
    "tokentide.render": [
        "DEFAULT_RATE",
        "MarkdownStream",
        "Pacer",
        "adisplay_stream",
        "aprint_markdown_stream",
        "asmooth",
        "display_stream",
        "in_notebook",
        "is_terminal",
        "print_markdown_stream",
        "smooth",
    ],
    "tokentide.server": [
        "EventsExpired",
        "MemoryStreamStore",
        "RunEvent",
        "RunNotFound",
        "RunRecord",
        "RunStatus",
        "ServerLimits",
        "StoreUnavailable",
        "StreamStore",
        "TERMINAL_STATUSES",
        "TokentideApp",
        "create_app",
        "uvicorn_options",
    ],
    "tokentide.cli": [
        "main",
    ],
    "tokentide.agents": [
        "AgentState",
        "create_agent",
    ],
    "tokentide.agents.middleware": [
        "Action",
        "ActionRequest",
        "ApproveDecision",
        "Decision",
        "DecisionType",
        "EditDecision",
        "HITLRequest",
        "HITLResponse",
        "HumanInTheLoopMiddleware",
        "InterruptOnConfig",
        "RejectDecision",
        "RespondDecision",
        "ReviewConfig",
        "ToolCallRequest",
    ],
    "tokentide.prebuilt": [
        "AgentState",
        "InjectedState",
        "InjectedToolArg",
        "InjectedToolCallId",
        "ToolInvocationError",
        "ToolNode",
        "ToolRuntime",
        "create_react_agent",
        "tools_condition",
    ],
    "tokentide.tools": [
        "BaseTool",
        "InjectedToolArg",
        "InjectedToolCallId",
        "StructuredTool",
        "ToolException",
        "ToolInputError",
        "ToolRuntime",
        "convert_to_openai_tool",
        "emit_tool_output",
        "is_tool_call",
        "tool",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == PUBLIC_API[module_name]


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_every_public_name_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{module_name}.{name}"


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_public_classes_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type) and not isinstance(value, types.GenericAlias):
            assert value.__doc__, f"{module_name}.{name} has no docstring"


def test_aliases() -> None:
    import tokentide.checkpoint

    assert tokentide.checkpoint.InMemorySaver is tokentide.checkpoint.MemorySaver


def test_importing_the_core_loads_no_optional_dependency() -> None:
    """`import tokentide.models` / `.runnables` / `.render` must work without the extras
    (llama.cpp, uvicorn, redis, IPython are imported only when used; `rich` is not checked
    because httpx itself imports it when it is installed)."""
    code = (
        "import sys, tokentide.models, tokentide.runnables, tokentide.render, tokentide.graph;"
        "heavy = {'llama_cpp', 'uvicorn', 'redis', 'IPython', 'starlette'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
