"""A scripted local SSE server for tests: OpenAI-style streams with fault injection.

The server listens on 127.0.0.1 (asyncio, in a background thread), answers each HTTP request
with the next queued `Script` (or the default one), and records every request and when each
client connection closed, so tests can measure how fast a client lets go of a stream.

Example::

    with ScriptedSSEServer() as server:
        server.push(Script.tokens(["Hel", "lo"], rate=0.01))
        server.push(Script.error(429, retry_after=0))
        url = server.base_url            # "http://127.0.0.1:PORT/v1"
        ...
        server.requests[0].json["model"]
        server.connections[0].closed_at  # time.monotonic() of the client's close

Steps of a script: `data` (a JSON payload or raw string as ``data: ...``), `comment`
(``: ping``), `raw` bytes, `sleep`, `end` (end the body cleanly, no ``[DONE]`` unless sent),
`reset` (TCP RST), `drop` (close the socket mid-body). ``rate`` sleeps before every `data`.

``Script(encoding="gzip")`` (or ``"deflate"``) compresses the event stream as a compressing
proxy does (``Content-Encoding``, one sync flush per step); ``Script.page`` answers 200 with a
whole body that is not an event stream (an HTML page).

Run as a script (``python tests/fakes/sse_server.py --blast 20000``) it serves, in its own
process, a pre-serialized stream of N content chunks as fast as it can (for benchmarks) and
prints its port; ``--protocol anthropic`` or ``--protocol responses`` serves N text deltas of
the Anthropic Messages or OpenAI Responses stream instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConnectionRecord",
    "RecordedRequest",
    "Script",
    "ScriptedSSEServer",
    "blast_body",
    "chat_chunk",
    "comment",
    "data",
    "drop",
    "end",
    "raw",
    "reset",
    "sleep",
    "usage_chunk",
]

Step = tuple[str, Any]


def data(payload: Any) -> Step:
    """``data: <payload>`` (a dict/list is JSON-encoded; a str is sent as is)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return ("send", f"data: {text}\n\n".encode())


def comment(text: str = "ping") -> Step:
    return ("send", f": {text}\n\n".encode())


def raw(chunk: bytes) -> Step:
    return ("send", chunk)


def sleep(seconds: float) -> Step:
    return ("sleep", seconds)


def end() -> Step:
    return ("end", None)


def reset() -> Step:
    return ("reset", None)


def drop() -> Step:
    return ("drop", None)


def chat_chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish_reason: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    id: str = "chatcmpl-fake",
    model: str = "fake-model",
    usage: dict[str, Any] | None = None,
    **delta: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a single choice."""
    d: dict[str, Any] = {}
    if role is not None:
        d["role"] = role
    if content is not None:
        d["content"] = content
    if tool_calls is not None:
        d["tool_calls"] = tool_calls
    d.update(delta)
    choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish_reason}
    return _chunk(id, model, [choice], usage)


def _chunk(
    id: str, model: str, choices: list[dict[str, Any]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": choices,
        "usage": usage,
    }


def usage_chunk(
    prompt: int,
    completion: int,
    *,
    id: str = "chatcmpl-fake",
    model: str = "fake-model",
    **extra: Any,
) -> dict[str, Any]:
    """OpenAI's final chunk with empty ``choices`` and the usage."""
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        **extra,
    }
    return _chunk(id, model, [], usage)


