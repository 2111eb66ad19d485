"""A lean HTTP/1.1 keep-alive client for the load generator.

Why not aiohttp or httpx here: on two cores shared with the emulator and the
gateway, every microsecond the load generator spends is taken from the
systems under test. This client sends pre-encoded request bytes and lets
httptools (the C parser uvicorn uses) walk the response, keeping only the
status, the byte count and the last bytes of the body (to see `[DONE]` at
the end of a stream). One connection carries one request at a time.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

import httptools

DONE = b"data: [DONE]"
# The gateway appends one SSE comment (the call's cost) after [DONE]; 256
# bytes of tail hold both with room to spare.
TAIL = 256


class ResponseError(Exception):
    """A response that does not count as a success (status, stream, or socket)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def encode_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """The full request, headers and body, encoded once per (target, body)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAuthorization: Bearer sk-bench\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request()` sends and waits for the whole response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.alive = False
        self.last_used = 0.0
        self._waiter: asyncio.Future[int] | None = None
        self._status = 0
        self._tail = b""
        self._bytes = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.alive = True

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("parse")

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._fail("closed")

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._bytes += len(body)
        self._tail = (self._tail + body)[-TAIL:]

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self._status)

    def _fail(self, kind: str) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ResponseError(kind))
        if self.transport is not None and kind == "parse":
            self.transport.close()

    async def request(self, raw: bytes, stream: bool) -> int:
        """Send `raw`; return the response size in bytes, or raise ResponseError."""
        if not self.alive or self.transport is None:
            raise ResponseError("closed")
        self._status, self._tail, self._bytes = 0, b"", 0
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self.transport.write(raw)
        status = await waiter
        self.last_used = time.perf_counter()
        if status != 200:
            raise ResponseError(f"http_{status}")
        if stream and DONE not in self._tail:
            raise ResponseError("stream_without_done")
        return self._bytes

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(Connection, host, port)
    return proto


class Pool:
    """Idle connections to one server, most recently used first.

    LIFO reuse keeps the working set small; connections idle longer than
    `max_idle` are dropped before the server's keep-alive timeout (uvicorn
    closes after 5 s) can race with a new request on them.
    """

    def __init__(self, host: str, port: int, max_idle: float = 3.0) -> None:
        self.host, self.port, self.max_idle = host, port, max_idle
        self.idle: list[Connection] = []
        self.opened = 0

    async def acquire(self) -> Connection:
        now = time.perf_counter()
        while self.idle:
            conn = self.idle.pop()
            if conn.alive and now - conn.last_used < self.max_idle:
                return conn
            conn.close()
        self.opened += 1
        return await connect(self.host, self.port)

    def release(self, conn: Connection) -> None:
        if conn.alive:
            self.idle.append(conn)

    async def prewarm(self, n: int) -> None:
        conns = await asyncio.gather(*(connect(self.host, self.port) for _ in range(n)))
        now = time.perf_counter()
        for conn in conns:
            conn.last_used = now
        self.opened += n
        self.idle.extend(conns)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
