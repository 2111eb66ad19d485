"""Ledger aggregations in SQLite: from the writer's aggregates, or one GROUP BY, exact money.

Why two paths: a report on a million calls must finish in well under a
second for the dashboard, which no scan of a million rows does. The ledger
writer keeps hourly and per-session integer aggregates (rollup_sql) in the
same transaction as the calls, and reports read those (rollup_groups),
taking only the calls of partial hours and edge-straddling sessions from the
`ts` index. When some money in range has no pico-dollar twin (more than 12
decimals, or negative), integer sums cannot be exact and the report reads
the calls with one GROUP BY, summing money with a registered aggregate that
adds `Decimal`s (SQLite's own SUM would turn the decimal text into floats).

Sub-agent roll-up: a call whose `parent_id` names another call is counted in
the task and session of its root ancestor; `rollup_roots` (kept by the
writer) holds those keys for the few calls that have a parent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from fleetcost.errors import ConfigError
from fleetcost.storage.base import REPORT_KEYS, CallQuery, GroupTotals
from fleetcost.storage.migrations import migrate
from fleetcost.storage.rollup_groups import (
    by_session,
    grouped,
    open_range,
    series,
    session_costs,
)
from fleetcost.storage.rollup_read import Plan
from fleetcost.storage.session_calls import SessionCall, sqlite_session_calls
from fleetcost.storage.sqlite_conn import connect

_KEY_SQL = {
    "agent": "c.agent_id",
    "task": "COALESCE(r.task_key, c.task_type)",
    "session": "COALESCE(r.session_key, c.session_id)",
    "model": "COALESCE(c.model, c.requested_model)",
    "tenant": "c.tenant",
    "provider": "c.provider",
    "day": "substr(c.ts, 1, 10)",
    "hour": "substr(c.ts, 1, 13)",
}
_FAILED = "c.outcome IN ('error', 'budget_exceeded', 'loop_detected')"
_SESSION = _KEY_SQL["session"]
_LEVERS = ("exact", "semantic", "routing")
_LEVER_OF = {"exact": "c.response_cache = 'exact'", "semantic": "c.response_cache = 'semantic'",
             "routing": "c.response_cache NOT IN ('exact', 'semantic')"}


def _money(column: str, exact: bool, where: str = "1") -> str:
    """Two integer SUMs (micro-dollars, then the pico remainder) that cannot overflow,
    or the Decimal aggregate over the text when some value is not whole picos."""
    if not exact:
        return f"dsum(CASE WHEN {where} THEN c.{column}_usd END), NULL"
    return (f"SUM(CASE WHEN {where} THEN c.{column}_pico / 1000000 END), "
            f"SUM(CASE WHEN {where} THEN c.{column}_pico % 1000000 END)")


def _columns(exact: bool) -> str:
    levers = ", ".join(_money("saved", exact, _LEVER_OF[lv]) for lv in _LEVERS)
    return f"""
    COUNT(*), SUM(c.input_tokens), SUM(c.cached_tokens), SUM(c.cache_write_tokens),
    SUM(c.output_tokens), SUM(c.cost_usd IS NULL), SUM({_FAILED}),
    SUM(c.response_cache IN ('exact', 'semantic')), SUM(c.response_cache = 'miss'),
    SUM(c.cache_status = 'hit'), SUM(c.escalated),
    COUNT(DISTINCT {_SESSION}), COUNT(DISTINCT CASE WHEN {_FAILED} THEN {_SESSION} END),
    COUNT(DISTINCT c.agent_id || '|' || substr(c.ts, 1, 13)),
    {_money("cost", exact)}, {levers}
"""


def _amount(high: object, low: object) -> Decimal:
    if low is None:  # the Decimal aggregate's text, or an empty group
        return Decimal(str(high or 0))
    return Decimal(int(high or 0)) / 1000000 + Decimal(int(low)) / 1000000000000  # type: ignore[call-overload]


def _totals(key: str | None, row: tuple[object, ...]) -> GroupTotals:
    ints = [int(v or 0) for v in row[:14]]  # type: ignore[call-overload]
    g = GroupTotals(key, *ints[:5])
    (g.unpriced_calls, g.failed_calls, g.response_hits, g.response_misses, g.prefix_hit_calls,
     g.escalated_calls, g.sessions, g.failed_sessions, g.agent_hours) = ints[5:]
    g.cost_usd = _amount(row[14], row[15])
    for i, lever in enumerate(_LEVERS):
        saved = _amount(row[16 + 2 * i], row[17 + 2 * i])
        if saved:
            g.saved_by_lever[lever] = saved
    g.saved_usd = sum(g.saved_by_lever.values(), Decimal(0))
    return g


class _DecimalSum:
    """SQLite aggregate: exact sum of decimal text; NULLs skipped."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total += Decimal(value)

    def finalize(self) -> str:
        return str(self.total)


