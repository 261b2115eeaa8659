"""The OpenAI Responses API: ``POST /v1/responses``, ``GET /v1/responses/{id}`` (with
``?stream=true&starting_after=N`` to resume a background response) and
``POST /v1/responses/{id}/cancel``.

A reply is the model's one chunk stream through a `ResponsesEncoder`: streamed as SSE
(``event:`` + ``data:`` per event, no ``[DONE]``) or answered whole as one ``response``
object. Errors before the first token get an HTTP status and an OpenAI error object; after it,
a ``response.failed`` event.

Responses with ``store`` (the default) are kept in the run store: their record holds the
``response`` object and the conversation, which ``previous_response_id`` continues, on any
replica sharing the store. A ``background`` response runs on its own (a client leaving does not
stop it): its events go into the store (event id = ``sequence_number + 1``), so any replica can
resume its stream or cancel it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tokentide.messages import (
    AIMessageChunk,
    BaseMessage,
    ChunkAccumulator,
    SystemMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from tokentide.runtime import aclose_if_closable

from ._asgi import EventStream, HTTPError, Receive, Send, send_json, watch_disconnect
from ._assistants import Assistant, Ticket
from ._openai_api import collect_reply, upstream_error
from ._responses_encode import Event, ResponsesEncoder
from ._responses_input import ResponsesRequest, parse_responses_request
from ._store import TERMINAL_STATUSES, EventsExpired, RunNotFound, RunRecord, StreamStore

__all__ = ["ResponsesService"]

Emit = Callable[[list[Event]], Awaitable[None]]
_STATUS = {"completed": "success", "incomplete": "success", "failed": "error"}


@dataclass(slots=True)
class _Turn:
    """One response being made: the request, its model, the messages sent to the model, the
    conversation to store (without the instructions) and the encoder and accumulator of the
    reply."""

    assistant: Assistant
    request: ResponsesRequest
    messages: list[BaseMessage]
    conversation: list[BaseMessage]
    encoder: ResponsesEncoder
    acc: ChunkAccumulator = field(default_factory=ChunkAccumulator)

    def reserve(self) -> Ticket | None:
        """A place in the model's queue (``None``: the model has no gate)."""
        gate = self.assistant.gate
        return gate.reserve() if gate is not None else None


def frames(events: list[Event]) -> bytes:
    """SSE frames (``event:`` and ``data:`` lines) of encoded events."""
    return "".join([f"event: {kind}\ndata: {data}\n\n" for kind, data in events]).encode()


def _not_found(response_id: str) -> HTTPError:
    return HTTPError(
        404,
        f"No response found with id '{response_id}' (unknown, not stored or expired).",
        code="response_not_found",
    )