@dataclass
class Script:
    """One scripted response: a status, headers, and body steps (for 200) or a body."""

    steps: Sequence[Step] = ()
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    rate: float = 0.0
    encoding: str | None = None

    @classmethod
    def page(cls, body: bytes, content_type: str = "text/html; charset=utf-8") -> Script:
        """A ``200`` with a whole body that is not an event stream."""
        return cls(status=200, headers={"Content-Type": content_type}, body=body)

    @classmethod
    def tokens(
        cls,
        tokens: Iterable[str],
        *,
        rate: float = 0.0,
        usage: tuple[int, int] | None = (5, -1),
        done: bool = True,
        after: Sequence[Step] = (),
        model: str = "fake-model",
    ) -> Script:
        """A normal stream: role chunk, one chunk per token, finish, usage, ``[DONE]``.

        ``after`` replaces everything following the tokens (to inject a failure there);
        ``usage=(prompt, -1)`` counts one completion token per chunk.
        """
        tokens = list(tokens)
        steps: list[Step] = [data(chat_chunk(role="assistant", content="", model=model))]
        steps += [data(chat_chunk(token, model=model)) for token in tokens]
        if after:
            return cls([*steps, *after], rate=rate)
        steps.append(data(chat_chunk(finish_reason="stop", model=model)))
        if usage is not None:
            n_out = len(tokens) if usage[1] < 0 else usage[1]
            steps.append(data(usage_chunk(usage[0], n_out, model=model)))
        if done:
            steps.append(data("[DONE]"))
        return cls(steps, rate=rate)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "scripted error",
        *,
        retry_after: float | None = None,
        type: str = "invalid_request_error",
        code: str | None = None,
    ) -> Script:
        """An HTTP error with an OpenAI-style JSON body."""
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = json.dumps({"error": {"message": message, "type": type, "code": code}}).encode()
        return cls(status=status, headers=headers, body=body)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ConnectionRecord:
    opened_at: float
    closed_at: float | None = None
    requests: int = 0


