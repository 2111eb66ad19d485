"""Keeping the aggregates in step with the calls, inside the writer's transaction.

`prepare` runs before a batch's INSERT and `apply` after it, both inside the
transaction that inserts the calls, so a crash leaves either both or neither.
The common case (new calls, parents already known) adds the batch's sums to
the aggregates. Everything else makes cells "dirty" and rebuilds them from
the calls themselves, with the same SQL as the migration:

- a call replaced under the same id (`INSERT OR REPLACE`): its old hour and
  old session are rebuilt;
- a parent that arrives after its sub-agent calls (or a replaced call that
  re-parents a tree): every descendant whose rolled-up session or task
  changes gets its `rollup_roots` row redone, and its hour and its old and
  new sessions are rebuilt.

Late rows (an old `ts`) need nothing special: sums land in their own hour.
The ledger has no deletion or retention; a future one must rebuild the hours
and sessions of what it deletes (`rebuild`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fleetcost.storage.rollup_sql import (
    DAY_FROM_HOURS,
    FILL,
    HOUR_TARGETS,
    HOURLY_DIMS,
    NEW_TABLE,
    SESSION_TARGETS,
    SRC_TABLE,
)
from fleetcost.types import CallRecord

_CHUNK = 500
Keys = tuple[str | None, str | None]  # (session, task) after the roll-up


@dataclass(slots=True)
class Pending:
    """What a batch changes: the ids it writes and the cells to rebuild."""

    ids: list[str]
    hours: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def prepare(conn: sqlite3.Connection, records: Sequence[CallRecord], *, replace: bool) -> Pending:
    """Before the INSERT: which ids exist already, and (when they will be replaced) their cells."""
    ids = list(dict.fromkeys(r.call_id for r in records))
    existing: dict[str, tuple[str, str | None]] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            "SELECT c.call_id, substr(c.ts, 1, 13), COALESCE(r.session_key, c.session_id) "
            "FROM calls c LEFT JOIN rollup_roots r ON r.call_id = c.call_id "
            f"WHERE c.call_id IN ({_marks(len(chunk))})", list(chunk)).fetchall()
        existing.update((cid, (hour, session)) for cid, hour, session in rows)
    if not replace:  # INSERT OR IGNORE: existing rows stay as they are
        return Pending([i for i in ids if i not in existing])
    pending = Pending(ids)
    for hour, session in existing.values():
        pending.hours.add(hour)
        if session is not None:
            pending.sessions.add(session)
    return pending


def _walk(conn: sqlite3.Connection, call_id: str, parent: str | None) -> str | None:
    """The root ancestor's id (None when the call is its own root), as the reference walks."""
    seen, root = {call_id}, None
    while parent is not None and parent not in seen:
        row = conn.execute("SELECT parent_id FROM calls WHERE call_id = ?", (parent,)).fetchone()
        if row is None:
            break
        root, parent = parent, row[0]
        seen.add(root)
    return root


def _root_keys(conn: sqlite3.Connection, call_id: str, parent: str | None,
               own: Keys) -> Keys | None:
    root = _walk(conn, call_id, parent)
    if root is None:
        return None
    session, task = conn.execute(
        "SELECT session_id, task_type FROM calls WHERE call_id = ?", (root,)).fetchone()
    return (session if session is not None else own[0], task if task is not None else own[1])


def _set_root(conn: sqlite3.Connection, call_id: str, keys: Keys | None) -> None:
    conn.execute("DELETE FROM rollup_roots WHERE call_id = ?", (call_id,))
    if keys is not None:
        conn.execute("INSERT INTO rollup_roots VALUES (?, ?, ?)", (call_id, *keys))


