"""Reports from the aggregates (see rollup_sql), exactly equal to reports from the calls.

A time range splits two ways, and each figure uses the split it adds up over:

- Sums and agent-hours add up over clock hours. Hours that lie wholly inside
  [since, until) are read from `rollup_hourly` / `rollup_agent_hours`; the
  calls of the one or two partial hours at the edges are read through the
  `ts` index and aggregated on the spot (`_rollup_edge`).
- Session counts (and the session grouping itself) add up over sessions. A
  session whose first and last call both lie inside the range is read from
  the session tables; a session that straddles an edge has its calls inside
  the range read through the `ts` index (`_rollup_strad`).

With no range, there are no edges and no straddlers: a report reads only
aggregates. With a range, the cost grows with the calls of partial hours and
of sessions crossing an edge (few for sessions of minutes; for sessions that
span the whole range, that is every call of the range).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fleetcost.storage.base import CallQuery, GroupTotals
from fleetcost.storage.rollup_sql import MEASURES, SOURCE, SRC_COLUMNS

_MONEY = frozenset({"cost_pico", "saved_exact", "saved_semantic", "saved_routing"})
# Money is summed as micro-dollars and a pico remainder, so no SUM can overflow.
SEL = ", ".join(f"SUM({m} / 1000000), SUM({m} % 1000000)" if m in _MONEY else f"SUM({m})"
                for m in MEASURES)
_LEVERS = (("exact", 12), ("semantic", 13), ("routing", 14))
_HOURLY = {"agent": "agent", "task": "task", "model": "model", "tenant": "tenant",
           "provider": "provider"}
Acc = dict[Any, list[int]]


def _key(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _succ(text: str) -> str:
    return text[:-1] + chr(ord(text[-1]) + 1)


def _values(row: Iterable[Any]) -> list[int]:
    it, out = iter(row), []
    for m in MEASURES:
        v = int(next(it) or 0)
        out.append(v * 1000000 + int(next(it) or 0) if m in _MONEY else v)
    return out


def _add(acc: Acc, rows: Iterable[Any]) -> None:
    for row in rows:
        k, vals = _key(row[0]), _values(row[1:])
        got = acc.get(k)
        acc[k] = vals if got is None else [a + b for a, b in zip(got, vals, strict=True)]


def totals_of(key: str | None, v: list[int], counts: tuple[int, int, int]) -> GroupTotals:
    g = GroupTotals(key, v[0], v[1], v[2], v[3], v[4])
    (g.unpriced_calls, g.failed_calls, g.response_hits, g.response_misses, g.prefix_hit_calls,
     g.escalated_calls) = v[5:11]
    g.cost_usd = Decimal(v[11]).scaleb(-12)
    for lever, i in _LEVERS:
        if v[i]:
            g.saved_by_lever[lever] = Decimal(v[i]).scaleb(-12)
    g.saved_usd = sum(g.saved_by_lever.values(), Decimal(0))
    g.sessions, g.failed_sessions, g.agent_hours = counts
    return g


@dataclass(slots=True)
class Plan:
    """How one range splits: whole hours [lo, hi] and the range's own bounds."""

    since: str | None
    until: str | None
    lo: str | None = None
    hi: str | None = None
    days: tuple[str, str] | None = None  # whole days inside [lo, hi]
    head: tuple[str, str] | None = None  # whole hours before them
    tail: tuple[str, str] | None = None  # whole hours after them
    select_inside: bool = True  # what `_rollup_sel` holds: inside sessions, or the others

    def parts(self, hourly_only: bool = False) -> list[tuple[str, str, list[str]]]:
        """(table, WHERE on its time column `t`, params) whose rows make up the whole hours."""
        if not self.bounded:
            return [("rollup_hourly" if hourly_only else "rollup_daily", "1", [])]
        if self.lo is None or self.hi is None:
            return []
        if hourly_only or self.days is None:
            return [("rollup_hourly", "hour BETWEEN ? AND ?", [self.lo, self.hi])]
        out = [("rollup_daily", "day BETWEEN ? AND ?", list(self.days))]
        out += [("rollup_hourly", "hour BETWEEN ? AND ?", list(r))
                for r in (self.head, self.tail) if r is not None]
        return out

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def hours(self, column: str = "hour") -> tuple[str, list[str]]:
        if not self.bounded:
            return "1", []
        if self.lo is None or self.hi is None:
            return "0", []
        return f"{column} BETWEEN ? AND ?", [self.lo, self.hi]

    def inside(self, s: str = "s") -> tuple[str, list[str]]:
        """Sessions whose every call is in range."""
        clauses, params = [], []
        if self.since is not None:
            clauses.append(f"{s}.first_ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{s}.last_ts < ?")
            params.append(self.until)
        return " AND ".join(clauses) or "1", params


def _whole(h: str, since: str | None, until: str | None) -> bool:
    if since is not None and h < since:
        return False
    if until is None:
        return True
    return _succ(h) <= until if len(h) == 13 else h < until


def plan(conn: sqlite3.Connection, q: CallQuery) -> Plan | None:
    """Whole hours of the range; None when they are not one run (then read the calls)."""
    p = Plan(q.since or None, q.until or None)
    if not p.bounded:
        return p
    hours = [h for (h,) in conn.execute(
        "SELECT hour FROM rollup_hourly WHERE dim = '' ORDER BY hour")]
    flags = [_whole(h, q.since, q.until) for h in hours]
    picked = [i for i, f in enumerate(flags) if f]
    if picked:
        if picked[-1] - picked[0] + 1 != len(picked):
            return None
        p.lo, p.hi = hours[picked[0]], hours[picked[-1]]
        _split_days(p, hours, picked[0], picked[-1])
    return p


