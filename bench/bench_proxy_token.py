"""CPU per relayed token: where a proxy's time goes when every token arrives on its own.

``bench_server.py --proxy`` measures the whole machine (clients, uvicorn, proxy, upstream) on
shared cores. This script isolates the proxy's own per-token work: three ASGI apps are called
in this process, with no client sockets and no ASGI server, for N streams at once of T paced
tokens each (the paced upstream of ``bench_server.py``, 50 ms between tokens, in another
process), and the figure is this process's CPU time per token:

- **proxy floor**: the bare ASGI app of ``bench_server.py --proxy-floor`` (tokentide's pool and
  connections, every piece of the upstream's body sent on unparsed);
- **parse floor**: the same requests, each event's JSON read and a chat-completions frame made
  for its text (an ``AIMessageChunk`` given to the proxy's own encoder) and sent, in one loop:
  about the least a proxy that parses every token spends, with none of what the layers above
  give (no guard, no reply folded, no usage, no typed errors, no observers; text only);
- **ChatOpenAI.astream()**: the same requests through the model's stream (SSE decode, JSON,
  one ``AIMessageChunk`` per token, the guard), one fixed frame sent per chunk;
- **tokentide proxy**: the app of ``tokentide serve --model openai:<name>`` (what
  ``bench_server.py --proxy`` serves): the model's stream, the chat-completions frame, the
  access log's observer.

Paced tokens arrive one per socket read, so each token wakes its stream's task once: the
figures include that wake-up, which a bench that sends the whole body at once (where many
tokens arrive per read) does not see.

Run::

    python bench/bench_proxy_token.py [--runs 5] [--streams 500] [--tokens 100]
    python bench/bench_proxy_token.py --smoke    # tiny, checks that the script works
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_server  # noqa: E402
from bench._common import Result, parse_args, print_table, write_jsonl  # noqa: E402
from bench.bench_proxy_request import _one, interleaved, median_rows  # noqa: E402

BENCH = "proxy_token"
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
}
_FRAME = {"type": "http.response.body", "body": b"data: x\n\n", "more_body": True}


def _model_app(upstream: str) -> Any:
    """``ChatOpenAI.astream()`` relayed as one fixed frame per chunk: the model's share."""
    from tokentide.models import ChatOpenAI

    model = ChatOpenAI(model="paced", base_url=upstream, api_key="bench", max_connections=2048)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not await bench_server._read_request(scope, receive):
            return
        await send(_START)
        async with model.astream("hi") as stream:  # closed even if a send fails
            async for _ in stream:
                await send(_FRAME)
        await send({"type": "http.response.body", "body": b""})

    return app


def _parse_floor_app(upstream: str) -> Any:
    """The parse floor: the proxy floor's requests, each event's JSON read (the OpenAI parser's
    own ``load_data``) and its text sent as the proxy's frame (its ``ChunkEncoder``)."""
    from tokentide.messages import AIMessageChunk
    from tokentide.models._http import HTTPTransport
    from tokentide.models._openai_core import load_data
    from tokentide.server._openai_api import ChunkEncoder
    from tokentide.wire import SSEDecoder

    transport = HTTPTransport(base_url=upstream, api_key="bench", max_connections=2048)
    body = {"model": "paced", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not await bench_server._read_request(scope, receive):
            return
        response = await transport._aopen("/chat/completions", body)
        read, pieces = transport._areader(response)
        decoder = SSEDecoder()
        encoder = ChunkEncoder("chatcmpl-bench", 0, "paced")
        try:
            await send(_START)
            await send({"type": "http.response.body", "body": encoder.role(), "more_body": True})
            while piece := await read(None):
                for event in decoder.feed(piece):
                    if event.data == "[DONE]":
                        continue
                    choices = load_data(event.data).get("choices")
                    delta = choices[0].get("delta") if choices else None
                    content = delta.get("content") if delta else None
                    if content:
                        frame = encoder.chunk(AIMessageChunk(content))
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": encoder.finish()})
        finally:
            if pieces is not None:
                await pieces.aclose()  # type: ignore[attr-defined]
            await response.aclose()

    return app


async def _cpu_per_token(app: Any, streams: int, tokens: int) -> float:
    start = time.process_time()
    await asyncio.gather(*(_one(app) for _ in range(streams)))
    return (time.process_time() - start) / (streams * tokens)


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--streams", type=int, default=500)
    pre.add_argument("--tokens", type=int, default=100)
    own, rest = pre.parse_known_args(argv)
    args = parse_args(
        __doc__.splitlines()[0] + " (also: --streams N, --tokens T)", rest, default_runs=5
    )
    streams, tokens = (10, 5) if args.smoke else (own.streams, own.tokens)
    figures = interleaved(
        tokens,
        lambda url: {
            "proxy floor (bare ASGI, tokentide pool, bytes relayed)": (
                bench_server._proxy_floor_app(url)
            ),
            "parse floor (JSON read, frame sent, text only)": _parse_floor_app(url),
            "ChatOpenAI.astream() (a fixed frame per chunk)": _model_app(url),
            "tokentide proxy (openai:<name>)": bench_server._proxy_app(url),
        },
        lambda app, warm: _cpu_per_token(app, min(streams, 50) if warm else streams, tokens),
        args.runs,
    )
    case = f"{streams} streams x {tokens} paced tokens, at once"
    rows, (floor, parse, model, proxy) = median_rows(
        BENCH, case, figures, "us CPU/token", args.runs
    )
    rows.append(Result(BENCH, case, "parse floor over the floor", max(parse - floor, 0.0), "us"))
    rows.append(Result(BENCH, case, "model stream over the floor", max(model - floor, 0.0), "us"))
    rows.append(Result(BENCH, case, "proxy over the parse floor", max(proxy - parse, 0.0), "us"))
    rows.append(Result(BENCH, case, "server layer over the model", max(proxy - model, 0.0), "us"))
    print_table(rows)
    if args.jsonl is not None:
        write_jsonl(args.jsonl, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
