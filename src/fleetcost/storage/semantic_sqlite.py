"""SQLite home of the semantic cache: entries, answers and vectors in one file.

Why SQLite and not an index snapshot: the cache writes on every miss, and a
row insert is durable at once (WAL), where a snapshot of the whole index
would lose everything since the last save on a crash. The index is rebuilt
from the rows at start: ~1.3 CPU-seconds per 100,000 entries for the exact
one, ~2.7 for the IVF one (one k-means per scope). `path = ":memory:"` keeps
it in RAM (storage.kind = memory).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from fleetcost.storage.base import SemanticEntry
from fleetcost.storage.sqlite_conn import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS semantic_entries (
    entry_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    tenant TEXT NOT NULL,
    text TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    model TEXT NOT NULL,
    stream INTEGER NOT NULL,
    cost_usd TEXT,
    tags TEXT NOT NULL DEFAULT '',
    hits INTEGER NOT NULL DEFAULT 0,
    vector BLOB NOT NULL,
    body BLOB NOT NULL
);
"""
_META = "entry_id, scope, tenant, text, created, expires, model, stream, cost_usd, tags, hits"


class SQLiteSemanticStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    def put(self, entry: SemanticEntry, vector: bytes) -> None:
        values = (entry.entry_id, entry.scope, entry.tenant, entry.text, entry.created,
                  entry.expires, entry.model, int(entry.stream), entry.cost_usd,
                  "\n".join(entry.tags), entry.hits, vector, entry.body)
        with self._lock:
            self._conn.execute(
                f"INSERT OR REPLACE INTO semantic_entries ({_META}, vector, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def delete(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("DELETE FROM semantic_entries WHERE entry_id = ?",
                                   [(i,) for i in entry_ids])
            self._conn.execute("COMMIT")

    def body(self, entry_id: str) -> bytes | None:
        with self._lock:
            row = self._conn.execute("SELECT body FROM semantic_entries WHERE entry_id = ?",
                                     (entry_id,)).fetchone()
        return bytes(row[0]) if row else None

    def texts(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """The stored question texts of `entry_ids` (missing ones left out), one query:
        memory keeps vectors and metadata, a lookup reads only its few candidates."""
        if not entry_ids:
            return {}
        marks = ", ".join("?" * len(entry_ids))
        with self._lock:
            rows = self._conn.execute(f"SELECT entry_id, text FROM semantic_entries "
                                      f"WHERE entry_id IN ({marks})", tuple(entry_ids)).fetchall()
        return {r[0]: r[1] for r in rows}

    def hit(self, entry_id: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE semantic_entries SET hits = hits + 1 WHERE entry_id = ?",
                               (entry_id,))

    def load(self) -> Iterator[tuple[SemanticEntry, bytes]]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_META}, vector FROM semantic_entries").fetchall()
        for r in rows:
            tags = tuple(t for t in r[9].split("\n") if t)
            yield (SemanticEntry(entry_id=r[0], scope=r[1], tenant=r[2], text=r[3], created=r[4],
                                 expires=r[5], model=r[6], stream=bool(r[7]), cost_usd=r[8],
                                 tags=tags, hits=r[10]), bytes(r[11]))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
