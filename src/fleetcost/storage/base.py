"""Storage protocols.

Each concern gets the smallest interface that serves it, so a backend can
implement one without the others and tests can run every backend through
the same contract. Only `UsageLog` (the ledger) exists so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from fleetcost.types import CallRecord


@dataclass(frozen=True, slots=True)
class CallQuery:
    since: str | None = None  # ISO 8601 UTC, inclusive
    until: str | None = None  # exclusive
    call_id: str | None = None
    session_id: str | None = None
    limit: int | None = None
    newest_first: bool = False


class UsageLog(Protocol):
    """The append-only ledger of calls.

    `append` receives batches from the single ledger writer and must store
    them all or raise; it is called from a worker thread, never from the
    event loop.
    """

    def append(self, records: Sequence[CallRecord]) -> None: ...

    def query(self, q: CallQuery) -> list[CallRecord]: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One stored answer of the exact response cache.

    `body` is exactly what the client received (a JSON body, or the SSE bytes
    of a stream), so a hit replays it byte for byte. `cost_usd` is what the
    original call cost: a hit records it as `saved_usd`.
    """

    key: str
    tenant: str
    created: float  # unix seconds
    expires: float  # unix seconds
    model: str
    stream: bool
    body: bytes
    cost_usd: str | None  # exact decimal string; None when the model was unpriced
    tags: tuple[str, ...] = ()


class CacheStore(Protocol):
    """Exact-match response cache.

    `get` is called on the request path and must be fast (an indexed lookup);
    it never returns an expired entry. `put` replaces an entry with the same
    key. `invalidate` drops every entry carrying a tag (per tenant) and
    returns how many went.
    """

    def get(self, key: str, now: float) -> CacheEntry | None: ...

    def put(self, entry: CacheEntry) -> None: ...

    def invalidate(self, tenant: str, tag: str) -> int: ...

    def hit(self, key: str) -> None: ...

    def close(self) -> None: ...


# Groupings a report can use; each maps to one ledger expression (see report_sqlite).
REPORT_KEYS: tuple[str, ...] = (
    "agent", "task", "model", "tenant", "session", "provider", "day", "hour",
)


@dataclass(slots=True)
class GroupTotals:
    """Sums over the calls of one group, all exact (integers and Decimal).

    Derived figures (rates, per-session costs) are computed by analytics from
    these, never stored, so every printed figure can be re-derived from rows.
    `task` and `session` groupings roll a sub-agent's call (one with a
    `parent_id`) up into the task and session of the call that spawned it.
    """

    key: str | None
    calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    saved_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0
    failed_calls: int = 0  # outcome error | budget_exceeded | loop_detected
    response_hits: int = 0  # response cache exact | semantic
    response_misses: int = 0  # looked up and missed
    prefix_hit_calls: int = 0  # provider prefix cache read (cache_status = hit)
    escalated_calls: int = 0
    sessions: int = 0
    failed_sessions: int = 0  # sessions with at least one failed call
    agent_hours: int = 0  # distinct (agent, clock hour) pairs with calls
    saved_by_lever: dict[str, Decimal] = field(default_factory=dict)


class LedgerReader(Protocol):
    """Aggregations over the ledger for reports, the doctor and the dashboard.

    Separate from `UsageLog` because analytics run on their own connection (or
    another engine entirely) and must never hold up the writer.
    """

    def groups(self, by: str, q: CallQuery) -> list[GroupTotals]: ...

    def totals(self, q: CallQuery) -> GroupTotals: ...

    def report(self, by: str, q: CallQuery) -> tuple[list[GroupTotals], GroupTotals]:
        """`groups` and `totals` together, which a backend may answer in fewer passes."""
        ...

    def call_costs(self, q: CallQuery) -> list[Decimal]:
        """Every priced call's cost, ascending (for percentiles)."""
        ...

    def series(self, by: str, bucket: str, q: CallQuery) -> list[tuple[str, str | None, Decimal]]:
        """(time bucket, group key, spend) for charts; `bucket` is `day` or `hour`."""
        ...

    def close(self) -> None: ...
