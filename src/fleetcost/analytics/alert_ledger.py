"""The alert rules' hourly buckets, read from a SQLite ledger's aggregates.

Why: `buckets(rows)` needs the window plus the baseline (eight days by
default) of call records, and the gateway rebuilds it every few minutes; on a
ledger of a million calls that is a quarter of a million records parsed per
run. This builds the very same `Buckets` (so `evaluate` and its figures do
not change) from cheaper sources, each figure from the cheapest one that is
still exact:

- cost, calls, input and output tokens, escalations per (agent, hour): sums in
  `rollup_hourly` (dim 'agent'). Money comes as pico-dollars; an hour holding
  a call without a pico twin (`inexact`) is re-summed from its `cost_usd`
  text, and so is the last hour, whose sum the spend-anomaly message prints
  (a Decimal sum keeps its operands' exponent, pico-dollars do not).
- system-prompt tokens (context_growth): not in the aggregates, so one
  GROUP BY over the range on the `ts` index, in SQLite, no records built.
- per-call costs (tail ratio percentiles) and the prefix-cache eligibility
  (a call is eligible when its session was seen earlier in the loaded rows):
  the window's calls only, on the `ts` index, as plain tuples; whether a
  session's first call in the window had an earlier call in the baseline is
  one more pass over the baseline's session keys on the `ts` index, in SQLite.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from fleetcost.analytics.alerts import CACHE_ELIGIBLE, Bucket, Buckets, hour_of


def _agent(key: object) -> str:
    """As `buckets` names an agent: NULL (stored as X'' in the aggregates) and '' are '(none)'."""
    return key if isinstance(key, str) and key else "(none)"


def _hour(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H")


def _usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)


def ledger_buckets(conn: sqlite3.Connection, at: datetime, window_hours: int,
                   baseline_days: int) -> Buckets:
    """`buckets(calls since at - window - baseline)` for every hour before `at` (an hour)."""
    start = at - timedelta(hours=window_hours)
    since = start - timedelta(days=baseline_days)
    out: Buckets = defaultdict(Bucket)
    conn.execute("BEGIN")  # one snapshot for every read below
    try:
        _sums(conn, out, _hour(since), _hour(at))
        _system(conn, out, _hour(since), _hour(at))
        _window(conn, out, (_hour(since), _hour(start), _hour(at)),
                _hour(at - timedelta(hours=1)))
    finally:
        conn.execute("COMMIT")
    return out


def _hour_costs(conn: sqlite3.Connection, key: object, hour: str) -> Decimal:
    agent = "c.agent_id IS NULL" if isinstance(key, bytes) else "c.agent_id = ?"
    params = [] if isinstance(key, bytes) else [key]
    rows = conn.execute(f"SELECT c.cost_usd FROM calls c INDEXED BY calls_ts WHERE c.ts >= ? "
                        f"AND c.ts < ? AND {agent} AND c.cost_usd IS NOT NULL",
                        [hour, hour + "~", *params])
    total = Decimal(0)
    for (text,) in rows:
        total += Decimal(text)
    return total


def _sums(conn: sqlite3.Connection, out: Buckets, lo: str, hi: str) -> None:
    rows = conn.execute(
        "SELECT key, hour, calls, input_tokens, output_tokens, escalated_calls, cost_pico, "
        "inexact FROM rollup_hourly WHERE dim = 'agent' AND hour >= ? AND hour < ? "
        "AND calls > 0", [lo, hi]).fetchall()
    hours: dict[str, datetime] = {}
    for key, hour, calls, inp, outp, esc, pico, inexact in rows:
        h = hours.get(hour)
        if h is None:
            h = hours[hour] = hour_of(hour)
        b = out[(_agent(key), h)]
        b.calls += calls
        b.input += inp
        b.output += outp
        b.escalated += esc
        b.cost += _hour_costs(conn, key, hour) if inexact else _usd(pico)


def _system(conn: sqlite3.Connection, out: Buckets, lo: str, hi: str) -> None:
    rows = conn.execute(
        "SELECT c.agent_id, substr(c.ts, 1, 13), SUM(c.system_tokens), COUNT(*) "
        "FROM calls c INDEXED BY calls_ts WHERE c.ts >= ? AND c.ts < ? "
        "AND c.system_tokens IS NOT NULL GROUP BY 1, 2", [lo, hi])
    for agent, hour, tokens, n in rows:
        b = out[(_agent(agent), hour_of(hour))]
        b.system += tokens
        b.system_calls += n


def _window(conn: sqlite3.Connection, out: Buckets, bounds: tuple[str, str, str],
            last: str) -> None:
    """Per-call costs and cache eligibility for the window's hours [start, at)."""
    since, start, at = bounds
    rows = conn.execute(
        "SELECT c.agent_id, substr(c.ts, 1, 13), "
        "COALESCE(NULLIF(c.session_id, ''), c.call_id), "
        "c.input_tokens, c.cached_tokens, c.cost_pico, "
        "CASE WHEN c.cost_pico IS NULL OR c.ts >= ? THEN c.cost_usd END "
        "FROM calls c INDEXED BY calls_ts WHERE c.ts >= ? AND c.ts < ? ORDER BY c.ts, c.rowid",
        [last, start, at])
    seen: set[str] = set()
    pending: dict[str, tuple[tuple[str, datetime], bool]] = {}
    exact: dict[tuple[str, datetime], Decimal] = {}
    hours: dict[str, datetime] = {}
    for agent_id, hour, session, inp, cached, pico, text in rows:
        h = hours.get(hour)
        if h is None:
            h = hours[hour] = hour_of(hour)
        key = (_agent(agent_id), h)
        b = out[key]
        if hour == last:
            exact.setdefault(key, Decimal(0))
            if text is not None:
                exact[key] += Decimal(text)
        if pico is not None or text is not None:
            b.costs.append(_usd(pico) if pico is not None else Decimal(text))
        if session in seen:
            if inp >= CACHE_ELIGIBLE:
                b.eligible += 1
                b.hits += cached > 0
            continue
        seen.add(session)
        if inp >= CACHE_ELIGIBLE:
            pending[session] = (key, cached > 0)
    for session in _earlier(conn, list(pending), since, start):
        key, hit = pending[session]
        out[key].eligible += 1
        out[key].hits += hit
    for key, total in exact.items():
        out[key].cost = total


def _earlier(conn: sqlite3.Connection, sessions: list[str], since: str,
             start: str) -> set[str]:
    """Those of `sessions` (a session id, or a call id for a call without one) with a call
    in [since, start): their first call in the window was not their first loaded call.

    One pass over the baseline's calls on the `ts` index, each probing a temp table of
    the keys (0.1 s CPU on a 1M-call month), not a session-index lookup per key, which
    reads every call of every session to learn its time (0.8 s).
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _alert_keys (k TEXT PRIMARY KEY) "
                 "WITHOUT ROWID")
    conn.execute("DELETE FROM _alert_keys")
    conn.executemany("INSERT OR IGNORE INTO _alert_keys VALUES (?)", [(k,) for k in sessions])
    return {k for (k,) in conn.execute(
        "SELECT DISTINCT t.k FROM calls c INDEXED BY calls_ts CROSS JOIN _alert_keys t "
        "ON t.k = COALESCE(NULLIF(c.session_id, ''), c.call_id) "
        "WHERE c.ts >= ? AND c.ts < ?", [since, start])}
