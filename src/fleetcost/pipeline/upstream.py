"""The one shared HTTP client for upstream calls.

aiohttp rather than httpx: measured on these machines as a proxy's upstream
leg, httpx's connection pool capped throughput at a few hundred requests per
second while aiohttp's keeps up with the gateway (see bench/). The session is
created inside the running loop (aiohttp requires it) and shared by every
call; connections are kept alive and unbounded in number, because the
provider, not us, is the one to push back (with 429s, which we retry).
"""

from __future__ import annotations

import aiohttp


class UpstreamClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, skip_auto_headers=("User-Agent",),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, url: str, headers: dict[str, str], body: bytes, *, timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """Send a POST; the caller reads the body and must `release()` the response."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        return await self._session.post(url, data=body, headers=headers, timeout=timeout)


def timeout_for(read_timeout: float, connect_timeout: float) -> aiohttp.ClientTimeout:
    """Per-read and connect limits, no total: a long stream is not a slow one."""
    return aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
