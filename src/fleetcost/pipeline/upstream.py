"""The one shared HTTP client for upstream calls.

Our own HTTP/1.1 client (`http11`) rather than aiohttp or httpx: measured on
these machines as a proxy's upstream leg, httpx's pool capped throughput at a
few hundred requests per second, and aiohttp spent ~0.12 ms of CPU per call
where a bare protocol on httptools spends ~0.03 ms; the gateway is CPU-bound,
so that difference is throughput (see bench/). One client is shared by every
call; connections are kept alive and unbounded in number, because the
provider, not us, is the one to push back (with 429s, which we retry).
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetcost.pipeline.http11 import (
    HttpClient,
    Response,
    Timeout,
    UpstreamConnectionError,
)

__all__ = ["Response", "Timeout", "UpstreamClient", "UpstreamConnectionError", "timeout_for"]


class UpstreamClient:
    def __init__(self) -> None:
        self._http: HttpClient | None = None

    async def start(self) -> None:
        if self._http is None:
            self._http = HttpClient(max_idle_s=30.0)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, timeout: Timeout,
    ) -> Response:
        """Send a POST; the caller reads the body and must `release()` the response."""
        if self._http is None:
            await self.start()
        assert self._http is not None
        return await self._http.request("POST", url, headers, body, timeout=timeout)


    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *,
        timeout: Timeout,
    ) -> tuple[int, bytes]:
        """A whole exchange (batch and file APIs, webhooks): status and body, released."""
        if self._http is None:
            await self.start()
        assert self._http is not None
        resp = await self._http.request(method, url, headers, body, timeout=timeout)
        try:
            return resp.status, await resp.read()
        finally:
            resp.release()


def timeout_for(read_timeout: float, connect_timeout: float) -> Timeout:
    """Per-read and connect limits, no total: a long stream is not a slow one."""
    return Timeout(read=read_timeout, connect=connect_timeout)
