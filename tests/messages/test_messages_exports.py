from __future__ import annotations

import tokentide.messages as messages


def test_public_names_are_pinned() -> None:
    assert messages.__all__ == [
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
    ]
    for name in messages.__all__:
        assert getattr(messages, name) is not None


def test_public_classes_have_docstrings_with_examples() -> None:
    for name in messages.__all__:
        obj = getattr(messages, name)
        if isinstance(obj, type):
            assert obj.__doc__ and "Example" in obj.__doc__, name


def test_layer_imports_only_errors_and_wire() -> None:
    import ast
    import pathlib

    folder = pathlib.Path(messages.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("tokentide"):
                    assert node.module in ("tokentide.errors", "tokentide.wire"), path.name
