"""Storage protocols.

Each concern gets the smallest interface that serves it, so a backend can
implement one without the others and tests can run every backend through
the same contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fleetcost.types import CallRecord

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


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

    def session_costs(self, q: CallQuery) -> dict[str, Decimal]:
        """Each session's spend (sessions with a key), without building every group."""
        ...

    def session_groups(self, q: CallQuery, keys: Sequence[str]) -> list[GroupTotals]:
        """The `session` groups of these sessions only (the dashboard's top sessions)."""
        ...

    def session_calls(self, session: str, limit: int) -> list[tuple[CallRecord, bool]]:
        """A session's calls after the sub-agent roll-up (as `session` groups count them),
        newest first; True marks a sub-agent call rolled up into it."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """One budget bucket a call is charged to, with its limits.

    `key` names the bucket: the budget, the member it applies to and the
    window instance (`agent:support-bot:day|support-bot|2026-11-23`), so a new
    window is simply a new key and resets need no sweeper. Limits are integer
    nano-dollars and tokens; `None` means no limit of that kind. `window_end`
    (unix seconds, `None` for windows that never end) lets a store drop dead
    buckets.
    """

    key: str
    limit_nano: int | None
    limit_tokens: int | None
    window_end: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetBalance:
    """What a bucket holds: settled spend and live (unexpired) reservations."""

    spent_nano: int = 0
    reserved_nano: int = 0
    spent_tokens: int = 0
    reserved_tokens: int = 0

    @property
    def used_nano(self) -> int:
        return self.spent_nano + self.reserved_nano

    @property
    def used_tokens(self) -> int:
        return self.spent_tokens + self.reserved_tokens


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """The answer of one atomic reserve.

    `refused` lists the keys whose limit the amount would cross (empty when
    the hold was taken); `balances` is every charged bucket as seen inside
    the same transaction, including this hold when it was taken.
    """

    refused: tuple[str, ...]
    balances: dict[str, BudgetBalance]

    @property
    def ok(self) -> bool:
        return not self.refused


class BudgetLedger(Protocol):
    """Budgets that cannot be overspent: reserve, then settle or release.

    `reserve` is all-or-nothing over every charged bucket at once: inside one
    atomic step it drops expired holds, checks `spent + reserved + amount <=
    limit` for each bucket (money and tokens) and takes one hold per bucket
    only if every check passes. `settle` turns a hold into spend at the
    exact amount (which may be lower than held; it is charged even if
    higher, because the money was spent) to the buckets named by `charges`
    (not by the hold rows, which may have expired) and removes the hold; `release`
    removes it without spend. `resize` changes a live hold's amount under
    the same check (growing can be refused; shrinking always succeeds).
`buckets` lists every bucket whose key starts with `prefix` (the admin
listing of a budget that applies to each member separately).
`save_rule` / `saved_rules` keep budgets created or changed through the
admin API (name -> the budget's JSON), so they survive a restart and every
replica sharing the store sees them.

    Every hold carries an `expires_at` and an `owner` (the process that took
    it), so the holds of a crashed process stop counting once they expire and
    an orderly shutdown can release its own at once (`release_owner`); a
    call that outlives its TTL (a long stream) pushes it back with `extend`.

    Why this shape fits a Redis Lua implementation later: each method touches
    a known list of keys given up front (the charged buckets), needs no
    reads between steps decided by the caller, and is one round trip. In
    Redis a bucket is a hash (`spent_nano`, `spent_tokens`) plus a sorted
    set of holds scored by expiry (member `hold_id`, amounts in a side
    hash); `reserve` is one script that runs `ZREMRANGEBYSCORE key -inf now`,
    sums the live holds, checks every bucket and only then writes (`EVALSHA`
    runs atomically, as SQLite's `BEGIN IMMEDIATE` does here). Methods are
    synchronous and fast (one local transaction) so the pipeline may call
    them on the event loop.
    """

    def reserve(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int, tokens: int,
                now: float, expires_at: float, owner: str) -> ReserveResult: ...

    def resize(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int, tokens: int,
               now: float) -> ReserveResult: ...

    def settle(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int,
               tokens: int) -> None: ...

    def settle_once(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int,
                    tokens: int) -> bool:
        """`settle`, at most once per `hold_id` ever: a repeat only drops the hold and
        returns False. For settlements that a crash can make run twice (batch items,
        whose ledger commit is in another file); the store remembers every id."""
        ...

    def release(self, hold_id: str) -> None: ...

    def extend(self, hold_id: str, expires_at: float, owner: str | None = None) -> None:
        """Push a hold's expiry back; with `owner`, hand the hold to that owner too
        (a queued batch item's hold must outlive the process that took it)."""
        ...

    def release_owner(self, owner: str) -> int: ...

    def balances(self, keys: Sequence[str], now: float) -> dict[str, BudgetBalance]: ...

    def buckets(self, prefix: str, now: float) -> dict[str, BudgetBalance]: ...

    def saved_rules(self) -> dict[str, str]: ...

    def save_rule(self, name: str, config_json: str) -> None: ...

    def close(self) -> None: ...


class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors, partitioned by an opaque scope key.

    A search only ever sees entries of its own scope. Not thread-safe: the
    semantic cache serialises access with its own lock.
    """

    def add(self, entry_id: str, vector: FloatArray, scope: str) -> None: ...

    def add_many(self, entry_ids: Sequence[str], vectors: FloatArray, scope: str) -> None:
        """Bulk `add` into one scope (loading at start): an index that trains can train once."""
        ...

    def search(self, vector: FloatArray, scope: str, k: int = 1) -> list[tuple[str, float]]: ...

    def remove(self, entry_id: str) -> bool: ...

    def save(self, path: Path) -> None: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SemanticEntry:
    """One stored answer of the semantic cache.

    `text` is what was embedded (the last user turn and its context window):
    the match policy compares it with a new question. `body` is exactly what
    the client received, as in `CacheEntry`; entries loaded at start carry an
    empty body and are read from the store on a hit, so memory holds vectors
    and metadata only.
    """

    entry_id: str
    scope: str
    tenant: str
    text: str
    created: float  # unix seconds
    expires: float
    model: str
    stream: bool
    cost_usd: str | None
    tags: tuple[str, ...] = ()
    hits: int = 0
    body: bytes = b""


class SemanticStore(Protocol):
    """Durable home of semantic-cache entries and their vectors (float32 bytes).

    The in-memory index is rebuilt from `load` at start. Every method is
    called from worker threads, never from the event loop.
    """

    def put(self, entry: SemanticEntry, vector: bytes) -> None: ...

    def delete(self, entry_ids: Sequence[str]) -> None: ...

    def body(self, entry_id: str) -> bytes | None: ...

    def texts(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """Question texts by id (absent ids left out): memory does not keep them."""
        ...

    def hit(self, entry_id: str) -> None: ...

    def load(self) -> Iterator[tuple[SemanticEntry, bytes]]: ...

    def close(self) -> None: ...
