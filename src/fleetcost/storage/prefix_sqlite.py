"""The prefix doctor's side table (`prefix_evidence`, migration m002_prefix).

One row per call that had a previous call in its session: how the two
prompts compared (see `types.PrefixEvidence`). Written by the ledger writer
in the same transaction as the calls, so a call and its evidence land
together; read by `fleetcost doctor`, joined to the calls by `call_id`.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence

from fleetcost.storage.sqlite_conn import connect
from fleetcost.types import CallRecord, PrefixEvidence

FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PrefixEvidence))
_INSERT = (f"INSERT OR REPLACE INTO prefix_evidence (call_id, session_id, {', '.join(FIELDS)}) "
           f"VALUES ({', '.join('?' for _ in range(len(FIELDS) + 2))})")


def append_evidence(conn: sqlite3.Connection, records: Sequence[CallRecord]) -> None:
    rows = [
        (r.call_id, r.session_id, *dataclasses.astuple(ev))
        for r in records if isinstance(ev := r.extra.get("prefix"), PrefixEvidence)
    ]
    if rows:
        conn.executemany(_INSERT, rows)


def read_evidence(path: str, since: str | None = None) -> dict[str, PrefixEvidence]:
    """call_id -> evidence, for calls at or after `since` (all when None)."""
    conn = connect(path)
    try:
        sql = f"SELECT e.call_id, {', '.join('e.' + f for f in FIELDS)} FROM prefix_evidence e"
        params: list[str] = []
        if since:
            sql += " JOIN calls c ON c.call_id = e.call_id WHERE c.ts >= ?"
            params.append(since)
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return {}  # a ledger from before m002_prefix, opened read-only elsewhere
    finally:
        conn.close()
    return {row[0]: PrefixEvidence(*row[1:]) for row in rows}
