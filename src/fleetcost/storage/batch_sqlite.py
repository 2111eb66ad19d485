"""Durable state of batch offload, in the ledger's own SQLite file.

An item is written here before the client gets its 202, so an accepted
request survives any crash. Items move `queued` -> `submitted` (claimed by a
job) -> `succeeded` | `errored` | `expired` | `canceled`. A job is written
`submitting` in the same transaction that claims its items, becomes
`submitted` once the provider's batch id is known and `ended` when its
results are in. A restarted poller therefore finds every job that still
needs work: `submitting` ones are sent again, `submitted` ones polled.

Exactly once in the ledger: the results of a job, the ledger rows of its
items, their dead letters and the job's end are one transaction on one
file. A crash before it commits leaves the job `submitted`, and the results
are fetched again from the provider, which keeps them; a crash after it
leaves nothing to redo in this file.

Budgets live in another file, so the charge cannot join that commit. An
ended item with a hold keeps `budget_settled = 0` until the budget store has
confirmed its charge (`unsettled` / `mark_settled`); the budget store's
`settle_once` remembers every settled hold id, so charging again after a
crash between the two is a no-op, never a second charge.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fleetcost.pricing.cost import format_usd
from fleetcost.storage.migrations import migrate
from fleetcost.storage.rollup_write import apply, prepare
from fleetcost.storage.sqlite import STORED, ledger_row
from fleetcost.storage.sqlite_conn import connect
from fleetcost.types import CallRecord

# With the pico-dollar twins, so reports over batch calls stay on the exact integer path.
_INSERT_CALL = (f"INSERT OR IGNORE INTO calls ({', '.join(STORED)}) VALUES ("
                + ", ".join("?" for _ in STORED) + ")")
_ITEM_COLUMNS = ("item_id, ts, state, provider, wire, model, requested_model, route_reason, "
                 "identity, body, job_id, result, cost_usd, error, retry_of, group_id, "
                 "custom_id, hold")
_INSERT_ITEM = (f"INSERT INTO batch_items ({_ITEM_COLUMNS}) VALUES "
                f"({', '.join('?' for _ in _ITEM_COLUMNS.split(','))})")
TERMINAL = ("succeeded", "errored", "expired", "canceled")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(slots=True)
class StoredItem:
    item_id: str
    ts: str
    state: str
    provider: str
    wire: str
    model: str
    requested_model: str | None
    route_reason: str | None
    identity: dict[str, Any]
    body: bytes
    job_id: str | None = None
    result: bytes | None = None
    cost_usd: str | None = None
    error: str | None = None
    retry_of: str | None = None
    group_id: str | None = None
    custom_id: str | None = None
    # The budget reservation taken at acceptance (opaque to this store).
    hold: str | None = None

    def params(self) -> tuple[Any, ...]:
        return (self.item_id, self.ts, "queued", self.provider, self.wire, self.model,
                self.requested_model, self.route_reason, orjson.dumps(self.identity),
                self.body, None, None, None, None, self.retry_of, self.group_id,
                self.custom_id, self.hold)


@dataclass(slots=True)
class StoredJob:
    job_id: str
    provider: str
    model: str
    state: str
    upstream_id: str | None


@dataclass(frozen=True, slots=True)
class Settled:
    """What a finished item becomes: its state, result and ledger row."""

    item_id: str
    state: str
    result: bytes | None
    error: str | None
    record: CallRecord


def _item(row: Sequence[Any]) -> StoredItem:
    values = list(row)
    values[8] = orjson.loads(values[8])
    return StoredItem(*values)


class SQLiteBatchStore:
    def __init__(self, path: str) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        migrate(self._conn)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def enqueue(self, item: StoredItem) -> None:
        self._run(_INSERT_ITEM, item.params())

    def put_file(self, file_id: str, filename: str, purpose: str, content: bytes) -> str:
        ts = _now()
        self._run("INSERT INTO batch_files (file_id, ts, filename, purpose, content) "
                  "VALUES (?, ?, ?, ?, ?)", (file_id, ts, filename, purpose, content))
        return ts

    def get_file(self, file_id: str) -> tuple[str, str, str, bytes] | None:
        """(ts, filename, purpose, content) of an uploaded file."""
        rows = self._run("SELECT ts, filename, purpose, content FROM batch_files "
                         "WHERE file_id = ?", (file_id,))
        return (str(rows[0][0]), str(rows[0][1]), str(rows[0][2]), bytes(rows[0][3])
                ) if rows else None

    def create_group(self, group_id: str, input_file_id: str, endpoint: str,
                     metadata: bytes, items: Sequence[StoredItem]) -> str:
        """A client's batch and all its items, accepted in one transaction."""
        ts = _now()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO batch_groups (group_id, ts, input_file_id, endpoint, "
                    "metadata) VALUES (?, ?, ?, ?, ?)",
                    (group_id, ts, input_file_id, endpoint, metadata))
                self._conn.executemany(_INSERT_ITEM, [i.params() for i in items])
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return ts

    def group(self, group_id: str) -> tuple[tuple[Any, ...], list[StoredItem]] | None:
        """(ts, input_file_id, endpoint, metadata) and the items of a client's batch."""
        rows = self._run("SELECT ts, input_file_id, endpoint, metadata FROM batch_groups "
                         "WHERE group_id = ?", (group_id,))
        if not rows:
            return None
        items = self._run(f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE group_id = ? "
                          "ORDER BY rowid", (group_id,))
        return tuple(rows[0]), [_item(r) for r in items]

    def queued_groups(self) -> list[tuple[str, str, int, str]]:
        """(provider, model, count, oldest ts) of items waiting for a batch."""
        rows = self._run("SELECT provider, model, COUNT(*), MIN(ts) FROM batch_items "
                         "WHERE state = 'queued' GROUP BY provider, model")
        return [(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]

    def claim(self, job_id: str, provider: str, model: str, limit: int) -> list[StoredItem]:
        """Create a `submitting` job holding up to `limit` queued items, atomically."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "UPDATE batch_items SET state = 'submitted', job_id = ? WHERE item_id IN "
                    "(SELECT item_id FROM batch_items WHERE state = 'queued' AND provider = ? "
                    "AND model = ? ORDER BY ts LIMIT ?)", (job_id, provider, model, limit))
                self._conn.execute(
                    "INSERT INTO batch_jobs (job_id, provider, model, state, created_ts) "
                    "VALUES (?, ?, ?, 'submitting', ?)", (job_id, provider, model, _now()))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return self.items_of(job_id)

    def items_of(self, job_id: str) -> list[StoredItem]:
        rows = self._run(f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE job_id = ? "
                         "ORDER BY ts", (job_id,))
        return [_item(r) for r in rows]

    def submitted(self, job_id: str, upstream_id: str) -> None:
        self._run("UPDATE batch_jobs SET state = 'submitted', upstream_id = ? WHERE job_id = ?",
                  (upstream_id, job_id))

    def open_jobs(self) -> list[StoredJob]:
        rows = self._run("SELECT job_id, provider, model, state, upstream_id FROM batch_jobs "
                         "WHERE state IN ('submitting', 'submitted') ORDER BY created_ts")
        return [StoredJob(*r) for r in rows]

    def note_status(self, job_id: str, status: str) -> None:
        self._run("UPDATE batch_jobs SET upstream_status = ? WHERE job_id = ?",
                  (status, job_id))

    def finish(self, job_id: str, settled: Sequence[Settled]) -> None:
        """Items' results, their ledger rows, dead letters and the job's end: one commit."""
        now = _now()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                pending = prepare(self._conn, [s.record for s in settled], replace=False)
                for s in settled:
                    cost = (format_usd(s.record.cost_usd)
                            if s.record.cost_usd is not None else None)
                    self._conn.execute(
                        "UPDATE batch_items SET state = ?, result = ?, error = ?, cost_usd = ? "
                        "WHERE item_id = ? AND state = 'submitted'",
                        (s.state, s.result, s.error, cost, s.item_id))
                    self._conn.execute(_INSERT_CALL, ledger_row(s.record))
                    if s.state != "succeeded":
                        self._conn.execute(
                            "INSERT OR IGNORE INTO batch_dead_letters (item_id, kind, reason, "
                            "ts) VALUES (?, ?, ?, ?)", (s.item_id, s.state, s.error or s.state,
                                                        now))
                self._conn.execute("UPDATE batch_jobs SET state = 'ended', ended_ts = ? "
                                   "WHERE job_id = ?", (now, job_id))
                apply(self._conn, pending)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def get(self, item_id: str) -> StoredItem | None:
        rows = self._run(f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE item_id = ?",
                         (item_id,))
        return _item(rows[0]) if rows else None

    def retried_as(self, item_id: str) -> str | None:
        rows = self._run("SELECT retried_as FROM batch_dead_letters WHERE item_id = ?",
                         (item_id,))
        return str(rows[0][0]) if rows and rows[0][0] else None

    def dead_letters(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._run("SELECT d.item_id, d.kind, d.reason, d.ts, d.retried_as, i.provider, "
                         "i.model FROM batch_dead_letters d JOIN batch_items i USING (item_id) "
                         "ORDER BY d.ts LIMIT ?", (limit,))
        keys = ("id", "kind", "reason", "ts", "retried_as", "provider", "model")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def pending_dead_letter(self, item_id: str) -> StoredItem | None:
        """The item, if it is a dead letter not yet retried."""
        rows = self._run("SELECT 1 FROM batch_dead_letters WHERE item_id = ? "
                         "AND retried_as IS NULL", (item_id,))
        return self.get(item_id) if rows else None

    def retry(self, item_id: str, new_id: str, hold: str | None = None) -> StoredItem | None:
        """Queue a dead letter again under `new_id` with its new budget hold; None if it
        is not a pending dead letter (any more: two retries race, one wins)."""
        old = self.get(item_id)
        if old is None:
            return None
        fresh = StoredItem(new_id, _now(), "queued", old.provider, old.wire, old.model,
                           old.requested_model, old.route_reason, old.identity, old.body,
                           retry_of=item_id, hold=hold)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                won = self._conn.execute(
                    "UPDATE batch_dead_letters SET retried_as = ? WHERE item_id = ? "
                    "AND retried_as IS NULL", (new_id, item_id)).rowcount == 1
                if won:
                    self._conn.execute(_INSERT_ITEM, fresh.params())
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return fresh if won else None

    def unsettled(self) -> list[tuple[str, str, str | None, int]]:
        """(item id, hold, ledger cost, tokens) of ended items whose budget charge the
        budget store has not confirmed: read from the ledger row, the one truth."""
        rows = self._run(
            "SELECT i.item_id, i.hold, c.cost_usd, c.input_tokens + c.output_tokens "
            # The partial index holds only items still owing: a tick reads nothing else.
            "FROM batch_items i INDEXED BY batch_items_unsettled "
            "JOIN calls c ON c.call_id = i.item_id "
            "WHERE i.hold IS NOT NULL AND i.budget_settled = 0 AND i.state IN "
            f"{TERMINAL!r}")
        return [(str(r[0]), str(r[1]), r[2], int(r[3])) for r in rows]

    def mark_settled(self, item_ids: Sequence[str]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("UPDATE batch_items SET budget_settled = 1 "
                                       "WHERE item_id = ?", [(i,) for i in item_ids])
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        rows = self._run("SELECT state, COUNT(*) FROM batch_items GROUP BY state")
        return {str(r[0]): int(r[1]) for r in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
