"""Report aggregations: SQL and the Python reference agree, exactly, on every grouping."""

from __future__ import annotations

import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from fleetcost.analytics.report import build, distribution, percentile
from fleetcost.storage.base import REPORT_KEYS, CallQuery
from fleetcost.storage.memory import MemoryUsageLog
from fleetcost.storage.report_memory import MemoryLedgerReader
from fleetcost.storage.report_sqlite import SQLiteLedgerReader
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.types import CallRecord

OUTCOMES = ("success", "success", "success", "error", "cancelled", "escalated",
            "budget_exceeded", "loop_detected")


def fake_ledger(n: int, seed: int) -> list[CallRecord]:
    rnd = random.Random(seed)
    rows: list[CallRecord] = []
    for i in range(n):
        parent = rows[rnd.randrange(len(rows))].call_id if rows and rnd.random() < 0.1 else None
        priced = rnd.random() > 0.05
        cache = rnd.choice(("exact", "semantic", "miss", "bypass", "bypass"))
        rows.append(CallRecord(
            call_id=f"c{i:05d}",
            ts=(f"2026-11-{rnd.randint(1, 3):02d}T{rnd.randint(0, 23):02d}:"
                f"{rnd.randint(0, 59):02d}:00Z"),
            tenant=rnd.choice(("t1", "t2")),
            agent_id=rnd.choice(("a", "b", "c", None)),
            session_id=rnd.choice((f"s{rnd.randint(0, 30)}", None)),
            parent_id=parent,
            task_type=rnd.choice(("book", "refund", None)),
            requested_model="m-req",
            model=rnd.choice(("gpt-4o", "claude-haiku-4-5", None)),
            provider=rnd.choice(("openai", "anthropic")),
            input_tokens=rnd.randint(0, 9000),
            output_tokens=rnd.randint(0, 900),
            cached_tokens=rnd.randint(0, 500),
            cache_write_tokens=rnd.randint(0, 50),
            cache_status=rnd.choice(("hit", "miss", "write", "none")),
            response_cache=cache,
            cost_usd=Decimal(rnd.randint(0, 10**7)) / Decimal(10**9) if priced else None,
            saved_usd=Decimal(rnd.randint(1, 10**6)) / Decimal(10**9)
            if cache in ("exact", "semantic") or rnd.random() < 0.1 else Decimal(0),
            escalated=rnd.random() < 0.1,
            outcome=rnd.choice(OUTCOMES),  # type: ignore[arg-type]
        ))
    return rows


@pytest.fixture(scope="module")
def ledgers(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SQLiteLedgerReader, MemoryLedgerReader]:
    rows = fake_ledger(2000, seed=7)
    path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    log = SQLiteUsageLog(path)
    log.append(rows)
    log.close()
    mem = MemoryUsageLog()
    mem.append(rows)
    return SQLiteLedgerReader(path), MemoryLedgerReader(mem)


@pytest.mark.parametrize("by", REPORT_KEYS)
@pytest.mark.parametrize("window", [(None, None), ("2026-11-02", "2026-11-03")])
def test_sql_matches_python_reference(ledgers, by, window) -> None:
    sql, mem = ledgers
    q = CallQuery(since=window[0], until=window[1])
    assert sql.groups(by, q) == mem.groups(by, q)
    assert sql.totals(q) == mem.totals(q)
    assert sql.report(by, q) == (mem.groups(by, q), mem.totals(q))


def test_totals_are_the_exact_sum_of_rows(ledgers) -> None:
    sql, _ = ledgers
    rows = fake_ledger(2000, seed=7)
    t = sql.totals(CallQuery())
    assert t.calls == 2000
    assert t.cost_usd == sum((r.cost_usd for r in rows if r.cost_usd is not None), Decimal(0))
    assert t.unpriced_calls == sum(r.cost_usd is None for r in rows)
    by_model = sql.groups("model", CallQuery())
    assert sum((g.cost_usd for g in by_model), Decimal(0)) == t.cost_usd
    levers = (sum(g.saved_by_lever.values(), Decimal(0)) for g in by_model)
    assert sum(levers, Decimal(0)) == t.saved_usd


def test_sub_agent_calls_roll_up_to_the_root_task_and_session(tmp_path: Path) -> None:
    rows = [
        CallRecord(call_id="root", ts="2026-11-01T00:00:00Z", agent_id="planner",
                   session_id="S", task_type="refund", cost_usd=Decimal("0.5")),
        CallRecord(call_id="kid", ts="2026-11-01T00:00:01Z", agent_id="searcher",
                   session_id="own", task_type="search", parent_id="root",
                   cost_usd=Decimal("0.25")),
        CallRecord(call_id="grandkid", ts="2026-11-01T00:00:02Z", agent_id="reader",
                   parent_id="kid", cost_usd=Decimal("0.125")),
    ]
    log = SQLiteUsageLog(tmp_path / "l.db")
    log.append(rows)
    log.close()
    reader = SQLiteLedgerReader(tmp_path / "l.db")
    by_task = {g.key: g.cost_usd for g in reader.groups("task", CallQuery())}
    by_session = {g.key: g.cost_usd for g in reader.groups("session", CallQuery())}
    assert by_task == {"refund": Decimal("0.875")}
    assert by_session == {"S": Decimal("0.875")}
    by_agent = {g.key: g.cost_usd for g in reader.groups("agent", CallQuery())}
    assert by_agent["searcher"] == Decimal("0.25")  # agents keep their own spend


