"""A loopback server for ``tokentide bench --check``: the same OpenAI stream to every request.

Run by path in its own process (standard library only, so that it starts fast and shares no
interpreter with the client being measured)::

    python _bench_loopback.py 20000     # prints its port, serves on 127.0.0.1 until stdin closes

Every request gets one pre-serialized ``text/event-stream`` body of ``n`` ``chat.completion.chunk``
events (a role chunk first, then a finish chunk, a usage chunk and ``[DONE]``), written as fast
as the socket takes it. The body is byte for byte the one of the test suite's scripted server
in ``--blast`` mode, so ``bench/bench_openai.py`` and ``tokentide bench`` measure one stream.
The process ends when its standard input closes (its parent exited or closed the pipe).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any

__all__ = ["blast_body", "main"]


def _chunk(
    content: str | None = None, *, role: str | None = None, finish_reason: str | None = None
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return {**_chunk(), "choices": [], "usage": usage}


def blast_body(n: int, token: str = "tok") -> bytes:
    """The SSE body of ``n`` content chunks, a finish chunk, usage and ``[DONE]``."""
    one = b"data: " + json.dumps(_chunk(token), separators=(",", ":")).encode() + b"\n\n"
    parts = [b"data: " + json.dumps(_chunk(role="assistant", content="")).encode() + b"\n\n"]
    parts.append(one * n)
    parts.append(b"data: " + json.dumps(_chunk(finish_reason="stop")).encode() + b"\n\n")
    parts.append(b"data: " + json.dumps(_usage(5, n)).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


async def _read_request(reader: asyncio.StreamReader) -> bool:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False
    length = 0
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    try:
        await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    return True


async def _serve(n: int) -> None:
    body = blast_body(n)
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await _read_request(reader):
                writer.write(head + body)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(1024):
            pass
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """``python _bench_loopback.py N``: serve ``N`` chunks per request until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 20_000
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    asyncio.run(_serve(n))


if __name__ == "__main__":
    main()
