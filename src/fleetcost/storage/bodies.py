"""Opt-in store of request bodies, for counterfactual replay.

With `[ledger] store_bodies = true` the gateway keeps each valid request's
body in the ledger file's `call_bodies` table (migration `m006_planning`),
keyed by call id, so `fleetcost replay LEDGER.db` can send the same prompts
again under another policy. Bodies hold prompts, so the feature is off by
default and every body is redacted first: built-in credential patterns
(`redaction.toml`) plus the config's own.

The hot path only appends a tuple to a list; redaction and the SQLite write
happen on a worker thread in batches, like the ledger writer's. A body that
cannot be written costs replay one call; it never touches the call's ledger
record, which goes through its own writer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
import tomllib
from collections.abc import Sequence
from importlib import resources

from fleetcost.storage.batching import Batcher
from fleetcost.storage.migrations import migrate
from fleetcost.storage.sqlite_conn import connect

log = logging.getLogger("fleetcost.bodies")
REDACTED = "[REDACTED]"
Body = tuple[str, str, bytes]  # call id, wire kind, raw body


def default_patterns() -> list[str]:
    text = resources.files("fleetcost.storage").joinpath("redaction.toml").read_text()
    return list(tomllib.loads(text)["patterns"])


class Redactor:
    def __init__(self, extra: Sequence[str] = ()) -> None:
        self._patterns = [re.compile(p) for p in (*default_patterns(), *extra)]

    def __call__(self, body: bytes) -> tuple[bytes, int]:
        text = body.decode("utf-8", errors="replace")
        count = 0
        for pattern in self._patterns:
            text, n = pattern.subn(REDACTED, text)
            count += n
        return text.encode(), count


class SQLiteBodyStore:
    """`call_bodies` in the ledger's own file (its own connection; WAL allows it)."""

    def __init__(self, path: str, redactor: Redactor) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        self._redact = redactor
        migrate(self._conn)

    def append(self, bodies: Sequence[Body]) -> None:
        rows: list[tuple[str, str, bytes, int]] = []
        for call_id, wire, raw in bodies:
            clean, count = self._redact(raw)
            rows.append((call_id, wire, clean, count))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO call_bodies (call_id, wire, body, redactions) "
                    "VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class NoBodies:
    """The null writer: `store_bodies` is off (the default)."""

    def submit(self, call_id: str, wire: str, body: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass


class BodyWriter(Batcher[Body]):
    """Batches bodies off the response path; `drain` at shutdown writes the rest."""

    def __init__(self, store: SQLiteBodyStore, *, batch_size: int = 256,
                 flush_ms: int = 50) -> None:
        super().__init__(batch_size=batch_size, flush_ms=flush_ms, thread_name="bodies")
        self._store = store

    def submit(self, call_id: str, wire: str, body: bytes) -> None:
        self._add((call_id, wire, body))

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await loop.run_in_executor(self._executor, self._store.append, batch)
            except (sqlite3.Error, OSError):
                log.exception("request bodies not stored: %d calls will not replay", len(batch))

    async def drain(self) -> None:
        await self._settle()
        await self._flush_all()
        self._executor.shutdown(wait=True)
        self._store.close()
