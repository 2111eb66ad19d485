"""ASGI plumbing: read a request body, send a whole or streamed reply.

A streamed reply watches the connection while it relays: when the client
disconnects, the relay iterator is closed at once, which stops reading from
the provider and accounts the call as cancelled with the tokens so far.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from fleetcost.pipeline.state import Reply, StreamReply

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_BODY = 32 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body  # the common case: one message, no copy
    parts = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


def decode_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def send_reply(send: Send, receive: Receive, reply: Reply | StreamReply) -> None:
    if isinstance(reply, Reply):
        headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return
    await _send_stream(send, receive, reply)


async def _watch_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _send_stream(send: Send, receive: Receive, reply: StreamReply) -> None:
    """Relay chunks; if the client disconnects, cancel the relay where it waits.

    One watcher task per stream (not one task per chunk): on disconnect it
    cancels this handler's task, the cancellation lands inside the relay
    iterator (waiting on the provider) or here (waiting on the socket), and
    is absorbed below once the iterator has been closed and accounted.
    """
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def on_disconnect(fut: asyncio.Future[None]) -> None:
        nonlocal gone
        if not fut.cancelled():
            gone = True
            task.cancel()

    watcher = asyncio.ensure_future(_watch_disconnect(receive))
    watcher.add_done_callback(on_disconnect)
    chunks = reply.chunks
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
    finally:
        watcher.remove_done_callback(on_disconnect)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await chunks.aclose()  # type: ignore[attr-defined]
