"""Ledger aggregations in plain Python, over any list of records.

It serves the memory ledger, and it is the reference the SQL version is
tested against: both must give identical `GroupTotals` for the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from fleetcost.errors import ConfigError
from fleetcost.storage.base import REPORT_KEYS, CallQuery, GroupTotals, UsageLog
from fleetcost.types import CallRecord

_FAILED = frozenset({"error", "budget_exceeded", "loop_detected"})
Roots = dict[str, tuple[str | None, str | None]]


def roots(rows: Iterable[CallRecord]) -> Roots:
    """call_id -> (session, task) of its root ancestor, for calls with a parent."""
    by_id = {r.call_id: r for r in rows}
    out: Roots = {}
    for r in by_id.values():
        if r.parent_id is None:
            continue
        root, seen = r, {r.call_id}
        while root.parent_id in by_id and root.parent_id not in seen:
            root = by_id[root.parent_id]
            seen.add(root.call_id)
        if root is not r:
            out[r.call_id] = (root.session_id, root.task_type)
    return out


def key_function(by: str, up: Roots) -> Callable[[CallRecord], str | None]:
    if by not in REPORT_KEYS:
        raise ConfigError(f"cannot group by {by!r}: use one of {', '.join(REPORT_KEYS)}")
    keys: dict[str, Callable[[CallRecord], str | None]] = {
        "agent": lambda r: r.agent_id,
        # The root's value wins; a root without one leaves the call's own.
        "task": lambda r: (up.get(r.call_id) or (None, None))[1] or r.task_type,
        "session": lambda r: (up.get(r.call_id) or (None, None))[0] or r.session_id,
        "model": lambda r: r.model or r.requested_model,
        "tenant": lambda r: r.tenant,
        "provider": lambda r: r.provider,
        "day": lambda r: r.ts[:10],
        "hour": lambda r: r.ts[:13],
    }
    return keys[by]


def _add(g: GroupTotals, r: CallRecord, session: str | None,
         sessions: set[str], failed: set[str], hours: set[str]) -> None:
    g.calls += 1
    g.input_tokens += r.input_tokens
    g.cached_tokens += r.cached_tokens
    g.cache_write_tokens += r.cache_write_tokens
    g.output_tokens += r.output_tokens
    if r.cost_usd is None:
        g.unpriced_calls += 1
    else:
        g.cost_usd += r.cost_usd
    g.saved_usd += r.saved_usd
    if r.saved_usd:
        lever = r.response_cache if r.response_cache in ("exact", "semantic") else "routing"
        g.saved_by_lever[lever] = g.saved_by_lever.get(lever, Decimal(0)) + r.saved_usd
    is_failed = r.outcome in _FAILED
    g.failed_calls += is_failed
    g.response_hits += r.response_cache in ("exact", "semantic")
    g.response_misses += r.response_cache == "miss"
    g.prefix_hit_calls += r.cache_status == "hit"
    g.escalated_calls += bool(r.escalated)
    if session is not None:
        sessions.add(session)
        if is_failed:
            failed.add(session)
    if r.agent_id is not None:
        hours.add(f"{r.agent_id}|{r.ts[:13]}")


def aggregate(rows: list[CallRecord], by: str | None, up: Roots) -> list[GroupTotals]:
    session_of = key_function("session", up)
    key_of = key_function(by, up) if by is not None else (lambda r: None)
    groups: dict[str | None, tuple[GroupTotals, set[str], set[str], set[str]]] = {}
    for r in rows:
        key = key_of(r)
        if key not in groups:
            groups[key] = (GroupTotals(key), set(), set(), set())
        g, sessions, failed, hours = groups[key]
        _add(g, r, session_of(r), sessions, failed, hours)
    out = []
    for g, sessions, failed, hours in groups.values():
        g.sessions, g.failed_sessions, g.agent_hours = len(sessions), len(failed), len(hours)
        out.append(g)
    if by is None and not out:
        out.append(GroupTotals(None))
    return sorted(out, key=lambda g: (g.key is not None, g.key or ""))


class MemoryLedgerReader:
    """Reads any `UsageLog` by pulling its rows; fine for tests and small ledgers."""

    def __init__(self, log: UsageLog) -> None:
        self._log = log

    def session_calls(self, session: str, limit: int) -> list[tuple[CallRecord, bool]]:
        """The session's calls after the roll-up, newest first; True marks a sub-agent call."""
        every = self._log.query(CallQuery(newest_first=True))
        up = roots(every)
        key = key_function("session", up)
        return [(r, r.call_id in up) for r in every if key(r) == session][:limit]

    def _rows(self, q: CallQuery) -> tuple[list[CallRecord], Roots]:
        every = self._log.query(CallQuery())
        chosen = self._log.query(CallQuery(since=q.since, until=q.until))
        return chosen, roots(every)

    def groups(self, by: str, q: CallQuery) -> list[GroupTotals]:
        rows, up = self._rows(q)
        return aggregate(rows, by, up)

    def totals(self, q: CallQuery) -> GroupTotals:
        rows, up = self._rows(q)
        return aggregate(rows, None, up)[0]

    def report(self, by: str, q: CallQuery) -> tuple[list[GroupTotals], GroupTotals]:
        rows, up = self._rows(q)
        return aggregate(rows, by, up), aggregate(rows, None, up)[0]

    def series(self, by: str, bucket: str, q: CallQuery) -> list[tuple[str, str | None, Decimal]]:
        rows, up = self._rows(q)
        if bucket not in ("day", "hour"):
            raise ConfigError(f"series by {by!r} per {bucket!r}: use a report key per day or hour")
        key_of, time_of = key_function(by, up), key_function(bucket, up)
        sums: dict[tuple[str, str | None], Decimal] = {}
        for r in rows:
            k = (time_of(r) or "", key_of(r))
            sums[k] = sums.get(k, Decimal(0)) + (r.cost_usd or Decimal(0))
        ordered = sorted(sums.items(), key=lambda i: (i[0][0], i[0][1] or ""))
        return [(t, k, v) for (t, k), v in ordered]

    def session_costs(self, q: CallQuery) -> dict[str, Decimal]:
        return {g.key: g.cost_usd for g in self.groups("session", q) if g.key is not None}

    def session_groups(self, q: CallQuery, keys: Sequence[str]) -> list[GroupTotals]:
        wanted = set(keys)
        return [g for g in self.groups("session", q) if g.key in wanted]

    def call_costs(self, q: CallQuery) -> list[Decimal]:
        rows, _ = self._rows(q)
        return sorted(r.cost_usd for r in rows if r.cost_usd is not None)

    def close(self) -> None:
        pass
