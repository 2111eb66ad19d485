"""SQLite exact cache (the embedded default), in its own file beside the ledger.

A lookup is one primary-key read, fast enough to run on the event loop
(tens of microseconds); writes happen off the response path. Expired rows are
skipped on read and swept on write, a few at a time, so the file does not
grow without bound.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fleetcost.storage.base import CacheEntry
from fleetcost.storage.sqlite_conn import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    key TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    model TEXT NOT NULL,
    stream INTEGER NOT NULL,
    body BLOB NOT NULL,
    cost_usd TEXT,
    tags TEXT NOT NULL DEFAULT '',
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cache_expires ON cache_entries (expires);
"""
_COLUMNS = "key, tenant, created, expires, model, stream, body, cost_usd, tags"
SWEEP_BATCH = 100


class SQLiteCacheStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    def get(self, key: str, now: float) -> CacheEntry | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM cache_entries WHERE key = ? AND expires > ?",
                (key, now),
            ).fetchone()
        if row is None:
            return None
        tags = tuple(t for t in row[8].split("\n") if t)
        return CacheEntry(key=row[0], tenant=row[1], created=row[2], expires=row[3],
                          model=row[4], stream=bool(row[5]), body=bytes(row[6]),
                          cost_usd=row[7], tags=tags)

    def put(self, entry: CacheEntry) -> None:
        values = (entry.key, entry.tenant, entry.created, entry.expires, entry.model,
                  int(entry.stream), entry.body, entry.cost_usd, "\n".join(entry.tags))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    f"INSERT OR REPLACE INTO cache_entries ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
                self._conn.execute(
                    "DELETE FROM cache_entries WHERE key IN (SELECT key FROM cache_entries "
                    "WHERE expires <= ? LIMIT ?)", (entry.created, SWEEP_BATCH))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def invalidate(self, tenant: str, tag: str) -> int:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, tags FROM cache_entries WHERE tenant = ? AND instr(tags, ?) > 0",
                (tenant, tag)).fetchall()
            doomed = [(k,) for k, tags in rows if tag in tags.split("\n")]
            self._conn.executemany("DELETE FROM cache_entries WHERE key = ?", doomed)
        return len(doomed)

    def hit(self, key: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE cache_entries SET hits = hits + 1 WHERE key = ?", (key,))

    def hits(self, key: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT hits FROM cache_entries WHERE key = ?",
                                     (key,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()
