"""A minimal HTTP/1.1 client for the gateway's upstream leg.

Why not aiohttp: the gateway is CPU-bound, and aiohttp costs ~0.12 ms of CPU
per call here against ~0.03 ms for an `asyncio.Protocol` on httptools
(bench/, `client` scenario). The gateway POSTs a body it holds and reads the
answer whole or streamed; that is all this does: an unbounded keep-alive pool
per origin (the provider pushes back, not us), TLS with the default context,
Content-Length, chunked and until-close bodies, backpressure, connect and
per-read timeouts. A reused connection found dead before any response byte is
retried once on a new one: the server cannot have processed what it never
answered. Not supported: HTTP/2, proxies, redirects, cookies, compression
(we send `accept-encoding: identity`), `Expect: 100-continue`, HEAD, upgrades.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast, overload
from urllib.parse import urlsplit

import httptools

_T = TypeVar("_T")

# Past this many unread body bytes, stop reading from the socket (backpressure).
HIGH_WATER = 256 * 1024
# Headers the client writes itself: a caller's copy would duplicate or contradict them.
OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                         "accept-encoding"})
# Characters that would let a header value start a new header (or a new request).
_UNSAFE = re.compile(r"[\r\n\0]")
DEFAULT_PORTS = {"http": 80, "https": 443}


class UpstreamConnectionError(Exception):
    """The connection failed: refused, reset, closed early, or not speaking HTTP."""


class _StaleConnection(UpstreamConnectionError):
    """The connection ended before any response byte, so the request can be resent."""


@dataclass(frozen=True, slots=True)
class Timeout:
    """Limits in seconds, None for none. No total: a long stream is not a slow one."""

    read: float | None = None
    connect: float | None = None


class Headers(Mapping[str, str]):
    """Response headers, case-insensitive, repeats joined by ', ' (`get` skips a KeyError)."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items  # keys already lower-case

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...
    def get(self, name: str, /, default: object = None) -> object:
        return self._items.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("upstream read timed out"))


