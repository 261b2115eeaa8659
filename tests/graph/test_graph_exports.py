"""The public names of ``tokentide.graph`` and ``tokentide.checkpoint`` change only on purpose."""

from __future__ import annotations

import tokentide.checkpoint
import tokentide.graph
import tokentide.graph.message


def test_graph_exports() -> None:
    assert tokentide.graph.__all__ == [
        "END",
        "START",
        "Command",
        "CompiledStateGraph",
        "MessagesState",
        "Send",
        "StateGraph",
        "StateSnapshot",
        "StreamMode",
        "StreamWriter",
        "add_messages",
        "get_stream_writer",
    ]
    assert tokentide.graph.message.__all__ == ["MessagesState", "add_messages"]
    for name in tokentide.graph.__all__:
        assert getattr(tokentide.graph, name) is not None


def test_checkpoint_exports() -> None:
    assert tokentide.checkpoint.__all__ == [
        "BaseCheckpointSaver",
        "Checkpoint",
        "CheckpointTuple",
        "InMemorySaver",
        "MemorySaver",
        "SqliteSaver",
    ]
    assert tokentide.checkpoint.InMemorySaver is tokentide.checkpoint.MemorySaver
