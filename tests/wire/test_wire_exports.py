"""The public names of tokentide.wire change only on purpose."""

from __future__ import annotations

import tokentide.wire


def test_public_names() -> None:
    assert sorted(tokentide.wire.__all__) == [
        "NO_CHANGE",
        "PartialJSONParser",
        "SSEDecoder",
        "ServerSentEvent",
        "encode_comment",
        "encode_data",
        "encode_sse",
        "parse_partial_json",
    ]
    for name in tokentide.wire.__all__:
        assert hasattr(tokentide.wire, name)
