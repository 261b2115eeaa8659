"""The tokentide server: an OpenAI-compatible chat completions endpoint and a runs API with
resumable, cancellable event streams, for any chat model or graph; pure ASGI.

Example::

    import uvicorn
    from tokentide.models import FakeChatModel
    from tokentide.server import create_app

    app = create_app(models={"gpt-4o-mini": FakeChatModel(["Hello from tokentide!"])})
    uvicorn.run(app, host="127.0.0.1", port=8000)
    # then: openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")

From the command line: ``tokentide serve --model local``.
"""

from ._app import TokentideApp, create_app
from ._limits import ServerLimits, uvicorn_options
from ._store import (
    TERMINAL_STATUSES,
    EventsExpired,
    MemoryStreamStore,
    RunEvent,
    RunNotFound,
    RunRecord,
    RunStatus,
    StoreUnavailable,
    StreamStore,
)

__all__ = [
    "TERMINAL_STATUSES",
    "EventsExpired",
    "MemoryStreamStore",
    "RunEvent",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "ServerLimits",
    "StoreUnavailable",
    "StreamStore",
    "TokentideApp",
    "create_app",
    "uvicorn_options",
]