class ScriptedSSEServer:
    """Scripted HTTP/1.1 SSE server on 127.0.0.1 in a background thread (see module doc)."""

    def __init__(self, default: Script | None = None) -> None:
        self.default = default or Script.tokens(["Hello", " world"])
        self.scripts: deque[Script] = deque()
        self.requests: list[RecordedRequest] = []
        self.connections: list[ConnectionRecord] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *scripts: Script) -> None:
        """Queue scripts for the next requests, in order."""
        with self._lock:
            self.scripts.extend(scripts)

    def wait_closed(self, index: int = -1, timeout: float = 2.0) -> float:
        """Wait until connection ``index`` is closed by the client; return its close time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.connections[index] if self.connections else None
            if record is not None and record.closed_at is not None:
                return record.closed_at
            time.sleep(0.001)
        raise TimeoutError("the client did not close its connection")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ScriptedSSEServer:
        self._thread = threading.Thread(target=self._run, name="sse-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the scripted SSE server did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None:
            loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> ScriptedSSEServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop_event.wait()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ connections

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = ConnectionRecord(opened_at=time.monotonic())
        self.connections.append(record)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                record.requests += 1
                self.requests.append(request)
                with self._lock:
                    script = self.scripts.popleft() if self.scripts else self.default
                if not await self._respond(script, reader, writer, record):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if record.closed_at is None:
                record.closed_at = time.monotonic()
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)

    async def _respond(
        self,
        script: Script,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: ConnectionRecord,
    ) -> bool:
        """Send one response; return whether the connection stays open for another request."""
        if script.status != 200 or script.body:
            head = _head(script.status, {**script.headers, "Content-Length": str(len(script.body))})
            writer.write(head + script.body)
            await writer.drain()
            return True
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
            **script.headers,
        }
        if script.encoding:
            headers["Content-Encoding"] = script.encoding
        writer.write(_head(200, headers))
        await writer.drain()
        watcher = asyncio.ensure_future(_watch_eof(reader, record))
        try:
            return await self._play(script, writer, watcher)
        finally:
            if not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _play(
        self, script: Script, writer: asyncio.StreamWriter, watcher: asyncio.Future[None]
    ) -> bool:
        packer = None
        if script.encoding:
            packer = zlib.compressobj(wbits=31 if script.encoding == "gzip" else 15)
        for kind, arg in script.steps:
            if watcher.done():
                return False
            if kind == "send":
                if script.rate:
                    await _sleep_or_eof(script.rate, watcher)
                    if watcher.done():
                        return False
                if packer is not None:
                    arg = packer.compress(arg) + packer.flush(zlib.Z_SYNC_FLUSH)
                writer.write(b"%x\r\n%s\r\n" % (len(arg), arg))
                await writer.drain()
            elif kind == "sleep":
                await _sleep_or_eof(arg, watcher)
            elif kind == "end":
                break
            elif kind == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
            elif kind == "drop":
                writer.transport.abort()
                return False
        if packer is not None:
            tail = packer.flush()
            writer.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return not watcher.done()


async def _watch_eof(reader: asyncio.StreamReader, record: ConnectionRecord) -> None:
    """Finish (recording the time) when the client closes its side.

    Polls instead of reading so that it never consumes the bytes of a next request.
    """
    while not (reader.at_eof() or reader.exception() is not None):  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    record.closed_at = time.monotonic()


async def _sleep_or_eof(seconds: float, watcher: asyncio.Future[None]) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(watcher), seconds)


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method, path, headers, body, time.monotonic())


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ---------------------------------------------------------------------- benchmark mode


def blast_body(n: int, token: str = "tok") -> bytes:
    """The SSE body of ``n`` content chunks, a finish chunk, usage and ``[DONE]``."""
    one = b"data: " + json.dumps(chat_chunk(token), separators=(",", ":")).encode() + b"\n\n"
    parts = [b"data: " + json.dumps(chat_chunk(role="assistant", content="")).encode() + b"\n\n"]
    parts.append(one * n)
    parts.append(b"data: " + json.dumps(chat_chunk(finish_reason="stop")).encode() + b"\n\n")
    parts.append(b"data: " + json.dumps(usage_chunk(5, n)).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps({"type": name, **payload}, separators=(",", ":"))
    return f"event: {name}\ndata: {body}\n\n".encode()


def anthropic_blast_body(n: int, token: str = "tok") -> bytes:
    """An Anthropic Messages stream of ``n`` ``text_delta`` events."""
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "m",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    delta = {"index": 0, "delta": {"type": "text_delta", "text": token}}
    return b"".join(
        [
            _event("message_start", {"message": message}),
            _event(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            ),
            _event("content_block_delta", delta) * n,
            _event("content_block_stop", {"index": 0}),
            _event(
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": n},
                },
            ),
            _event("message_stop", {}),
        ]
    )


def responses_blast_body(n: int, token: str = "tok") -> bytes:
    """An OpenAI Responses stream of ``n`` ``response.output_text.delta`` events."""

    def response(status: str, usage: Any = None) -> dict[str, Any]:
        return {
            "id": "resp_1",
            "object": "response",
            "created_at": 1700000000,
            "model": "m",
            "status": status,
            "output": [],
            "usage": usage,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }

    item = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    usage = {
        "input_tokens": 5,
        "output_tokens": n,
        "total_tokens": n + 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    return b"".join(
        [
            _event("response.created", {"sequence_number": 0, "response": response("in_progress")}),
            _event(
                "response.output_item.added",
                {"sequence_number": 1, "output_index": 0, "item": item},
            ),
            _event("response.content_part.added", {"sequence_number": 2, **where, "part": part}),
            _event(
                "response.output_text.delta",
                {"sequence_number": 3, **where, "delta": token, "logprobs": []},
            )
            * n,
            _event(
                "response.completed",
                {"sequence_number": 4, "response": response("completed", usage)},
            ),
        ]
    )


BLAST_BODIES = {
    "chat": blast_body,
    "anthropic": anthropic_blast_body,
    "responses": responses_blast_body,
}


async def _blast_main(n: int, port: int, protocol: str = "chat") -> None:
    body = BLAST_BODIES[protocol](n)
    head = _head(200, {"Content-Type": "text/event-stream", "Content-Length": str(len(body))})

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await _read_request(reader) is not None:
                writer.write(head + body)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blast", type=int, required=True, help="content chunks per response")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--protocol", choices=sorted(BLAST_BODIES), default="chat")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_blast_main(args.blast, args.port, args.protocol))


if __name__ == "__main__":
    main()
