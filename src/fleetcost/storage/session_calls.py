"""A session's calls after the sub-agent roll-up, for the dashboard's drill-down.

Why: `report --by session` counts a call made on behalf of another agent
(`X-Fleetcost-Parent`) in its root ancestor's session, so a drill-down that
listed only the calls carrying the session id would not add up to the row it
drills into: sub-agent calls would be missing, and a call whose root lies in
another session would be listed twice over the report. The session key here
is the report's: the root's session, else the call's own.

On SQLite both halves come through an index: the calls carrying the id
(`calls_session`), less those rolled up elsewhere, and the calls rolled up
into it (`rollup_roots_session`, kept by the ledger writer).
"""

from __future__ import annotations

import sqlite3

from fleetcost.storage.sqlite import _from_row
from fleetcost.types import LEDGER_FIELDS, CallRecord

# (call, rolled up: True when it has a parent in the ledger, i.e. a sub-agent call)
SessionCall = tuple[CallRecord, bool]

_COLS = ", ".join(f"c.{n}" for n in LEDGER_FIELDS)
_SQL = (
    f"SELECT {_COLS}, r.call_id IS NOT NULL, c.rowid FROM calls c INDEXED BY calls_session "
    "LEFT JOIN rollup_roots r ON r.call_id = c.call_id "
    "WHERE c.session_id = ? AND COALESCE(r.session_key, c.session_id) = ? "
    f"UNION SELECT {_COLS}, 1, c.rowid FROM rollup_roots r INDEXED BY rollup_roots_session "
    "CROSS JOIN calls c ON c.call_id = r.call_id WHERE r.session_key = ? "
    "ORDER BY {ts} DESC, {rowid} DESC LIMIT ?"
)


def sqlite_session_calls(conn: sqlite3.Connection, session: str,
                         limit: int) -> list[SessionCall]:
    """Newest first, at most `limit`."""
    ts, rowid = LEDGER_FIELDS.index("ts") + 1, len(LEDGER_FIELDS) + 2
    sql = _SQL.format(ts=ts, rowid=rowid)
    rows = conn.execute(sql, [session, session, session, limit]).fetchall()
    n = len(LEDGER_FIELDS)
    return [(_from_row(row[:n]), bool(row[n])) for row in rows]
