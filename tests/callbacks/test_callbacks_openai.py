"""The form most streaming tutorials teach, on the real HTTP model:
``ChatOpenAI(streaming=True, callbacks=[StreamingStdOutCallbackHandler()])``."""

from __future__ import annotations

import io

from fakes.sse_server import Script, ScriptedSSEServer
from tokentide.callbacks import StreamingStdOutCallbackHandler, UsageMetadataCallbackHandler
from tokentide.models import ChatOpenAI


def test_chat_openai_streaming_with_callbacks() -> None:
    out = io.StringIO()
    usage = UsageMetadataCallbackHandler()
    with ScriptedSSEServer(default=Script.tokens(["Hel", "lo", "!"])) as upstream:
        model = ChatOpenAI(
            model="fake-model",
            base_url=upstream.base_url,
            api_key="x",
            max_retries=0,
            streaming=True,
            callbacks=[StreamingStdOutCallbackHandler(out), usage],
        )
        try:
            assert model.invoke("hi").content == "Hello!"
        finally:
            model.close()
    assert out.getvalue() == "Hello!"
    assert usage.usage_metadata["fake-model"]["output_tokens"] == 3
