"""The public names of tokentide.server change only on purpose."""

from __future__ import annotations

import tokentide.server


def test_public_names() -> None:
    assert sorted(tokentide.server.__all__) == [
        "EventsExpired",
        "MemoryStreamStore",
        "RunEvent",
        "RunNotFound",
        "RunRecord",
        "RunStatus",
        "StreamStore",
        "TERMINAL_STATUSES",
        "TokentideApp",
        "create_app",
    ]
    for name in tokentide.server.__all__:
        assert hasattr(tokentide.server, name)