def _split_days(p: Plan, hours: list[str], first: int, last: int) -> None:
    """Whole days within the whole hours [first, last] (indices into the sorted `hours`).

    Strings sharing a 10-character prefix sort together, so a day's hours are
    one run of `hours`: the day is whole when that run lies inside [first, last].
    """
    run_days = list(dict.fromkeys(h[:10] for h in hours[first:last + 1]))
    whole = [d for d in run_days
             if (r := _day_run(hours, d)) is not None and r[0] >= first and r[1] <= last]
    if not whole or (run_days.index(whole[-1]) - run_days.index(whole[0]) + 1 != len(whole)):
        return  # none, or not one run: the hours alone answer
    p.days = (whole[0], whole[-1])
    start, end = _day_run(hours, whole[0])[0], _day_run(hours, whole[-1])[1]  # type: ignore[index]
    if start > first:
        p.head = (hours[first], hours[start - 1])
    if end < last:
        p.tail = (hours[end + 1], hours[last])


def _day_run(hours: list[str], day: str) -> tuple[int, int] | None:
    """First and last index of the day's hours; None for a day that is not 10 characters."""
    lo, hi = bisect_left(hours, day), bisect_left(hours, _succ(day))
    if len(day) != 10 or hi == lo:
        return None
    return lo, hi - 1


def _between(lo: str | None, hi: str | None) -> tuple[str, list[str]]:
    """`lo <= c.ts < hi` as ONE range, so the planner walks only it on the ts index."""
    clauses, params = [], []
    if lo is not None:
        clauses.append("c.ts >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append("c.ts < ?")
        params.append(hi)
    return " AND ".join(clauses) or "1", params


_FROM = "FROM calls c INDEXED BY calls_ts LEFT JOIN rollup_roots r ON r.call_id = c.call_id"


def fill_edges(conn: sqlite3.Connection, p: Plan) -> None:
    """`_rollup_edge`: calls in range whose hour is not whole."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS _rollup_edge ({SRC_COLUMNS})")
    conn.execute("DELETE FROM _rollup_edge")
    if not p.bounded:
        return
    base = f"INSERT INTO _rollup_edge {SOURCE} {_FROM} WHERE "
    if p.lo is None or p.hi is None:
        where, params = _between(p.since, p.until)
        conn.execute(base + where, params)
        return
    if p.since is not None:
        top = p.lo if p.until is None else min(p.lo, p.until)
        where, params = _between(p.since, top)
        conn.execute(base + where + " AND substr(c.ts, 1, 13) < ?", [*params, p.lo])
    if p.until is not None:
        start = _succ(p.hi) if len(p.hi) == 13 else p.hi
        where, params = _between(start if p.since is None else max(start, p.since), p.until)
        conn.execute(base + where + " AND substr(c.ts, 1, 13) > ?", [*params, p.hi])


def _straddling(conn: sqlite3.Connection, p: Plan) -> int:
    """Fill `_rollup_strad_s` with the sessions crossing an edge; return their calls."""
    inside, i_params = p.inside()
    overlap, o_params = [], []
    if p.since is not None:
        overlap.append("s.last_ts >= ?")
        o_params.append(p.since)
    if p.until is not None:
        overlap.append("s.first_ts < ?")
        o_params.append(p.until)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _rollup_strad_s (session TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _rollup_strad_s")
    conn.execute(f"INSERT INTO _rollup_strad_s SELECT s.session FROM rollup_sessions s WHERE "
                 f"{' AND '.join(overlap)} AND NOT ({inside})", [*o_params, *i_params])
    row = conn.execute("SELECT SUM(s.calls) FROM _rollup_strad_s t "
                       "JOIN rollup_sessions s ON s.session = t.session").fetchone()
    return int(row[0] or 0)


def fill_straddlers(conn: sqlite3.Connection, p: Plan) -> bool:
    """`_rollup_strad`: calls in range of sessions with calls on both sides of an edge.

    Read by session (their calls through the session index and the roll-up
    table). False when those calls are more than half the range: sessions
    that outlast the range (a ledger where a session's calls spread over
    weeks) leave the aggregates little to answer, and one GROUP BY over the
    range's calls is cheaper.
    """
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS _rollup_strad ({SRC_COLUMNS})")
    conn.execute("DELETE FROM _rollup_strad")
    if not p.bounded:
        return True
    calls = _straddling(conn, p)
    if not calls:
        return True
    hours, h_params = p.hours()
    in_range = conn.execute(f"SELECT SUM(calls) FROM rollup_hourly WHERE dim = '' AND {hours}",
                            h_params).fetchone()[0] or 0
    if calls > in_range // 2:
        return False
    where, params = _between(p.since, p.until)
    # CROSS JOIN fixes the order: sessions first, then their calls by index.
    conn.execute(f"INSERT INTO _rollup_strad {SOURCE} FROM _rollup_strad_s t CROSS JOIN "
                 "calls c INDEXED BY calls_session ON c.session_id = t.session "
                 "LEFT JOIN rollup_roots r ON r.call_id = c.call_id "
                 f"WHERE r.call_id IS NULL AND {where}", params)
    conn.execute(f"INSERT INTO _rollup_strad {SOURCE} FROM _rollup_strad_s t CROSS JOIN "
                 "rollup_roots r INDEXED BY rollup_roots_session ON r.session_key = t.session "
                 f"CROSS JOIN calls c ON c.call_id = r.call_id WHERE {where}", params)
    return True