def _roots_of_batch(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    for chunk in _chunks(ids):
        conn.execute(f"DELETE FROM rollup_roots WHERE call_id IN ({_marks(len(chunk))})",
                     list(chunk))
        rows = conn.execute(
            "SELECT call_id, parent_id, session_id, task_type FROM calls "
            f"WHERE parent_id IS NOT NULL AND call_id IN ({_marks(len(chunk))})",
            list(chunk)).fetchall()
        for call_id, parent, session, task in rows:
            keys = _root_keys(conn, call_id, parent, (session, task))
            if keys is not None:
                conn.execute("INSERT INTO rollup_roots VALUES (?, ?, ?)", (call_id, *keys))


def _reroot_descendants(conn: sqlite3.Connection, pending: Pending) -> None:
    """Calls already in the ledger below a written call: redo their roots; dirty what moved."""
    batch = set(pending.ids)
    frontier, visited = list(batch), set(batch)
    while frontier:
        found = []
        for chunk in _chunks(frontier):
            found += conn.execute(
                "SELECT c.call_id, c.parent_id, c.session_id, c.task_type, substr(c.ts, 1, 13), "
                "r.call_id, r.session_key, r.task_key FROM calls c "
                "LEFT JOIN rollup_roots r ON r.call_id = c.call_id "
                f"WHERE c.parent_id IN ({_marks(len(chunk))})", list(chunk)).fetchall()
        frontier = []
        for call_id, parent, session, task, hour, had, old_s, old_t in found:
            if call_id in visited:
                continue
            visited.add(call_id)
            frontier.append(call_id)
            own: Keys = (session, task)
            old = (old_s, old_t) if had is not None else own
            new = _root_keys(conn, call_id, parent, own)
            if (new or own) != old or (had is None) != (new is None):
                _set_root(conn, call_id, new)
                pending.hours.add(hour)
                pending.sessions.update(s for s in (old[0], (new or own)[0]) if s is not None)


def _run(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    for sql in statements:
        conn.execute(sql)


def apply(conn: sqlite3.Connection, pending: Pending) -> None:
    """After the INSERT (same transaction): roots, the batch's sums, then dirty cells."""
    if not pending.ids:
        return
    _roots_of_batch(conn, pending.ids)
    _reroot_descendants(conn, pending)
    conn.execute(SRC_TABLE)
    conn.execute(NEW_TABLE)
    conn.execute("DELETE FROM _rollup_src")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _rollup_ids (call_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _rollup_ids")
    conn.executemany("INSERT OR IGNORE INTO _rollup_ids VALUES (?)", [(i,) for i in pending.ids])
    conn.execute(FILL.replace("FROM calls c", "FROM _rollup_ids b JOIN calls c "
                              "ON c.call_id = b.call_id") + " WHERE 1")
    _run(conn, HOUR_TARGETS + SESSION_TARGETS)
    rebuild(conn, pending.hours, pending.sessions)


def _succ(text: str) -> str:
    """The smallest string above every string that starts with `text`."""
    return text[:-1] + chr(ord(text[-1]) + 1)


def rebuild(conn: sqlite3.Connection, hours: Iterable[str], sessions: Iterable[str]) -> None:
    """Recompute the aggregates of these hours and these sessions from the calls."""
    hours, sessions = sorted(hours), sorted(sessions)
    dims = [d for d, _, _ in HOURLY_DIMS]  # a superset of the agent-hour dims
    conn.execute(SRC_TABLE)
    conn.execute(NEW_TABLE)
    if hours:
        conn.execute("DELETE FROM _rollup_src")
        for h in hours:
            for table in ("rollup_hourly", "rollup_agent_hours"):
                conn.execute(f"DELETE FROM {table} WHERE dim IN ({_marks(len(dims))}) "
                             "AND hour = ?", [*dims, h])
            conn.execute(FILL + " WHERE c.ts >= ? AND c.ts < ? AND substr(c.ts, 1, 13) = ?",
                         (h, _succ(h), h))
        _run(conn, [t for t in HOUR_TARGETS if "rollup_daily" not in t])
        for day in sorted({h[:10] for h in hours}):  # the days of those hours, from the hours
            for dim in dims:
                conn.execute("DELETE FROM rollup_daily WHERE dim = ? AND day = ?", (dim, day))
                conn.execute(DAY_FROM_HOURS, (dim, day, _succ(day), day))
    if sessions:
        conn.execute("DELETE FROM _rollup_src")
        for s in sessions:
            for table in ("rollup_sessions", "rollup_session_keys", "rollup_session_hours"):
                conn.execute(f"DELETE FROM {table} WHERE session = ?", (s,))
            conn.execute(FILL + " WHERE c.session_id = ?1 AND r.session_key IS NULL", (s,))
            conn.execute(FILL + " WHERE r.session_key = ?1", (s,))
        _run(conn, SESSION_TARGETS)
