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
