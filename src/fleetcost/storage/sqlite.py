"""SQLite ledger (the embedded default).

WAL mode lets the CLI and the dashboard read while the gateway writes. The
gateway writes from one thread only (the ledger writer's worker), in batches
inside one transaction, which is what keeps SQLite fast enough for thousands
of calls per second. Readers open their own connections.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fleetcost.storage.base import CallQuery
from fleetcost.storage.migrations import migrate
from fleetcost.types import LEDGER_FIELDS, CallRecord

_INSERT = (
    f"INSERT OR REPLACE INTO calls ({', '.join(LEDGER_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in LEDGER_FIELDS)})"
)
_BOOL_FIELDS = frozenset({"escalated", "batch"})


def _to_row(rec: CallRecord) -> tuple[Any, ...]:
    out: list[Any] = []
    for name in LEDGER_FIELDS:
        value = getattr(rec, name)
        if isinstance(value, Decimal):
            value = str(value)
        elif name in _BOOL_FIELDS:
            value = int(value)
        out.append(value)
    return tuple(out)


def _from_row(row: sqlite3.Row) -> CallRecord:
    data = dict(zip(LEDGER_FIELDS, row, strict=True))
    data["cost_usd"] = Decimal(data["cost_usd"]) if data["cost_usd"] is not None else None
    data["saved_usd"] = Decimal(data["saved_usd"] or "0")
    for name in _BOOL_FIELDS:
        data[name] = bool(data[name])
    return CallRecord(**data)


class SQLiteUsageLog:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        migrate(self._conn)

    def append(self, records: Sequence[CallRecord]) -> None:
        rows = [_to_row(r) for r in records]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_INSERT, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, q: CallQuery) -> list[CallRecord]:
        where, params = [], []
        if q.since:
            where.append("ts >= ?")
            params.append(q.since)
        if q.until:
            where.append("ts < ?")
            params.append(q.until)
        if q.call_id:
            where.append("call_id = ?")
            params.append(q.call_id)
        sql = f"SELECT {', '.join(LEDGER_FIELDS)} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts DESC, rowid DESC" if q.newest_first else " ORDER BY ts, rowid"
        if q.limit is not None:
            sql += f" LIMIT {int(q.limit)}"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_from_row(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