def _where(q: CallQuery) -> tuple[str, str, list[str]]:
    """(index hint, WHERE clause, parameters) for a time range."""
    clauses, params = [], []
    if q.since:
        clauses.append("c.ts >= ?")
        params.append(q.since)
    if q.until:
        clauses.append("c.ts < ?")
        params.append(q.until)
    # A time range reads through the ts index; a whole-ledger report scans the
    # table in order, which beats walking a grouping index with random lookups.
    index = "INDEXED BY calls_ts" if clauses else "NOT INDEXED"
    return index, " AND ".join(clauses) or "1", params


def _sum_groups(groups: list[GroupTotals], distinct: tuple[int, int, int]) -> GroupTotals:
    """Totals of additive fields from the groups; distinct counts from their own query."""
    t = GroupTotals(None)
    for g in groups:
        for name in ("calls", "input_tokens", "cached_tokens", "cache_write_tokens",
                     "output_tokens", "cost_usd", "saved_usd", "unpriced_calls", "failed_calls",
                     "response_hits", "response_misses", "prefix_hit_calls", "escalated_calls"):
            setattr(t, name, getattr(t, name) + getattr(g, name))
        for lever, usd in g.saved_by_lever.items():
            t.saved_by_lever[lever] = t.saved_by_lever.get(lever, Decimal(0)) + usd
    t.sessions, t.failed_sessions, t.agent_hours = distinct
    return t


P = ParamSpec("P")
T = TypeVar("T")


