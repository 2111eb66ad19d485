"""The demo's batch lever: offload a share of the fleet, report what it saved.

Not every call needs its answer now: nightly evaluations, summaries of
closed tickets, back-fills. The `batch` scenario sends the first `share` of
the fleet's sessions with `X-Fleetcost-Latency: batch` (every call
unstreamed, since a batch cannot stream), waits until each accepted id has
its result, and the saving is then read from the ledger, not estimated:
each batch row's `cost_usd` is the batch price and its `saved_usd` the
difference from the live price of the same usage.

The gateway must flush batches quickly for a demo (`[batch] flush_s` and
`poll_s` of a second or less); with the defaults a batch waits a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from fleetcost.fleet.driver import DEMO_API_KEY
from fleetcost.fleet.plan import Scenario, Session
from fleetcost.fleet.wire import call_prefixes

BATCH_SCENARIO = Scenario("batch", "a share of the fleet offloaded to provider batches",
                          (("X-Fleetcost-Latency", "batch"),))
TERMINAL = frozenset({"succeeded", "errored", "expired", "canceled"})


@dataclass(slots=True)
class OffloadStats:
    accepted: list[str] = field(default_factory=list)
    refused: int = 0
    finished: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class BatchSaving:
    """From the ledger's batch rows: what was paid, what live would have cost."""

    calls: int
    batch_usd: Decimal
    live_usd: Decimal

    @property
    def saved_usd(self) -> Decimal:
        return self.live_usd - self.batch_usd

    def as_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "batch_usd": str(self.batch_usd),
                "live_usd": str(self.live_usd), "saved_usd": str(self.saved_usd)}


def batch_share(sessions: Sequence[Session], share: float) -> list[Session]:
    """The first `share` of the sessions (at least one when share > 0)."""
    if share <= 0:
        return []
    return list(sessions[:max(1, round(len(sessions) * share))])


async def offload(base_url: str, sessions: Sequence[Session], *, timeout_s: float = 300.0,
                  poll_s: float = 0.2) -> OffloadStats:
    """Send every call of `sessions` as a batch call; return once all have ended."""
    stats = OffloadStats()
    started = time.perf_counter()
    async with aiohttp.ClientSession(base_url) as http:
        for session in sessions:
            headers = {"Content-Type": "application/json", **session.wire.auth(DEMO_API_KEY),
                       **session.headers(BATCH_SCENARIO)}
            for prefix in call_prefixes(session.conversation.messages):
                body = orjson.dumps(session.wire.build(session.model, prefix, stream=False))
                async with http.post(session.wire.path, data=body, headers=headers) as resp:
                    if resp.status != 202:
                        stats.refused += 1
                        continue
                    stats.accepted.append((await resp.json())["id"])
        deadline = time.monotonic() + timeout_s
        pending = list(stats.accepted)
        while pending and time.monotonic() < deadline:
            for item_id in list(pending):
                async with http.get(f"/fleetcost/v1/batch-results/{item_id}") as resp:
                    status = (await resp.json()).get("status")
                if status in TERMINAL:
                    stats.finished[item_id] = status
                    pending.remove(item_id)
            if pending:
                await asyncio.sleep(poll_s)
    stats.seconds = time.perf_counter() - started
    return stats


def saving(rows: Iterable[Mapping[str, Any]]) -> BatchSaving:
    """Sum the ledger's batch rows exactly (decimal strings, never floats)."""
    calls, paid, saved = 0, Decimal(0), Decimal(0)
    for row in rows:
        if not row.get("batch"):
            continue
        calls += 1
        paid += Decimal(str(row.get("cost_usd") or 0))
        saved += Decimal(str(row.get("saved_usd") or 0))
    return BatchSaving(calls, paid, paid + saved)
