"""Storage protocols.

Each concern gets the smallest interface that serves it, so a backend can
implement one without the others and tests can run every backend through
the same contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors, partitioned by an opaque scope key.

    A search only ever sees entries of its own scope. Not thread-safe: the
    semantic cache serialises access with its own lock.
    """

    def add(self, entry_id: str, vector: FloatArray, scope: str) -> None: ...

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

    def hit(self, entry_id: str) -> None: ...

    def load(self) -> Iterator[tuple[SemanticEntry, bytes]]: ...

    def close(self) -> None: ...
