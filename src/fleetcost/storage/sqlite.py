"""SQLite ledger (the embedded default).

WAL mode lets the CLI and the dashboard read while the gateway writes. The
gateway writes from one thread only (the ledger writer's worker), in batches
inside one transaction, which is what keeps SQLite fast enough for thousands
of calls per second. Readers open their own connections.
"""

from __future__ import annotations

import operator
import sqlite3
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fleetcost.pricing.cost import format_usd
from fleetcost.storage.base import CallQuery
from fleetcost.storage.migrations import migrate
from fleetcost.storage.prefix_sqlite import append_evidence
from fleetcost.storage.rollup_write import apply, prepare
from fleetcost.storage.sqlite_conn import connect
from fleetcost.types import LEDGER_FIELDS, CallRecord

# The ledger fields, then money again as integer pico-dollars for fast exact
# sums in reports (migration m008_report); NULL when not representable.
STORED = _STORED = (*LEDGER_FIELDS, "cost_pico", "saved_pico")
_ROW_PARAMS = "(" + ", ".join("?" for _ in _STORED) + ")"
_PICO = Decimal(10) ** 12
# Rows per INSERT statement. executemany steps the statement once per row and
# the sqlite3 module releases and retakes the GIL around every step; with the
# event loop busy, each retake waits for a GIL switch, so a row-at-a-time
# writer fell behind under load. One multi-row statement is one step.
# 29 columns x 300 rows stays well under SQLite's 32,766 bound variables.
ROWS_PER_STATEMENT = 300


def _insert(rows: int) -> str:
    return (f"INSERT OR REPLACE INTO calls ({', '.join(_STORED)}) VALUES "
            + ", ".join([_ROW_PARAMS] * rows))
_BOOL_FIELDS = frozenset({"escalated", "batch"})


_FIELDS_OF = operator.attrgetter(*LEDGER_FIELDS)
_MONEY_AT = tuple(LEDGER_FIELDS.index(n) for n in ("cost_usd", "saved_usd"))
_BOOL_AT = tuple(LEDGER_FIELDS.index(n) for n in sorted(_BOOL_FIELDS))


def ledger_row(rec: CallRecord) -> list[Any]:
    """The values of `STORED` for one record (the batch store writes calls too)."""
    return _to_row(rec)


def _to_row(rec: CallRecord) -> list[Any]:
    # Runs once per call on the writer thread while holding the GIL, so it
    # converts only the few fields SQLite cannot take as they are.
    row = list(_FIELDS_OF(rec))
    for i in _MONEY_AT:
        if row[i] is not None:
            row[i] = format_usd(row[i])  # plain digits: SQL readers parse no exponents
    row.append(_pico(rec.cost_usd))
    row.append(_pico(rec.saved_usd))
    for i in _BOOL_AT:
        row[i] = int(row[i])
    return row


def _pico(amount: Decimal | None) -> int | None:
    if amount is None:
        return None
    scaled = amount * _PICO
    return int(scaled) if scaled == scaled.to_integral_value() else None


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
        self._conn = connect(self.path)
        # The writer touches the calls' indexes and the aggregates in every
        # batch: a larger page cache (8 MB, not 2; it bounds the gateway's
        # RSS too) keeps their hot pages, and checkpointing every ~40 MB of
        # WAL (not ~4 MB) writes a page changed by many batches to the
        # database file once.
        self._conn.execute("PRAGMA cache_size = -8192")
        self._conn.execute("PRAGMA wal_autocheckpoint = 10000")
        self._conn.execute("PRAGMA temp_store = MEMORY")  # the aggregates' per-batch scratch
        self._lock = threading.Lock()
        migrate(self._conn)

    def append(self, records: Sequence[CallRecord]) -> None:
        rows = [_to_row(r) for r in records]
        step = ROWS_PER_STATEMENT
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # The aggregates change in the same transaction as the calls.
                pending = prepare(self._conn, records, replace=True)
                for start in range(0, len(rows), step):
                    chunk = rows[start : start + step]
                    flat = [value for row in chunk for value in row]
                    self._conn.execute(_insert(len(chunk)), flat)
                append_evidence(self._conn, records)
                apply(self._conn, pending)
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
        if q.session_id:
            where.append("session_id = ?")
            params.append(q.session_id)
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
