"""Storage protocols.

Each concern gets the smallest interface that serves it, so a backend can
implement one without the others and tests can run every backend through
the same contract. Only `UsageLog` (the ledger) exists so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fleetcost.types import CallRecord


@dataclass(frozen=True, slots=True)
class CallQuery:
    since: str | None = None  # ISO 8601 UTC, inclusive
    until: str | None = None  # exclusive
    call_id: str | None = None
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
