"""The upstream HTTP/1.1 client against real sockets on loopback.

A small asyncio server written here plays the misbehaving upstream (chunked
bodies, slow streams, closed keep-alive connections, stalls), and the real
emulator checks that bodies come out byte for byte as other clients see them.
Every scenario runs on both event loops the project uses: asyncio's and uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import uvloop

from fleetcost.pipeline.http11 import (
    HIGH_WATER,
    HttpClient,
    Timeout,
    UpstreamConnectionError,
    encode_request,
)
from tests.procs import fleetcost_process, free_port

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]
TIMEOUT = Timeout(read=5.0, connect=5.0)
BIG = 32 * 1024 * 1024  # larger than loopback socket buffers, so backpressure shows


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(coro: Awaitable[Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(coro)  # type: ignore[arg-type]
    return runner


class Upstream:
    """An HTTP/1.1 server whose behaviour is chosen by the request path."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)
        self.big_writer: asyncio.StreamWriter | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self.base = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn, count = self.connections, 0
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                fields = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                count += 1
                self.requests.append((conn, head, body))
                path = lines[0].split(" ")[1].split("?")[0]
                if not await self.answer(path, conn, count, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test ended while this one hung on purpose
        finally:
            writer.close()

    async def answer(
        self, path: str, conn: int, count: int, body: bytes, w: asyncio.StreamWriter
    ) -> bool:
        """Write the response for `path`; False closes the connection afterwards."""
        ok = b"HTTP/1.1 200 OK\r\n"
        if path == "/cl":
            w.write(ok + b"Content-Length: %d\r\nX-Conn: %d\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n"
                    % (len(body), conn) + body)
        elif path == "/chunked":
            w.write(ok + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
        elif path == "/slow":
            w.write(ok + b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(3):
                await asyncio.sleep(0.1)
                w.write(b"8\r\nevent %d\n\r\n" % i)
            w.write(b"0\r\n\r\n")
        elif path == "/close":
            w.write(ok + b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
            return False
        elif path == "/extra":  # a second, unrequested response right behind the first
            w.write((ok + b"Content-Length: 2\r\n\r\nok") * 2)
        elif path == "/eof":
            w.write(ok + b"Connection: close\r\n\r\nuntil the end")
            return False
        elif path == "/interim":
            w.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok + b"Content-Length: 4\r\n\r\nreal")
        elif path == "/drop" or (path == "/drop-second" and count > 1):
            return False  # EOF before any byte of the answer
        elif path == "/drop-second":
            w.write(ok + b"Content-Length: 5\r\nX-Conn: %d\r\n\r\nfirst" % conn)
        elif path == "/hang":
            await asyncio.sleep(30)
        elif path in ("/stall-body", "/cut"):
            w.write(ok + b"Content-Length: 100\r\n\r\n0123456789")
            if path == "/cut":
                return False
            await asyncio.sleep(30)
        elif path == "/big":
            self.big_writer = w
            w.write(ok + b"Content-Length: %d\r\n\r\n" % BIG + bytes(range(256)) * (BIG // 256))
        elif path == "/busy":
            w.write(b"HTTP/1.1 503 Busy\r\nRetry-After: 2\r\nContent-Length: 4\r\n\r\nbusy")
        await w.drain()
        return True


@contextlib.asynccontextmanager
async def serving(
    tls: ssl.SSLContext | None = None, trust: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Upstream, HttpClient]]:
    upstream = Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0, ssl=tls)
    upstream.port = server.sockets[0].getsockname()[1]
    upstream.base = (f"https://localhost:{upstream.port}" if tls
                     else f"http://127.0.0.1:{upstream.port}")
    client = HttpClient(tls=trust)
    try:
        yield upstream, client
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def post(client: HttpClient, url: str, body: bytes = b"{}",
               timeout: Timeout = TIMEOUT) -> tuple[int, bytes]:
    resp = await client.request("POST", url, {"content-type": "application/json"}, body,
                                timeout=timeout)
    try:
        return resp.status, await resp.read()
    finally:
        resp.release()


def test_content_length_keep_alive_and_headers(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            for i in range(3):
                resp = await client.request("POST", up.base + "/cl?x=1", {"X-Test": "yes"},
                                            b'{"n":%d}' % i, timeout=TIMEOUT)
                assert resp.status == 200
                assert resp.headers.get("x-conn") == resp.headers["X-CONN"] == "1"
                assert resp.headers.get("X-Dup") == "a, b"
                assert resp.headers.get("missing") is None and "content-length" in resp.headers
                assert await resp.read() == b'{"n":%d}' % i
                resp.release()
            assert up.connections == 1  # one keep-alive connection carried all three
            head = up.requests[0][1].decode().lower()
            assert head.startswith("post /cl?x=1 http/1.1\r\n")
            assert f"host: 127.0.0.1:{up.port}\r\n" in head and "x-test: yes\r\n" in head
            assert "content-length: 7\r\n" in head and "accept-encoding: identity\r\n" in head
            assert "user-agent" not in head
    run(scenario())


def test_chunked_eof_and_interim_bodies(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            assert await post(client, up.base + "/chunked") == (200, b"hello world")
            assert await post(client, up.base + "/interim") == (200, b"real")
            assert await post(client, up.base + "/eof") == (200, b"until the end")
            assert await post(client, up.base + "/busy") == (503, b"busy")
            resp = await client.request("POST", up.base + "/busy", {}, b"", timeout=TIMEOUT)
            assert resp.headers.get("retry-after") == "2"
            resp.release()
    run(scenario())


def test_streamed_chunks_arrive_as_sent(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            resp = await client.request("POST", up.base + "/slow", {}, b"", timeout=TIMEOUT)
            seen = [(chunk, time.monotonic()) async for chunk in resp.content.iter_any()]
            resp.release()
            assert b"".join(c for c, _ in seen) == b"event 0\nevent 1\nevent 2\n"
            assert len(seen) == 3 and seen[-1][1] - seen[0][1] > 0.15  # not buffered to the end
            assert await post(client, up.base + "/cl") == (200, b"{}")
            assert up.connections == 1
    run(scenario())


def test_connection_close_and_unread_bodies_are_not_reused(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            assert await post(client, up.base + "/close") == (200, b"ok")
            assert await post(client, up.base + "/cl") == (200, b"{}")
            assert up.connections == 2
            resp = await client.request("POST", up.base + "/stall-body", {}, b"", timeout=TIMEOUT)
            resp.release()  # body not read: the connection cannot carry another request
            assert await post(client, up.base + "/cl") == (200, b"{}")
            assert up.connections == 3
            assert await post(client, up.base + "/extra") == (200, b"ok")
            assert await post(client, up.base + "/cl") == (200, b"{}")
            assert up.connections == 4  # unrequested bytes make a connection untrustworthy
    run(scenario())


def test_idle_connections_reused_most_recent_first(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            a, b = await asyncio.gather(*(
                client.request("POST", up.base + "/cl", {}, b"", timeout=TIMEOUT)
                for _ in range(2)))
            for resp in (a, b):
                await resp.read()
                resp.release()
            again = await client.request("POST", up.base + "/cl", {}, b"", timeout=TIMEOUT)
            assert again.headers["x-conn"] == b.headers["x-conn"] != a.headers["x-conn"]
            again.close()
    run(scenario())


def test_stale_keep_alive_connection_is_retried_once(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            assert await post(client, up.base + "/drop-second") == (200, b"first")
            # The server drops the pooled connection without answering: resent on a new one.
            assert await post(client, up.base + "/drop-second") == (200, b"first")
            assert up.connections == 2 and len(up.requests) == 3
            # A fresh connection that ends without an answer is not retried.
            up.requests.clear()
            with pytest.raises(UpstreamConnectionError):
                await post(client, up.base + "/drop")
            assert len(up.requests) == 2  # the pooled connection, then one fresh attempt
    run(scenario())


def test_server_closing_idle_connection(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            resp = await client.request("POST", up.base + "/cl", {}, b"", timeout=TIMEOUT)
            await resp.read()
            resp.release()
            for writer in up.writers:
                writer.close()
            await asyncio.sleep(0.05)  # the client sees the FIN and forgets the connection
            assert await post(client, up.base + "/cl") == (200, b"{}")
            assert up.connections == 2
    run(scenario())


def test_read_timeouts_and_cut_bodies(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            quick = Timeout(read=0.2, connect=1.0)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await post(client, up.base + "/hang", timeout=quick)
            with pytest.raises(TimeoutError):
                await post(client, up.base + "/stall-body", timeout=quick)
            assert time.monotonic() - started < 2
            with pytest.raises(UpstreamConnectionError):
                await post(client, up.base + "/cut")
            resp = await client.request("POST", up.base + "/cut", {}, b"", timeout=TIMEOUT)
            got = b""
            with pytest.raises(UpstreamConnectionError):
                async for chunk in resp.content.iter_any():
                    got += chunk
            resp.close()
            assert got == b"0123456789"  # what arrived is delivered before the error
            assert await post(client, up.base + "/cl") == (200, b"{}")
    run(scenario())


def test_connect_refused_and_bad_input(run: Run[None]) -> None:
    async def scenario() -> None:
        client = HttpClient()
        with pytest.raises(UpstreamConnectionError):
            await post(client, f"http://127.0.0.1:{free_port()}/v1/x")
        with pytest.raises(ValueError):
            await post(client, "ftp://127.0.0.1/x")
        await client.close()
    run(scenario())
    with pytest.raises(ValueError):
        encode_request("POST", "/", "h", {"x-evil": "a\r\nHost: other"}, b"")
    raw = encode_request("POST", "/", "h", {"Host": "spoof", "Content-Length": "9"}, b"ab")
    assert raw.lower().count(b"host:") == 1 and raw.lower().count(b"content-length:") == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for `localhost` (made with the openssl command)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = str(where / "cert.pem"), str(where / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return cert, key


def test_https_with_server_name_check(run: Run[None], certificate: tuple[str, str]) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def scenario() -> None:
        async with serving(server_side, ssl.create_default_context(cafile=cert)) as (up, client):
            for path, expected in (("/cl", b"{}"), ("/chunked", b"hello world")):
                assert await post(client, up.base + path) == (200, expected)
            assert up.connections == 1
            head = up.requests[0][1].decode()
            assert f"host: localhost:{up.port}\r\n" in head
        # The default context does not trust a self-signed certificate.
        async with serving(server_side) as (up, client):
            with pytest.raises(UpstreamConnectionError):
                await post(client, up.base + "/cl")
    run(scenario())


def test_backpressure_pauses_reading(run: Run[None]) -> None:
    async def scenario() -> None:
        async with serving() as (up, client):
            resp = await client.request("POST", up.base + "/big", {}, b"", timeout=TIMEOUT)
            stream = resp.content.iter_any()
            first = await anext(stream)
            await asyncio.sleep(0.3)  # a slow consumer: the client must stop reading
            assert up.big_writer is not None
            assert up.big_writer.transport.get_write_buffer_size() > 0
            assert sum(len(c) for c in resp._chunks) <= HIGH_WATER + 512 * 1024
            rest = [first] + [chunk async for chunk in stream]
            resp.release()
            assert b"".join(rest) == bytes(range(256)) * (BIG // 256)
            assert await post(client, up.base + "/cl") == (200, b"{}")
            assert up.connections == 1
    run(scenario())


# Against the real emulator: the bytes must be exactly what other clients get.

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi."}]}
MESSAGES = {"model": "claude-haiku-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hi."}]}


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    port = free_port()
    with fleetcost_process(["emulate", "--port", str(port)], port) as base:
        yield base


@pytest.mark.parametrize(("path", "payload"), [
    ("/v1/chat/completions", CHAT), ("/v1/chat/completions", {**CHAT, "stream": True}),
    ("/v1/messages", MESSAGES), ("/v1/messages", {**MESSAGES, "stream": True}),
])
def test_emulator_bodies_match_other_clients(
    run: Run[list[bytes]], emulator: str, path: str, payload: dict[str, Any]
) -> None:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "authorization": "Bearer sk-test",
               "x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
    httpx.post(emulator + path, content=body, headers=headers)  # warm the prompt cache

    async def ours() -> list[bytes]:
        client = HttpClient()
        out = []
        for streamed in (False, True):
            resp = await client.request("POST", emulator + path, headers, body, timeout=TIMEOUT)
            assert resp.status == 200
            if streamed:
                out.append(b"".join([c async for c in resp.content.iter_any()]))
            else:
                out.append(await resp.read())
            resp.release()
        await client.close()
        return out

    request = urllib.request.Request(emulator + path, data=body, headers=headers)
    with urllib.request.urlopen(request) as r:
        via_urllib = r.read()
    via_httpx = httpx.post(emulator + path, content=body, headers=headers).content
    read, streamed = run(ours())
    # OpenAI bodies carry a `created` timestamp: the one field allowed to differ.
    bodies = [re.sub(rb'"created":\d+', b'"created":0', b)
              for b in (read, streamed, via_urllib, via_httpx)]
    assert bodies[0] == bodies[1] == bodies[2] == bodies[3]
    if payload.get("stream"):
        assert read.count(b"data: ") > 3
    else:
        assert json.loads(read)["usage"]