class ResponsesService:
    """The Responses endpoints of one app, over its run store.

    Example::

        service = ResponsesService(MemoryStreamStore(), heartbeat=15.0)
        await service.create(assistants, body, send, receive)
    """

    def __init__(
        self, store: StreamStore, *, heartbeat: float | None, cancel_wait: float = 2.0
    ) -> None:
        self.store = store
        self.heartbeat = heartbeat
        self.cancel_wait = cancel_wait
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def aclose(self) -> None:
        """Cancel this replica's background responses and wait for them to record their end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    # ------------------------------------------------------------------ POST /v1/responses

    async def create(
        self,
        assistant_for: Callable[[str], Assistant],
        body: Any,
        send: Send,
        receive: Receive,
    ) -> None:
        request = parse_responses_request(body)
        assistant = assistant_for(request.model)
        history = await self._history(request.previous_response_id)
        messages = [*history, *request.messages]
        if request.instructions:
            messages.insert(0, SystemMessage(request.instructions))
        base = {"created_at": int(time.time()), "model": request.model, **request.echo}
        encoder = ResponsesEncoder(f"resp_{uuid.uuid4().hex}", base)
        conversation = [*history, *request.messages]
        turn = _Turn(assistant, request, messages, conversation, encoder)
        if request.background:
            await self._background(turn, send, receive)
        elif request.stream:
            await self._stream(turn, send, receive)
        else:
            await self._whole(turn, send, receive)

    async def _history(self, previous: str | None) -> list[BaseMessage]:
        if previous is None:
            return []
        record = await self.store.get_run(previous)
        if record is None or record.metadata.get("kind") != "response":
            raise HTTPError(
                404,
                f"Previous response with id '{previous}' not found (unknown, stored with "
                "'store': false, or expired).",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return convert_to_messages(record.metadata.get("conversation") or [])

    async def _stream(self, turn: _Turn, send: Send, receive: Receive) -> None:
        ticket = turn.reserve()

        async def produce(events: EventStream) -> None:
            async def emit(batch: list[Event]) -> None:
                await events.send(frames(batch))

            try:
                if ticket is not None:
                    await ticket.wait()
                await produce_response(turn, emit)
            finally:
                if ticket is not None:
                    ticket.release()

        disconnected = await EventStream(send, receive, heartbeat=self.heartbeat).run(produce)
        if disconnected and turn.encoder.status == "in_progress":
            turn.encoder.cancelled()
        if turn.request.store and turn.encoder.seq:
            await self._save(turn, background=False)

    async def _whole(self, turn: _Turn, send: Send, receive: Receive) -> None:
        ticket = turn.reserve()

        async def collect() -> None:
            chunks = turn.assistant.chat(turn.messages, turn.request.options, turn.request.tools)
            await collect_reply(chunks, ticket, turn.acc.add)

        disconnected, _ = await watch_disconnect(receive, collect())
        if disconnected:
            return
        turn.encoder.chunk(turn.acc.result())
        turn.encoder.finish()
        if turn.request.store:
            await self._save(turn, background=False)
        await send_json(send, 200, turn.encoder.response())

    async def _save(
        self,
        turn: _Turn,
        *,
        background: bool,
        create: bool = True,
    ) -> None:
        encoder, acc = turn.encoder, turn.acc
        reply = message_chunk_to_message(acc.result())
        turns = (
            [*turn.conversation, reply]
            if (reply.content or reply.tool_calls)
            else turn.conversation
        )
        record = RunRecord(
            run_id=encoder.id,
            assistant=str(encoder.base.get("model")),
            status=_STATUS.get(encoder.status, "cancelled"),  # type: ignore[arg-type]
            output=encoder.response(),
            usage=dict(acc.result().usage_metadata or {}) or None,
            metadata={
                "kind": "response",
                "background": background,
                "conversation": [m.to_dict() for m in turns],
            },
        )
        if create:
            await self.store.create_run(record)
        else:
            await self.store.update_run(record)
        await self.store.end_stream(encoder.id)

    # ------------------------------------------------------------------ background

    async def _background(self, turn: _Turn, send: Send, receive: Receive) -> None:
        ticket = turn.reserve()
        response_id = turn.encoder.id
        turn.encoder.status = "queued"
        record = RunRecord(
            run_id=response_id,
            assistant=turn.request.model,
            output=turn.encoder.response(),
            metadata={"kind": "response", "background": True, "conversation": []},
        )
        try:
            await self.store.create_run(record)
        except BaseException:
            if ticket is not None:
                ticket.release()
            raise
        turn.encoder.status = "in_progress"
        task = asyncio.create_task(self._run_background(turn, ticket))
        self._tasks[response_id] = task
        if turn.request.stream:
            await self._replay(response_id, 0, send, receive)
        else:
            queued = {**record.output, "status": "queued"}
            await send_json(send, 200, queued)

    async def _run_background(self, turn: _Turn, ticket: Ticket | None) -> None:
        response_id = turn.encoder.id
        task = asyncio.current_task()
        watcher = asyncio.create_task(self._watch_cancel(response_id, task))

        async def emit(batch: list[Event]) -> None:
            for kind, data in batch:
                await self.store.append(response_id, kind, data)

        try:
            if ticket is not None:
                await ticket.wait()
            record = await self.store.get_run(response_id)
            if record is not None:
                record.status = "running"
                record.output = turn.encoder.response()
                await self.store.update_run(record)
            await emit(turn.encoder.start())
            try:
                await produce_response(turn, emit, eager=True)
            except HTTPError as exc:
                await emit(turn.encoder.fail(exc.code or exc.type, exc.message))
        except asyncio.CancelledError:
            turn.encoder.cancelled()
        finally:
            if ticket is not None:
                ticket.release()
            watcher.cancel()
            self._tasks.pop(response_id, None)
        await self._save(turn, background=True, create=False)

    async def _watch_cancel(self, response_id: str, task: asyncio.Task[Any] | None) -> None:
        await self.store.wait_cancel(response_id)
        if task is not None and self._tasks.get(response_id) is task:
            task.cancel()  # (not once it is saving its end)

    async def _replay(self, response_id: str, after: int, send: Send, receive: Receive) -> None:
        store = self.store

        async def produce(events: EventStream) -> None:
            await events.start()
            reader = store.read(response_id, after)
            try:
                async for event in reader:
                    await events.send(f"event: {event.event}\ndata: {event.data}\n\n".encode())
            except (EventsExpired, RunNotFound) as exc:
                error = {"type": "error", "code": type(exc).__name__, "message": str(exc)}
                await events.send(frames([("error", _json(error))]))
            finally:
                await reader.aclose()  # type: ignore[attr-defined]

        await EventStream(send, receive, heartbeat=self.heartbeat).run(produce)

    # ------------------------------------------------------------------ GET and cancel

    async def _record(self, response_id: str) -> RunRecord:
        record = await self.store.get_run(response_id)
        if record is None or record.metadata.get("kind") != "response":
            raise _not_found(response_id)
        return record

    async def get(
        self, response_id: str, query_string: bytes, send: Send, receive: Receive
    ) -> None:
        record = await self._record(response_id)
        query = parse_qs(query_string.decode("latin-1"))
        if query.get("stream", ["false"])[-1].lower() != "true":
            await send_json(send, 200, record.output)
            return
        if not record.metadata.get("background"):
            raise HTTPError(400, "Only background responses can be streamed again.", param="stream")
        raw = query.get("starting_after", ["-1"])[-1]
        try:
            after = int(raw)
        except ValueError:
            after = -2
        if after < -1:
            raise HTTPError(
                400,
                f"'starting_after' must be a sequence number, got {raw!r}",
                param="starting_after",
            )
        await self._replay(response_id, after + 1, send, receive)

    async def cancel(self, response_id: str, send: Send) -> None:
        record = await self._record(response_id)
        if not record.metadata.get("background"):
            raise HTTPError(400, "Only background responses can be cancelled.")
        if record.status not in TERMINAL_STATUSES:
            await self.store.request_cancel(response_id)
            task = self._tasks.get(response_id)
            if task is not None:
                await asyncio.wait((task,), timeout=self.cancel_wait)
            deadline = time.monotonic() + self.cancel_wait
            while record.status not in TERMINAL_STATUSES and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                record = await self._record(response_id)
        await send_json(send, 200, record.output)


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def produce_response(
    turn: _Turn,
    emit: Emit,
    *,
    eager: bool = False,
) -> None:
    """Run the model and emit the events of its reply. Before the first token a failure is
    an `HTTPError` (a status for a live stream); after it, ``response.failed``. ``eager``:
    ``response.created`` was already emitted."""
    encoder, acc = turn.encoder, turn.acc
    stream: Any = None
    try:
        try:
            stream = turn.assistant.open_chat(
                turn.messages, turn.request.options, turn.request.tools
            )
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = AIMessageChunk("")
        except Exception as exc:
            raise upstream_error(exc) from exc
        acc.add(first)
        head = [] if eager else encoder.start()
        await emit(head + encoder.chunk(first))
        add, encode = acc.add, encoder.chunk
        async for chunk in stream:
            add(chunk)
            events = encode(chunk)
            if events:
                await emit(events)
        await emit(encoder.finish())
    except HTTPError:
        raise
    except Exception as exc:
        await emit(encoder.fail("server_error", f"{type(exc).__name__}: {exc}"))
    finally:
        if stream is not None:
            await aclose_if_closable(stream)
