"""Groups, totals and series from the aggregates, edges and straddlers (see rollup_read).

Each figure is assembled from disjoint parts and merged in Python with
integers: whole hours + edge calls for sums and agent-hours; inside sessions
+ straddling sessions' calls for session counts. `open_range` must have
filled the temp tables for the same range first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from decimal import Decimal

from fleetcost.storage.base import CallQuery, GroupTotals
from fleetcost.storage.rollup_read import (
    SEL,
    Acc,
    Plan,
    _add,
    _key,
    fill_edges,
    fill_straddlers,
    plan,
    totals_of,
)
from fleetcost.storage.rollup_sql import MEASURES

Counts = dict[str | None, list[int]]
# grouping -> (rollup dim, key over rollup rows, key over call rows, session-keys dim)
_DIMS = {
    "agent": ("agent", "key", "agent", "agent"), "task": ("task", "key", "task", "task"),
    "model": ("model", "key", "model", "model"), "tenant": ("tenant", "key", "tenant", "tenant"),
    "provider": ("provider", "key", "provider", "provider"),
    "day": ("", "substr({t}, 1, 10)", "substr(hour, 1, 10)", "day"),
    "hour": ("", "{t}", "hour", "hour"), None: ("", "''", "''", ""),
}


def open_range(conn: sqlite3.Connection, q: CallQuery) -> Plan | None:
    """The plan of a range with its temp tables filled; None when reading the calls is better."""
    p = plan(conn, q)
    if p is None or not fill_straddlers(conn, p):
        return None
    fill_edges(conn, p)
    _select_sessions(conn, p)
    return p


def _count(counts: Counts, rows: object, slot: int, sign: int = 1) -> None:
    for row in rows:  # type: ignore[attr-defined]
        k = _key(row[0])
        got = counts.setdefault(k, [0, 0, 0])
        for i, v in enumerate(row[1:]):
            got[slot + i] += sign * int(v or 0)


def _select_sessions(conn: sqlite3.Connection, p: Plan) -> None:
    """`_rollup_sel`: the inside sessions, or the others when those are fewer.

    Counting a grouping's sessions joins the chosen sessions to their
    (grouping, session) pairs; when most sessions are inside, counting every
    pair and taking away the few outside ones reads less.
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _rollup_sel (session TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _rollup_sel")
    if not p.bounded:
        return
    inside, params = p.inside()
    n_in = conn.execute(f"SELECT COUNT(*) FROM rollup_sessions s WHERE {inside}",
                        params).fetchone()[0]
    n_all = conn.execute("SELECT COUNT(*) FROM rollup_sessions").fetchone()[0]
    p.select_inside = n_in <= n_all - n_in
    test = inside if p.select_inside else f"NOT ({inside})"
    conn.execute(f"INSERT INTO _rollup_sel SELECT s.session FROM rollup_sessions s WHERE {test}",
                 params)


def _sums(conn: sqlite3.Connection, p: Plan, dim: str, rkey: str, ckey: str,
          where: str = "1") -> Acc:
    """Sums by key: whole days, whole hours around them, then the edge calls."""
    acc: Acc = {}
    for table, when, params in p.parts(hourly_only=rkey == "{t}"):
        t = "day" if table == "rollup_daily" else "hour"
        _add(acc, conn.execute(f"SELECT {rkey.format(t=t)}, {SEL} FROM {table} WHERE dim = ? "
                               f"AND {when} GROUP BY 1", [dim, *params]))
    _add(acc, conn.execute(f"SELECT {ckey}, {SEL} FROM _rollup_edge WHERE {where} GROUP BY 1"))
    return acc


def _agent_hours(conn: sqlite3.Connection, p: Plan, counts: Counts, dim: str, rkey: str,
                 ckey: str, where: str = "1") -> None:
    """Agent-hours: the counters of whole days and hours, then distinct pairs at the edges."""
    for table, when, params in p.parts(hourly_only=rkey == "{t}"):
        t = "day" if table == "rollup_daily" else "hour"
        _count(counts, conn.execute(f"SELECT {rkey.format(t=t)}, SUM(agent_hours) FROM {table} "
                                    f"WHERE dim = ? AND {when} GROUP BY 1", [dim, *params]), 2)
    _count(counts, conn.execute(
        f"SELECT k, COUNT(*) FROM (SELECT DISTINCT {ckey} AS k, agent, hour FROM _rollup_edge "
        f"WHERE agent IS NOT NULL AND {where}) GROUP BY k"), 2)


def _session_counts(conn: sqlite3.Connection, p: Plan, counts: Counts, sdim: str,
                    ckey: str) -> None:
    inside, params = p.inside()
    if sdim:
        pairs = "SELECT k.key, COUNT(*), SUM(k.failed) FROM "
        if not p.bounded or not p.select_inside:
            _count(counts, conn.execute(pairs + "rollup_session_keys k WHERE k.dim = ? "
                                        "GROUP BY k.key", [sdim]), 0)
        if p.bounded:
            _count(counts, conn.execute(
                pairs + "_rollup_sel t CROSS JOIN rollup_session_keys k INDEXED BY "
                "rollup_session_keys_session ON k.session = t.session WHERE k.dim = ? "
                "GROUP BY k.key", [sdim]), 0, 1 if p.select_inside else -1)
    else:
        _count(counts, conn.execute(f"SELECT '', COUNT(*), SUM(s.failed_calls > 0) FROM "
                                    f"rollup_sessions s WHERE {inside}", params), 0)
    _count(counts, conn.execute(
        f"SELECT {ckey}, COUNT(DISTINCT session), COUNT(DISTINCT CASE WHEN failed_calls "
        "THEN session END) FROM _rollup_strad WHERE session IS NOT NULL GROUP BY 1"), 0)


def grouped(conn: sqlite3.Connection, p: Plan, by: str | None) -> list[GroupTotals]:
    """Groups by any key but session (or the totals, with `by` None)."""
    dim, rkey, ckey, sdim = _DIMS[by]
    acc = _sums(conn, p, dim, rkey, ckey)
    counts: Counts = {}
    _agent_hours(conn, p, counts, dim, rkey, ckey)
    _session_counts(conn, p, counts, sdim, ckey)
    if by is None:
        v = acc.get("") or [0] * len(MEASURES)
        c = counts.get("") or [0, 0, 0]
        return [totals_of(None, v, (c[0], c[1], c[2]))]
    out = [totals_of(k, v, tuple(counts.get(k, [0, 0, 0])))  # type: ignore[arg-type]
           for k, v in acc.items()]
    return sorted(out, key=lambda g: (g.key is not None, g.key or ""))


def _only(conn: sqlite3.Connection, keys: Sequence[str] | None) -> str:
    """A filter of column `{c}` to these sessions (all when None), to `.format(c=...)`."""
    if keys is None:
        return "1"
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _rollup_only (session TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _rollup_only")
    conn.executemany("INSERT OR IGNORE INTO _rollup_only VALUES (?)", [(k,) for k in keys])
    return "{c} IN (SELECT session FROM _rollup_only)"


def by_session(conn: sqlite3.Connection, p: Plan,
               keys: Sequence[str] | None = None) -> list[GroupTotals]:
    """The session grouping: inside sessions from their rows, straddlers from their calls."""
    inside, params = p.inside()
    only = _only(conn, keys)
    s_only, c_only = (only.format(c=c) for c in ("s.session", "session"))
    acc: Acc = {}
    hours: dict[str, int] = {}
    for row in conn.execute(f"SELECT s.session, s.agent_hours, {', '.join(MEASURES)} FROM "
                            f"rollup_sessions s WHERE {inside} AND {s_only}", params):
        acc[row[0]], hours[row[0]] = list(row[2:]), row[1]
    _add(acc, conn.execute(f"SELECT session, {SEL} FROM _rollup_strad WHERE {c_only} GROUP BY 1"))
    hours.update(conn.execute(
        "SELECT session, COUNT(*) FROM (SELECT DISTINCT session, agent, hour FROM _rollup_strad "
        f"WHERE agent IS NOT NULL AND {c_only}) GROUP BY session"))
    out = [totals_of(k, v, (1, int(v[6] > 0), hours.get(k, 0))) for k, v in acc.items()]
    none = None if keys is not None else _sums(conn, p, "sess0", "NULL", "NULL",
                                                "session IS NULL").get(None)
    if none is not None and none[0]:
        orphans: Counts = {}
        _agent_hours(conn, p, orphans, "sess0", "NULL", "NULL", "session IS NULL")
        out.append(totals_of(None, none, (0, 0, orphans.get(None, [0, 0, 0])[2])))
    return sorted(out, key=lambda g: (g.key is not None, g.key or ""))


def session_costs(conn: sqlite3.Connection, p: Plan) -> dict[str, Decimal]:
    inside, params = p.inside()
    # In order of cost, so the caller's sort of the values has (almost) nothing to do.
    picos = dict(conn.execute(f"SELECT s.session, s.cost_pico FROM rollup_sessions s "
                              f"WHERE {inside} ORDER BY s.cost_pico", params))
    for k, hi, lo in conn.execute("SELECT session, SUM(cost_pico / 1000000), "
                                  "SUM(cost_pico % 1000000) FROM _rollup_strad "
                                  "WHERE session IS NOT NULL GROUP BY 1"):
        picos[k] = int(hi or 0) * 1000000 + int(lo or 0)
    return {k: Decimal(v).scaleb(-12) for k, v in picos.items()}


def series(conn: sqlite3.Connection, p: Plan, by: str,
           bucket: str) -> list[tuple[str, str | None, Decimal]]:
    dim, rkey, ckey, _ = _DIMS[by]
    bx = "substr({t}, 1, 10)" if bucket == "day" else "{t}"
    money = "SUM(cost_pico / 1000000), SUM(cost_pico % 1000000)"
    sums: dict[tuple[str, str | None], int] = {}
    queries = [(f"SELECT {bx.format(t=t)}, {rkey.format(t=t)}, {money} FROM {table} "
                f"WHERE dim = ? AND {when} GROUP BY 1, 2", [dim, *params])
               for table, when, params in p.parts(hourly_only=bucket == "hour" or by == "hour")
               for t in ["day" if table == "rollup_daily" else "hour"]]
    queries.append((f"SELECT {bx.format(t='hour')}, {ckey}, {money} FROM _rollup_edge "
                    "GROUP BY 1, 2", []))
    for sql, args in queries:
        for when, k, hi, lo in conn.execute(sql, args):
            key = (when, _key(k))
            sums[key] = sums.get(key, 0) + int(hi or 0) * 1000000 + int(lo or 0)
    ordered = sorted(sums.items(), key=lambda i: (i[0][0], i[0][1] or ""))
    return [(when, k, Decimal(v).scaleb(-12)) for (when, k), v in ordered]
