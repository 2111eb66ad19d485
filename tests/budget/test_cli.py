"""`fleetcost budgets`: list from the store, suggest from the ledger, caps report."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.cli.main import main
from fleetcost.storage.base import BudgetCharge
from fleetcost.storage.budget_sqlite import SQLiteBudgetLedger
from fleetcost.storage.migrations import migrate
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.storage.sqlite_conn import connect
from fleetcost.types import CallRecord


def _ledger(path: Path) -> None:
    log = SQLiteUsageLog(path)
    records = []
    # 100 "refund" sessions costing $0.001 .. $0.100; one "booking" session.
    for s in range(1, 101):
        for part in ("0.0004", None):
            cost = Decimal(part) if part else Decimal(s) / 1000 - Decimal("0.0004")
            records.append(CallRecord(
                call_id=f"c{s}-{part}", ts=f"2026-11-23T10:{s // 60:02d}:{s % 60:02d}+00:00",
                session_id=f"r{s}", task_type="refund", cost_usd=cost,
                output_tokens=96 if s == 7 and part else 10, output_cap=100))
    records.append(CallRecord(call_id="b1", ts="2026-11-23T11:00:00+00:00", session_id="b",
                              task_type="booking", cost_usd=Decimal("0.0123")))
    log.append(records)
    log.close()


def test_suggest_is_the_p99_of_session_cost(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "l.db"
    _ledger(db)
    assert main(["budgets", "suggest", "--db", str(db), "--json"]) == 0
    got = {s["task"]: s for s in json.loads(capsys.readouterr().out)}
    # Nearest rank over 100 sessions: the 99th smallest, $0.099.
    assert got["refund"]["p99_usd"] == "0.099" and got["refund"]["sessions"] == 100
    assert got["refund"]["p50_usd"] == "0.05" and got["refund"]["limit_usd"] == "0.099"
    assert got["booking"]["limit_usd"] == "0.013"
    assert main(["budgets", "suggest", "--db", str(db)]) == 0
    assert 'match = "refund"\nlimit_usd = "0.099"\nwindow = "session"' in capsys.readouterr().out


def test_caps_report_lists_calls_near_their_cap(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "l.db"
    _ledger(db)
    assert main(["budgets", "caps", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["call_id"], r["output_tokens"], r["output_cap"]) for r in rows] == [
        ("c7-0.0004", 96, 100)]


def test_list_shows_spent_reserved_remaining(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "l.db"}"\n'
                   '[[budgets]]\nscope = "agent"\nlimit_usd = "0.05"\nwindow = "total"\n')
    store = SQLiteBudgetLedger(tmp_path / "l-budgets.db")
    charge = BudgetCharge("agent:*:total|bot|total", limit_nano=50_000_000, limit_tokens=None)
    store.reserve("h1", [charge], 7_000_000, 0, 1e12, 1e12 + 60, "p")
    store.reserve("h2", [charge], 3_000_000, 0, 1.0, 2.0, "p")  # long expired
    store.settle("h2", [charge], 1_500_000, 0)
    store.close()
    assert main(["budgets", "--config", str(cfg), "--json"]) == 0
    (budget,) = json.loads(capsys.readouterr().out)
    (bucket,) = budget["buckets"]
    assert (bucket["member"], bucket["spent_usd"], bucket["reserved_usd"]) == (
        "bot", "0.0015", "0.007")
    assert bucket["remaining_usd"] == "0.0415" and budget["limit_usd"] == "0.05"
    assert main(["budgets", "--config", str(cfg)]) == 0
    assert "agent:*:total  bot" in capsys.readouterr().out


def test_old_ledger_gains_the_output_cap_column(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "old.db"))
    assert "m003_budgets" in migrate(conn)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(calls)")}
    assert "output_cap" in cols
    assert migrate(conn) == []
    conn.close()