class Response:
    """Status and headers at once, the body whole or streamed; end with release() or close().

    The callback target of a parser made for it: nothing leaks between exchanges."""

    __slots__ = ("_chunks", "_conn", "_ended", "_eof_body", "_error", "_raw",
                 "_received", "_size", "_timeout", "_waiter", "done", "headers", "keep_alive",
                 "status")

    def __init__(self, conn: _Connection, read_timeout: float | None) -> None:
        self.status, self.headers, self.keep_alive = 0, Headers({}), False
        self.done = False  # the whole body has arrived
        self._conn, self._timeout = conn, read_timeout
        self._ended = False  # released or closed
        self._raw: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0  # bytes in _chunks
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._received = False  # any byte of the response, for the stale-connection retry
        self._eof_body = False  # neither length nor chunked: the body ends at EOF

    @property
    def content(self) -> Response:
        """aiohttp's spelling (`resp.content.iter_any()`), kept so callers read the same."""
        return self

    async def read(self) -> bytes:
        """The rest of the body, waiting for all of it."""
        parts: list[bytes] = []
        while True:
            if self._chunks:
                parts.append(self._take())
            if self.done:
                return b"".join(parts)
            await self._wait()

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (all that is buffered at each step)."""
        while True:
            if self._chunks:
                yield self._take()
            elif self.done:
                return
            else:
                await self._wait()

    def release(self) -> None:
        """Give the connection back to the pool if it can carry another request."""
        self._end(self.done and self.keep_alive)

    def close(self) -> None:
        """Drop the connection, whatever state the response is in."""
        self._end(False)

    def _end(self, reuse: bool) -> None:
        if not self._ended:
            self._ended = True
            self._conn.finish(reuse=reuse)
            self._fail(UpstreamConnectionError("response read after it was released"))

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        if not self._ended:  # else the connection may already carry another exchange
            self._conn.pause(False)
        return data

    async def _wait(self) -> None:
        """Wait for the connection to deliver something, at most one read timeout."""
        if self._error is not None:
            raise self._error
        loop = self._conn.loop
        waiter = self._waiter = loop.create_future()
        timer = None if self._timeout is None else loop.call_later(self._timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if not self.done and self._error is None:
            self._error = error
            self._wake()

    def _lost(self, exc: Exception | None) -> None:
        """The connection ended: the body's natural end, a stale socket, or a cut."""
        if self._eof_body and exc is None:
            self.done = True
            self._wake()
        elif not self._received:
            self._fail(_StaleConnection("upstream closed the connection without answering"))
        else:
            self._fail(UpstreamConnectionError(f"upstream cut the response: {exc or 'EOF'}"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.done:  # a second answer to one request: raising makes feed_data fail
            raise UpstreamConnectionError("unsolicited response")
        self._raw = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        raw = self._raw
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        raw[key] = f"{raw[key]}, {text}" if key in raw else text

    def on_headers_complete(self) -> None:
        parser = self._conn.parser
        status = parser.get_status_code() if parser is not None else 0
        if status < 200:  # interim 1xx: the real answer follows
            return
        raw = self._raw
        self._eof_body = "content-length" not in raw and "transfer-encoding" not in raw
        self.keep_alive = parser is not None and parser.should_keep_alive()
        self.headers = Headers(raw)
        self.status = status
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._size += len(body)
        if self._size > HIGH_WATER:
            self._conn.pause(True)
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:  # end of an interim 1xx response
            return
        self.done = True
        self._conn.pause(False)
        self._wake()


class _Connection(asyncio.Protocol):
    """One socket, carrying one exchange at a time for its pool."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.response: Response | None = None
        self.paused, self.idle_since = False, 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it
        self.pool.conns.add(self)

    def data_received(self, data: bytes) -> None:
        resp, parser = self.response, self.parser
        if resp is None or parser is None or resp.done:  # bytes nobody asked for
            self._drop()
            return
        resp._received = True
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            resp._fail(UpstreamConnectionError(f"invalid HTTP response: {exc!r}"))
            self._drop()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pool.conns.discard(self)
        if self in self.pool.idle:
            self.pool.idle.remove(self)
        if self.response is not None and not self.response.done:
            self.response._lost(exc)

    def pause(self, paused: bool) -> None:
        """Stop or restart reading from the socket (backpressure from the consumer)."""
        if paused == self.paused:
            return
        self.paused = paused
        if self.transport is not None and not self.transport.is_closing():
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    async def send(self, data: bytes, read_timeout: float | None) -> Response:
        """Write one request and wait for the response's status and headers."""
        if self.transport is None or self.transport.is_closing():
            raise _StaleConnection("upstream closed the connection while it was idle")
        resp = self.response = Response(self, read_timeout)
        self.parser = httptools.HttpResponseParser(resp)
        self.transport.write(data)
        try:
            while resp.status == 0:
                await resp._wait()
        except BaseException:
            resp.close()
            raise
        return resp

    def finish(self, *, reuse: bool) -> None:
        self.response = self.parser = None
        if reuse and self.transport is not None and not self.transport.is_closing():
            self.idle_since = self.loop.time()
            self.pool.idle.append(self)
        else:
            self._drop()

    def _drop(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """Connections to one origin; `idle` is a stack (most recently used on top)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, max_idle: float) -> None:
        self.host, self.port, self.tls, self.max_idle = host, port, tls, max_idle
        self.idle: list[_Connection] = []
        self.conns: set[_Connection] = set()

    def pop_idle(self, now: float) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if now - conn.idle_since < self.max_idle and conn.transport is not None:
                return conn
            conn._drop()
        return None

    async def connect(self, timeout: float | None) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                _, conn = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None)
        except TimeoutError:  # an OSError too, but the caller tells timeouts apart
            raise
        except OSError as exc:
            raise UpstreamConnectionError(
                f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn


# What a URL resolves to, worked out once per URL: its pool, path, and Host header.
_Target = tuple[_Pool, str, str]


class HttpClient:
    """Keep-alive pools per origin, and per URL its parsed form (URLs come from config)."""

    def __init__(self, *, max_idle_s: float = 30.0, tls: ssl.SSLContext | None = None) -> None:
        self._max_idle = max_idle_s
        self._tls = tls
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: Timeout,
    ) -> Response:
        """Send one request; return at its headers (the caller reads, then releases it)."""
        pool, path, host = self._targets.get(url) or self._target(url)
        data = encode_request(method, path, host, headers, body)
        conn = pool.pop_idle(asyncio.get_running_loop().time())
        if conn is not None:
            try:
                return await conn.send(data, timeout.read)
            except _StaleConnection:
                pass  # the server had closed it; nothing was processed
        conn = await pool.connect(timeout.connect)
        return await conn.send(data, timeout.read)

    async def close(self) -> None:
        """Drop every connection, busy or idle; the client stays usable."""
        for pool in self._pools.values():
            for conn in list(pool.conns):
                conn._drop()
        self._pools.clear()
        self._targets.clear()
        await asyncio.sleep(0)  # let the transports report their close

    def _target(self, url: str) -> _Target:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in DEFAULT_PORTS or not host:
            raise ValueError(f"unsupported URL {url!r} (http:// or https:// with a host)")
        port = parts.port or DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            if scheme == "https" and self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls if scheme == "https" else None
            pool = self._pools[key] = _Pool(host, port, tls, self._max_idle)
        name = f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")
        host_header = name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = self._targets[url] = (pool, path, host_header)
        return target


def encode_request(method: str, path: str, host: str, headers: Mapping[str, str],
                   body: bytes) -> bytes:
    """The request's bytes: our framing headers, the caller's others, then the body."""
    lines = [f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n"]
    for name, value in headers.items():
        if name.lower() in OWN_HEADERS:
            continue
        if ":" in name or _UNSAFE.search(name) or _UNSAFE.search(value):
            raise ValueError(f"header {name!r} has characters that would break the request")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"content-length: {len(body)}\r\naccept-encoding: identity\r\n\r\n")
    return "".join(lines).encode() + body
