"""A canned HTTP server on loopback, so the official SDKs can read our bytes.

The SDKs are the real judges of wire shape: a test sets the status, content
type and body the server answers with, points an SDK client at it, and checks
what the SDK makes of it. Nothing is patched; the SDK does its own HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class CannedServer:
    url: str
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"
    requests: list[bytes] = field(default_factory=list)

    def answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type


def _handler(state: CannedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            state.requests.append(self.rfile.read(length))
            self.send_response(state.status)
            self.send_header("content-type", state.content_type)
            self.send_header("content-length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_GET = do_POST = _reply

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve() -> tuple[CannedServer, ThreadingHTTPServer]:
    state = CannedServer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    return state, server
