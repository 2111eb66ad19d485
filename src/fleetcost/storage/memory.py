"""In-memory ledger: for tests and for `storage.kind = "memory"` (nothing persists)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from fleetcost.storage.base import CallQuery
from fleetcost.types import CallRecord


class MemoryUsageLog:
    def __init__(self) -> None:
        self._rows: list[CallRecord] = []
        self._lock = threading.Lock()

    def append(self, records: Sequence[CallRecord]) -> None:
        with self._lock:
            self._rows.extend(records)

    def query(self, q: CallQuery) -> list[CallRecord]:
        with self._lock:
            rows = list(self._rows)
        rows = [
            r for r in rows
            if (q.since is None or r.ts >= q.since)
            and (q.until is None or r.ts < q.until)
            and (q.call_id is None or r.call_id == q.call_id)
            and (q.session_id is None or r.session_id == q.session_id)
        ]
        rows.sort(key=lambda r: r.ts, reverse=q.newest_first)
        return rows[: q.limit] if q.limit is not None else rows

    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def close(self) -> None:
        pass