def test_percentiles_are_observed_values() -> None:
    values = [Decimal(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    d = distribution(values)
    assert d["top1pct_share"] == round(100 / 5050, 4)


def test_report_json_from_the_cli(tmp_path: Path) -> None:
    rows = fake_ledger(300, seed=3)
    log = SQLiteUsageLog(tmp_path / "l.db")
    log.append(rows)
    log.close()
    out = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "report", "--by", "session",
         "--db", str(tmp_path / "l.db"), "--json"],
        check=True, capture_output=True).stdout
    data = orjson.loads(out)
    assert set(data) >= {"groups", "totals", "session_cost"}
    reader = SQLiteLedgerReader(tmp_path / "l.db")
    assert data == orjson.loads(orjson.dumps(build(reader, "session", CallQuery())))
    total = sum((Decimal(g["cost_usd"]) for g in data["groups"]), Decimal(0))
    assert str(total.normalize()) == str(Decimal(data["totals"]["cost_usd"]).normalize())
    assert all(isinstance(g["cost_usd"], str) for g in data["groups"])


def test_unknown_grouping_is_a_clear_error(tmp_path: Path) -> None:
    log = SQLiteUsageLog(tmp_path / "l.db")
    log.close()
    res = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "report", "--by", "colour",
         "--db", str(tmp_path / "l.db")], capture_output=True, text=True)
    assert res.returncode != 0 and "colour" in res.stderr


def test_money_beyond_pico_precision_falls_back_to_exact_decimal(tmp_path: Path) -> None:
    rows = [CallRecord(call_id="a", ts="2026-11-01T00:00:00Z", agent_id="x",
                       cost_usd=Decimal("0.0000000000001"), saved_usd=Decimal("-0.5")),
            CallRecord(call_id="b", ts="2026-11-01T00:00:01Z", agent_id="x",
                       cost_usd=Decimal("1.25"))]
    log = SQLiteUsageLog(tmp_path / "l.db")
    log.append(rows)
    log.close()
    t = SQLiteLedgerReader(tmp_path / "l.db").totals(CallQuery())
    assert t.cost_usd == Decimal("1.2500000000001")
    assert t.saved_usd == Decimal("-0.5")


def test_migration_backfills_integer_money_exactly(tmp_path: Path) -> None:
    import sqlite3

    from fleetcost.storage.migrations import MIGRATIONS, migrate

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.executescript(MIGRATIONS[0][1])
    for i, cost in enumerate(("0.000000375", "12", "3.5", None, "0.0000000000001", "-1.5")):
        conn.execute("INSERT INTO calls (call_id, ts, tenant, outcome, cost_usd, saved_usd) "
                     "VALUES (?, '2026-11-01', 't', 'success', ?, ?)", (str(i), cost, cost or "0"))
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    conn.execute("INSERT INTO _migrations VALUES ('m001_calls', 'x')")
    migrate(conn)
    got = conn.execute("SELECT cost_pico FROM calls ORDER BY call_id").fetchall()
    assert [g[0] for g in got] == [375000, 12 * 10**12, 35 * 10**11, None, None, None]
    conn.close()
    t = SQLiteLedgerReader(tmp_path / "old.db").totals(CallQuery())
    want = Decimal("0.000000375") + 12 + Decimal("3.5") + Decimal("1E-13") - Decimal("1.5")
    assert t.cost_usd == want


def test_exponent_money_text_never_becomes_a_wrong_integer(tmp_path: Path) -> None:
    """Ledgers written before plain money text held "3.75E-7" for sub-micro costs;
    the backfill once read that as $3.000000000075. Old rows sum exactly now, and
    new rows are written as plain digits."""
    import dataclasses
    import sqlite3

    from fleetcost.storage.migrations import MIGRATIONS, migrate

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.executescript(MIGRATIONS[0][1])
    for i, cost in enumerate(("3.75E-7", "1E-8", "2.5")):
        conn.execute("INSERT INTO calls (call_id, ts, tenant, outcome, cost_usd, saved_usd) "
                     "VALUES (?, '2026-11-01T00:00:00Z', 't', 'success', ?, ?)",
                     (str(i), cost, cost))
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    conn.execute("INSERT INTO _migrations VALUES ('m001_calls', 'x')")
    migrate(conn)
    conn.close()
    want = Decimal("3.75E-7") + Decimal("1E-8") + Decimal("2.5")
    t = SQLiteLedgerReader(tmp_path / "old.db").totals(CallQuery())
    assert (t.cost_usd, t.saved_usd) == (want, want)
    rec = fake_ledger(1, seed=3)[0]
    log = SQLiteUsageLog(tmp_path / "new.db")
    log.append([dataclasses.replace(rec, cost_usd=Decimal("3.75E-7"),
                                    saved_usd=Decimal("1E-8"))])
    log.close()
    conn = sqlite3.connect(tmp_path / "new.db")
    row = conn.execute("SELECT cost_usd, saved_usd, cost_pico, saved_pico FROM calls").fetchone()
    conn.close()
    assert row == ("0.000000375", "0.00000001", 375000, 10000)
