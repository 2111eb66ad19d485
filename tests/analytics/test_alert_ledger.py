"""The alert evaluator on a SQLite ledger's aggregates equals the one on call records.

The reference is today's evaluation (`AlertLoop.holding_from_calls`: every call
of the window and baseline read back as a record, then `buckets` and
`evaluate`); the aggregate path must give the same alerts with the same
figures and messages, on the synthetic month with its incidents, on a clean
month, at evaluation times off the hour, and on hand-made ledgers with the
rows that take the slow paths (money without a pico twin, no agent, empty
session ids, sessions that began before the baseline, calls after `at`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.analytics.alert_ledger import ledger_buckets
from fleetcost.analytics.alerts import buckets, evaluate
from fleetcost.config import AlertsConfig
from fleetcost.fleet.month import Incidents, generate
from fleetcost.pricing.catalog import load_catalog
from fleetcost.server.reports import AlertLoop, rules_of
from fleetcost.storage.base import CallQuery
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.storage.sqlite_conn import connect
from fleetcost.types import CallRecord
from tests.analytics.test_compare import DATA

FIRST, LAST = datetime(2026, 10, 9, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
INCIDENTS_START = datetime(2026, 10, 16, tzinfo=UTC)
CLEAN = Incidents(switch_to="gpt-4o-mini", growth=Decimal(0), runaway_repeats=0)


def _ledger(tmp: Path, records: list[CallRecord]) -> SQLiteUsageLog:
    log = SQLiteUsageLog(tmp / "ledger.db")
    log.append(records)
    return log


@pytest.fixture(scope="module", params=["incidents", "clean"])
def month_log(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteUsageLog]:
    if DATA is None:
        pytest.skip("evaluation data (../shared/data) not found")
    incidents = None if request.param == "incidents" else CLEAN
    month = generate(DATA, load_catalog(), repeats=24, incidents=incidents)
    log = _ledger(tmp_path_factory.mktemp(request.param), month.records)
    yield log
    log.close()


def _hours() -> list[datetime]:
    """Every third hour of the day the incidents start, every seventh elsewhere (the
    reference reads a week of records per hour: every hour would take minutes)."""
    out, at = [], FIRST
    while at <= LAST:
        first_day = INCIDENTS_START <= at < INCIDENTS_START + timedelta(days=1)
        if (first_day and at.hour % 3 == 0) or (at - FIRST).total_seconds() % (7 * 3600) == 0:
            out.append(at)
        at += timedelta(hours=1)
    return out


def test_month_alerts_equal_the_reference(month_log: SQLiteUsageLog) -> None:
    """Every hour on the aggregates; the reference (a week of records per hour, too slow
    for every hour) where the alerts change, where the spend anomaly holds, and on a
    sample of the rest. The month with incidents fires their rules; the clean one none."""
    loop = AlertLoop(AlertsConfig(), month_log)
    sample, rules, before, compared = set(_hours()), set(), None, 0
    try:
        at = FIRST
        while at <= LAST:
            got = loop.holding(at)
            keys = [a.key for a in got]
            if at in sample or keys != before or any(a.rule == "spend_anomaly" for a in got):
                # same rules, subjects, messages, values, thresholds
                assert got == loop.holding_from_calls(at), at
                compared += 1
            rules.update(a.rule for a in got)
            before, at = keys, at + timedelta(hours=1)
    finally:
        if loop._conn is not None:
            loop._conn.close()
    incidents = "incidents" in str(month_log.path)
    assert bool(rules) == incidents, rules
    if incidents:
        assert {"cost_per_agent_hour", "context_growth", "spend_anomaly"} <= rules
    assert compared >= len(sample)


def test_off_hour_checks_see_the_same_alerts(month_log: SQLiteUsageLog) -> None:
    """`check` at 14:37 evaluates at 14:00; the calls after 14:00 change nothing."""
    fast = AlertLoop(AlertsConfig(), month_log)
    slow = AlertLoop(AlertsConfig(), month_log)
    rng = random.Random(3)
    try:
        for day in range(16, 19):
            now = datetime(2026, 10, day, rng.randrange(24), rng.randrange(1, 60),
                           rng.randrange(60), rng.randrange(10**6), tzinfo=UTC)
            at = now.replace(minute=0, second=0, microsecond=0)
            fast.check(now)
            slow.book.update(slow.holding_from_calls(at), at)
            assert fast.book.active == slow.book.active, now
    finally:
        if fast._conn is not None:
            fast._conn.close()


def _call(i: int, ts: datetime, rng: random.Random) -> CallRecord:
    cost = rng.choice([Decimal("0.00352500"), Decimal("0.0000012345678912345"),
                       Decimal("0.25"), None, Decimal(rng.randrange(1, 10**6)).scaleb(-9)])
    return CallRecord(
        call_id=f"c{i}", ts=ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(3)}00Z",
        agent_id=rng.choice(["a", "b", None, ""]),
        session_id=rng.choice([f"s{rng.randrange(40)}", None, ""]),
        input_tokens=rng.choice([10, 1024, 3000]), output_tokens=rng.randrange(300),
        cached_tokens=rng.choice([0, 0, 512]), cost_usd=cost, escalated=rng.random() < 0.5,
        system_tokens=rng.choice([None, 100, 130]))


def _odd_calls(at: datetime) -> list[CallRecord]:
    """Three hundred calls over the ten days before `at` (and the hour after it), with
    costs past a pico, unpriced calls, no or empty agents and sessions, sessions that
    span the baseline's start, and several calls in the same second."""
    rng = random.Random(11)
    start = at - timedelta(days=10)
    return [_call(i, start + timedelta(seconds=rng.randrange(10 * 86400 + 3600)), rng)
            for i in range(300)]


@pytest.mark.parametrize("window_hours", [1, 24, 30])
def test_odd_ledger_buckets_equal_the_reference(tmp_path: Path, window_hours: int) -> None:
    at = datetime(2026, 10, 20, 14, tzinfo=UTC)
    log = _ledger(tmp_path, _odd_calls(at))
    conn = connect(str(log.path))
    try:
        rules = replace(rules_of(AlertsConfig()), window_hours=window_hours, baseline_days=2,
                        min_calls=1, cache_min_eligible=1, tail_cost_ratio_max=1.5,
                        noise_sigmas=0.0, spend_anomaly_x=1.0,
                        spend_anomaly_min_usd=Decimal(0))
        for shift in range(0, 6):
            t = at - timedelta(hours=shift)
            since = t - timedelta(hours=window_hours, days=2)
            want = buckets(log.query(CallQuery(since=since.strftime("%Y-%m-%dT%H:%M:%S"))))
            got = ledger_buckets(conn, t, window_hours, 2)
            start = t - timedelta(hours=window_hours)
            for k, b in want.items():  # per-call figures the rules read in the window only
                if k[1] < start:
                    b.costs, b.eligible, b.hits = [], 0, 0
            assert dict(got) == {k: b for k, b in want.items() if k[1] < t}
            last = t - timedelta(hours=1)
            for key, b in got.items():  # the hour the spend anomaly prints, to the digit
                if key[1] == last:
                    assert str(b.cost) == str(want[key].cost)
            assert evaluate(got, t, rules) == evaluate(want, t, rules)
    finally:
        conn.close()
        log.close()
