"""Replaying sessions through the gateway over real HTTP.

A fixed pool of workers takes sessions one at a time, so at most
`concurrency` sessions are in flight, and each worker sends its session's
calls in order, as an agent does (it waits for a reply before its next
turn). A failed call is counted and the session goes on: the recording says
what came next regardless of the reply, and one bad call should not hide the
cost of the rest. What the client saw is kept only to cross-check the
ledger; the numbers the demo reports come from the ledger itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from fleetcost.fleet.levers import expand
from fleetcost.fleet.plan import Call, Scenario, Session

DEMO_API_KEY = "sk-fleetcost-demo"
CALL_TIMEOUT_S = 120.0
MAX_ERRORS_KEPT = 5


@dataclass(slots=True)
class ReplayStats:
    """What the client side saw, to check that the ledger has a row for every call.

    Costs are not summed here: a stream's headers leave before its usage is
    known, so only the ledger has every call's cost.
    """

    sent: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)


async def replay(
    base_url: str,
    sessions: Sequence[Session],
    scenario: Scenario,
    *,
    concurrency: int = 8,
    api_key: str = DEMO_API_KEY,
    on_call: Callable[[], None] | None = None,
) -> ReplayStats:
    """Send every call of every session to `base_url`; never raises for a failed call."""
    stats = ReplayStats()
    queue: asyncio.Queue[Session] = asyncio.Queue()
    for session in sessions:
        queue.put_nowait(session)
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=max(concurrency, 1))
    async with aiohttp.ClientSession(
        base_url, timeout=timeout, connector=connector
    ) as http:
        workers = [
            asyncio.create_task(_worker(http, queue, scenario, api_key, stats, on_call))
            for _ in range(max(1, min(concurrency, len(sessions))))
        ]
        await asyncio.gather(*workers)
    stats.seconds = time.perf_counter() - started
    return stats


async def _worker(
    http: aiohttp.ClientSession,
    queue: asyncio.Queue[Session],
    scenario: Scenario,
    api_key: str,
    stats: ReplayStats,
    on_call: Callable[[], None] | None,
) -> None:
    while not queue.empty():
        session = queue.get_nowait()
        headers = {
            "Content-Type": "application/json",
            **session.wire.auth(api_key),
            **session.headers(scenario),
        }
        for index, recorded in enumerate(session.calls()):
            for call in expand(scenario, index, recorded):
                stats.sent += 1
                await _send(http, call, headers, stats, session.session_id)
                if on_call is not None:
                    on_call()


async def _send(
    http: aiohttp.ClientSession,
    call: Call,
    headers: dict[str, str],
    stats: ReplayStats,
    session_id: str,
) -> None:
    try:
        async with http.post(call.path, data=call.body, headers=headers) as resp:
            if resp.status != 200:
                text = (await resp.read())[:300].decode(errors="replace")
                stats.fail(f"{session_id}: HTTP {resp.status} {text}")
                return
            if call.stream:
                # Drain the stream as a client would; the gateway accounts it at the end.
                async for _ in resp.content.iter_any():
                    pass
            else:
                await resp.read()
            stats.ok += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        stats.fail(f"{session_id}: {type(exc).__name__}: {exc}")