def _snapshot(
    method: Callable[Concatenate[SQLiteLedgerReader, P], T],
) -> Callable[Concatenate[SQLiteLedgerReader, P], T]:
    """Run a reader method in one read transaction: its queries all see the same commit
    (a batch landing between the aggregates and the edge calls would count it twice)."""
    def run(reader: SQLiteLedgerReader, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if reader._conn.in_transaction:
            return method(reader, *args, **kwargs)
        reader._conn.execute("BEGIN")
        try:
            return method(reader, *args, **kwargs)
        finally:
            reader._conn.execute("COMMIT")
    run.__doc__ = method.__doc__
    return run


class SQLiteLedgerReader:
    """Reads the ledger on its own connection; safe beside a running gateway (WAL)."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:" and not Path(path).exists():
            raise ConfigError(f"no ledger at {path}: run `fleetcost serve` first or pass --db")
        self._conn: sqlite3.Connection = connect(str(path))
        migrate(self._conn)
        self._conn.create_aggregate("dsum", 1, _DecimalSum)  # type: ignore[arg-type]

    def _exact(self, index: str, where: str, params: list[str]) -> bool:
        """True when every money value in range has its pico-dollar twin.

        Answered from the partial index `calls_inexact` (migration m009), which
        holds only the rare rows without one, so it costs nothing on a clean ledger.
        """
        row = self._conn.execute(
            f"SELECT COUNT(*) FROM calls c INDEXED BY calls_inexact WHERE {where} AND "
            "((c.cost_usd IS NOT NULL AND c.cost_pico IS NULL) OR c.saved_pico IS NULL)",
            params).fetchone()
        return int(row[0]) == 0

    def _range(self, q: CallQuery) -> tuple[str, str, list[str]]:
        """`_where`, but a range holding over a quarter of the calls (by the hourly
        aggregates) scans the table in order: walking the ts index to most of the
        rows is slower than reading them all (2.9 s against 5.1 s for 70% of 1M)."""
        index, where, params = _where(q)
        if index == "NOT INDEXED":
            return index, where, params
        total, inside = self._conn.execute(
            "SELECT SUM(calls), SUM(CASE WHEN hour >= ? AND hour <= ? THEN calls END) "
            "FROM rollup_hourly WHERE dim = ''",
            ((q.since or "")[:13], (q.until or "\uffff")[:13])).fetchone()
        if total and (inside or 0) * 4 > total:
            return "NOT INDEXED", where, params
        return index, where, params

    def _fast(self, q: CallQuery) -> Plan | None:
        """The aggregates' plan for this range, or None when they cannot answer exactly."""
        index, where, params = _where(q)
        if not self._exact(index, where, params):
            return None
        return open_range(self._conn, q)

    def _groups(self, by: str, p: Plan) -> list[GroupTotals]:
        return by_session(self._conn, p) if by == "session" else grouped(self._conn, p, by)

    def _run(self, key_sql: str | None, q: CallQuery) -> list[GroupTotals]:
        index, where, params = self._range(q)
        cols = _columns(self._exact(index, where, params))
        base = (f"FROM calls c {index} LEFT JOIN rollup_roots r ON r.call_id = c.call_id "
                f"WHERE {where}")
        if key_sql is None:
            row = self._conn.execute(f"SELECT {cols} {base}", params).fetchone()
            return [_totals(None, tuple(row))]
        rows = self._conn.execute(f"SELECT {key_sql}, {cols} {base} GROUP BY 1 ORDER BY 1", params)
        return [_totals(r[0], tuple(r[1:])) for r in rows]

    @_snapshot
    def groups(self, by: str, q: CallQuery) -> list[GroupTotals]:
        if by not in REPORT_KEYS:
            raise ConfigError(f"cannot group by {by!r}: use one of {', '.join(REPORT_KEYS)}")
        p = self._fast(q)
        return self._groups(by, p) if p is not None else self._run(_KEY_SQL[by], q)

    @_snapshot
    def totals(self, q: CallQuery) -> GroupTotals:
        p = self._fast(q)
        return grouped(self._conn, p, None)[0] if p is not None else self._run(None, q)[0]

    @_snapshot
    def report(self, by: str, q: CallQuery) -> tuple[list[GroupTotals], GroupTotals]:
        """Groups and totals: from the aggregates, else one scan for sums, one for distincts."""
        if by not in REPORT_KEYS:
            raise ConfigError(f"cannot group by {by!r}: use one of {', '.join(REPORT_KEYS)}")
        p = self._fast(q)
        if p is not None:
            return self._groups(by, p), grouped(self._conn, p, None)[0]
        groups = self._run(_KEY_SQL[by], q)
        index, where, params = self._range(q)
        row = self._conn.execute(
            f"SELECT COUNT(DISTINCT {_SESSION}), "
            f"COUNT(DISTINCT CASE WHEN {_FAILED} THEN {_SESSION} END), "
            "COUNT(DISTINCT c.agent_id || '|' || substr(c.ts, 1, 13)) "
            f"FROM calls c {index} LEFT JOIN rollup_roots r ON r.call_id = c.call_id WHERE {where}",
            params).fetchone()
        return groups, _sum_groups(groups, (int(row[0]), int(row[1]), int(row[2])))

    @_snapshot
    def series(self, by: str, bucket: str, q: CallQuery) -> list[tuple[str, str | None, Decimal]]:
        if by not in REPORT_KEYS or bucket not in ("day", "hour"):
            raise ConfigError(f"series by {by!r} per {bucket!r}: use a report key per day or hour")
        p = self._fast(q) if by != "session" else None
        if p is not None:
            return series(self._conn, p, by, bucket)
        index, where, params = self._range(q)
        exact = self._exact(index, where, params)
        money = _money("cost", exact)
        rows = self._conn.execute(
            f"SELECT {_KEY_SQL[bucket]}, {_KEY_SQL[by]}, {money} FROM calls c {index} "
            f"LEFT JOIN rollup_roots r ON r.call_id = c.call_id WHERE {where} "
            "GROUP BY 1, 2 ORDER BY 1, 2", params)
        return [(t, k, _amount(hi, lo)) for t, k, hi, lo in rows]

    @_snapshot
    def session_costs(self, q: CallQuery) -> dict[str, Decimal]:
        p = self._fast(q)
        if p is not None:
            return session_costs(self._conn, p)
        return {g.key: g.cost_usd for g in self.groups("session", q) if g.key is not None}

    @_snapshot
    def session_groups(self, q: CallQuery, keys: Sequence[str]) -> list[GroupTotals]:
        p = self._fast(q)
        if p is not None:
            return by_session(self._conn, p, keys)
        wanted = set(keys)
        return [g for g in self.groups("session", q) if g.key in wanted]

    def session_calls(self, session: str, limit: int) -> list[SessionCall]:
        return sqlite_session_calls(self._conn, session, limit)

    def call_costs(self, q: CallQuery) -> list[Decimal]:
        index, where, params = self._range(q)
        rows = self._conn.execute(
            f"SELECT c.cost_usd FROM calls c {index} WHERE {where} AND c.cost_usd IS NOT NULL",
            params)
        return sorted(Decimal(v) for (v,) in rows)

    def close(self) -> None:
        self._conn.close()
