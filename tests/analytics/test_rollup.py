"""Aggregate-backed reports equal the Python reference on every grouping and range.

The ledger is written the way the gateway writes it (the batched writer's
`append`, in batches), with the awkward cases on purpose: calls either side
of hour edges, sub-agent chains whose parents arrive in a later batch, a
parent cycle, calls replaced under the same id, cached and failed calls,
unpriced calls, several tenants, missing keys and odd timestamp shapes. The
reference is computed from what the ledger finally holds.
"""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.analytics.report import build, sessions_view
from fleetcost.storage.base import REPORT_KEYS, CallQuery
from fleetcost.storage.batch_sqlite import Settled, SQLiteBatchStore
from fleetcost.storage.memory import MemoryUsageLog
from fleetcost.storage.migrations import migrate
from fleetcost.storage.report_memory import MemoryLedgerReader
from fleetcost.storage.report_sqlite import SQLiteLedgerReader
from fleetcost.storage.rollup_sql import MIGRATION
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.types import CallRecord

OUTCOMES = ("success", "success", "error", "cancelled", "escalated", "budget_exceeded")
RANGES = [
    (None, None),
    ("2026-11-01T05:30:00Z", None),  # since mid-hour
    (None, "2026-11-02T07:15:00Z"),  # until mid-hour
    ("2026-11-01T05:30:00Z", "2026-11-02T07:15:00Z"),
    ("2026-11-01T05:30:00Z", "2026-11-03T07:15:00Z"),  # whole days between partial ones
    ("2026-11-01T06", "2026-11-02T00:00:00Z"),  # aligned-looking bounds of other shapes
    ("2026-11-02", "2026-11-03"),  # whole days
    ("2026-11-01T10:20", "2026-11-01T10:40"),  # inside one hour
    ("2026-11-05", None),  # empty
]
TABLES = ("rollup_hourly", "rollup_daily", "rollup_agent_hours", "rollup_sessions",
          "rollup_session_keys", "rollup_session_hours", "rollup_roots")


def _ts(rnd: random.Random, i: int) -> str:
    """Call i's time: about 3 minutes after call i-1, give or take 20 (ids roughly in time)."""
    at = min(max(0, i * 173 + rnd.randint(-1200, 1200)), 3 * 86_400 - 1)
    day, hour, minute, second = at // 86_400 + 1, at // 3600 % 24, at // 60 % 60, at % 60
    shape = rnd.random()
    if shape < 0.05:
        return f"2026-11-0{day}"  # a date alone
    if shape < 0.3:
        return f"2026-11-0{day}T{hour:02d}:{minute:02d}:{second:02d}.999999+00:00"
    return f"2026-11-0{day}T{hour:02d}:{minute:02d}:{second:02d}Z"


def _record(rnd: random.Random, i: int, ids: list[str]) -> CallRecord:
    cache = rnd.choice(("exact", "semantic", "miss", "bypass", "bypass"))
    parent = None
    if rnd.random() < 0.15:  # a parent already written, one written later, or unknown
        parent = rnd.choice((rnd.choice(ids) if ids else "x", f"c{i + rnd.randint(1, 40):05d}",
                             "nowhere"))
    ts = _ts(rnd, i)
    # Sessions of one clock hour (most), a few spanning days, and calls with none.
    session = rnd.choices((f"h{ts[:13]}", f"s{rnd.randint(0, 5)}", None), (70, 4, 26))[0]
    return CallRecord(
        call_id=f"c{i:05d}", ts=ts, tenant=rnd.choice(("t1", "t2", "t3")),
        agent_id=rnd.choice(("a", "b", "c", None)), session_id=session, parent_id=parent,
        task_type=rnd.choice(("book", "refund", None)), requested_model="m-req",
        model=rnd.choice(("gpt-4o", "claude-haiku-4-5", None)),
        provider=rnd.choice(("openai", "anthropic", None)),
        input_tokens=rnd.randint(0, 9000), output_tokens=rnd.randint(0, 900),
        cached_tokens=rnd.randint(0, 500), cache_write_tokens=rnd.randint(0, 50),
        cache_status=rnd.choice(("hit", "miss", "write", "none")), response_cache=cache,
        cost_usd=Decimal(rnd.randint(0, 10**7)) / Decimal(10**9) if rnd.random() > 0.05 else None,
        saved_usd=Decimal(rnd.randint(1, 10**6)) / Decimal(10**9)
        if cache in ("exact", "semantic") or rnd.random() < 0.1 else Decimal(0),
        escalated=rnd.random() < 0.1, outcome=rnd.choice(OUTCOMES),  # type: ignore[arg-type]
    )


def _write(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    rows = [_record(rnd, i, [f"c{j:05d}" for j in range(max(0, i - 50), i)]) for i in range(n)]
    rows[5].parent_id, rows[6].parent_id = rows[6].call_id, rows[5].call_id  # a cycle
    replaced = [_record(rnd, rnd.randrange(n), []) for _ in range(40)]  # same ids, new content
    log = SQLiteUsageLog(path)
    order = rows[:]
    rnd.shuffle(order)  # children often land before their parents
    start = 0
    while start < len(order):
        size = rnd.choice((1, 7, 64, 300))
        log.append(order[start:start + size])
        start += size
    log.append(replaced[:20])
    log.append(replaced[20:] + replaced[20:25])  # a repeat inside one batch
    log.close()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rollup") / "ledger.db"
    _write(path, 1500, seed=11)
    return path


@pytest.fixture(scope="module")
def readers(ledger: Path) -> tuple[SQLiteLedgerReader, MemoryLedgerReader]:
    log = SQLiteUsageLog(ledger)
    final = log.query(CallQuery())
    log.close()
    mem = MemoryUsageLog()
    mem.append(final)
    return SQLiteLedgerReader(ledger), MemoryLedgerReader(mem)


@pytest.mark.parametrize("window", RANGES, ids=str)
@pytest.mark.parametrize("by", REPORT_KEYS)
def test_rollup_report_equals_reference(readers, by: str, window) -> None:
    sql, mem = readers
    q = CallQuery(since=window[0], until=window[1])
    assert sql.report(by, q) == mem.report(by, q)
    assert sql.groups(by, q) == mem.groups(by, q)
    assert build(sql, by, q) == build(mem, by, q)


def test_aggregates_answer_unless_sessions_outlast_the_range(readers) -> None:
    """Which ranges the aggregates answer (the rest read the calls, as checked above)."""
    sql, _ = readers
    fast = [sql._fast(CallQuery(since=s, until=u)) is not None for s, u in RANGES]
    # The multi-day sessions hold ~4% of all calls but most of a 20-minute range's.
    assert fast[0] and sum(fast) >= 6 and not all(fast), fast


@pytest.mark.parametrize("window", RANGES, ids=str)
def test_rollup_series_and_sessions_equal_reference(readers, window) -> None:
    sql, mem = readers
    q = CallQuery(since=window[0], until=window[1])
    for by in ("agent", "model", "task", "tenant", "day"):
        for bucket in ("day", "hour"):
            assert sql.series(by, bucket, q) == mem.series(by, bucket, q), (by, bucket)
    assert sessions_view(sql, q) == sessions_view(mem, q)


def _tables(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def test_incremental_aggregates_equal_a_backfill(ledger: Path, tmp_path: Path) -> None:
    """What the writer kept batch by batch is what the migration builds from the calls."""
    conn = sqlite3.connect(ledger)
    kept = _tables(conn)
    conn.close()
    assert kept["rollup_roots"] and kept["rollup_hourly"]
    copy = tmp_path / "copy.db"
    src = sqlite3.connect(ledger)
    dst = sqlite3.connect(copy, isolation_level=None)
    src.backup(dst)
    src.close()
    for statement in filter(str.strip, MIGRATION.split(";")):
        dst.execute(statement)
    assert _tables(dst) == kept
    dst.close()


def test_migration_backfills_an_old_ledger(tmp_path: Path) -> None:
    """A ledger written before m011 gets its aggregates from the migration, exactly."""
    path = tmp_path / "old.db"
    _write(path, 400, seed=5)
    conn = sqlite3.connect(path, isolation_level=None)
    for t in TABLES:
        conn.execute(f"DROP TABLE {t}")
    conn.execute("DELETE FROM _migrations WHERE name = 'm011_rollup'")
    # Rows as the batch store wrote them before m011: no pico-dollar twins.
    conn.execute("UPDATE calls SET cost_usd = '0.00125', cost_pico = NULL WHERE call_id = 'c00003'")
    conn.execute("UPDATE calls SET cost_usd = '3.75E-7', cost_pico = NULL WHERE call_id = 'c00004'")
    conn.execute("UPDATE calls SET saved_usd = '12', saved_pico = NULL WHERE call_id = 'c00007'")
    assert migrate(conn) == ["m011_rollup"]
    picos = dict(conn.execute("SELECT call_id, cost_pico FROM calls WHERE call_id IN "
                              "('c00003', 'c00004')").fetchall())
    assert picos == {"c00003": 1250000000, "c00004": None}  # exponent text stays inexact
    assert conn.execute("SELECT saved_pico FROM calls WHERE call_id = 'c00007'").fetchone() == (
        12 * 10**12,)
    conn.close()
    log = SQLiteUsageLog(path)
    mem = MemoryUsageLog()
    mem.append(log.query(CallQuery()))
    log.close()
    sql, ref = SQLiteLedgerReader(path), MemoryLedgerReader(mem)
    for by in REPORT_KEYS:
        for since, until in RANGES[:4]:
            q = CallQuery(since=since, until=until)
            assert sql.report(by, q) == ref.report(by, q), (by, since, until)


def test_batch_results_keep_the_aggregates(tmp_path: Path) -> None:
    """The batch store writes calls in its own transaction; the aggregates follow."""
    path = tmp_path / "l.db"
    rnd = random.Random(3)
    first = [_record(rnd, i, []) for i in range(30)]
    log = SQLiteUsageLog(path)
    log.append(first[:10])
    log.close()
    store = SQLiteBatchStore(str(path))
    store.finish("job", [Settled(r.call_id, "succeeded", b"{}", None, r) for r in first])
    store.close()
    log = SQLiteUsageLog(path)
    mem = MemoryUsageLog()
    mem.append(log.query(CallQuery()))
    log.close()
    sql = SQLiteLedgerReader(path)
    assert sql.totals(CallQuery()).calls == 30
    for by in REPORT_KEYS:
        assert sql.report(by, CallQuery()) == MemoryLedgerReader(mem).report(by, CallQuery())
