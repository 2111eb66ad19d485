"""Waste categories on a ledger small enough to price by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from fleetcost.analytics.waste import attribute
from fleetcost.pricing.catalog import load_catalog
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.types import CallRecord

M = Decimal(1_000_000)
IN, READ, OUT = Decimal("2.5"), Decimal("1.25"), Decimal("10")  # gpt-4o
MINI_IN, MINI_READ, MINI_OUT = Decimal("0.15"), Decimal("0.075"), Decimal("0.6")


def _cost(i: int, c: int, o: int, p: tuple[Decimal, Decimal, Decimal] = (IN, READ, OUT)) -> Decimal:
    return ((i - c) * p[0] + c * p[1] + o * p[2]) / M


def _rows() -> list[CallRecord]:
    def call(n: int, session: str, model: str, i: int, c: int, o: int, cost: Decimal) -> CallRecord:
        return CallRecord(call_id=f"c{n}", ts=f"2026-11-01T00:00:0{n}Z", session_id=session,
                          task_type="refund", model=model, provider="openai", input_tokens=i,
                          cached_tokens=c, output_tokens=o, cost_usd=cost,
                          prefix_hash="p1", system_tokens=1000)
    mini = (MINI_IN, MINI_READ, MINI_OUT)
    return [
        call(1, "S", "gpt-4o", 1500, 0, 50, _cost(1500, 0, 50)),
        call(2, "S", "gpt-4o", 1800, 0, 60, _cost(1800, 0, 60)),
        call(3, "S", "gpt-4o", 1800, 1024, 60, _cost(1800, 1024, 60)),
        call(4, "T", "gpt-4o-mini", 900, 0, 500, _cost(900, 0, 500, mini)),
    ]


def test_each_category_priced_by_hand() -> None:
    got = {c["name"]: c for c in attribute(_rows(), load_catalog())["categories"]}
    assert Decimal(got["repeated_system_prompt"]["usd"]) == 1000 * (IN - READ) / M
    history = (500 * IN + (24 * READ + 776 * IN)) / M  # call 2: 500 tokens; call 3: 800, 24 cached
    assert Decimal(got["accumulated_context"]["usd"]) == history
    assert got["accumulated_context"]["tokens"] == 1300
    assert Decimal(got["redundant_calls"]["usd"]) == _cost(1800, 1024, 60)
    assert got["redundant_calls"]["calls"] == 1
    verbose = (500 - 2 * 60) * MINI_OUT / M  # task median output is 60
    assert Decimal(got["output_verbosity"]["usd"]) == verbose
    mini = (MINI_IN, MINI_READ, MINI_OUT)
    simple = sum((_cost(i, c, o) - _cost(i, c, o, mini)
                  for i, c, o in ((1500, 0, 50), (1800, 0, 60), (1800, 1024, 60))), Decimal(0))
    assert Decimal(got["frontier_on_simple_tasks"]["usd"]) == simple
    assert got["frontier_on_simple_tasks"]["estimate"] is True
    assert all(c["method"] for c in got.values())


def test_report_waste_cli(tmp_path: Path) -> None:
    log = SQLiteUsageLog(tmp_path / "l.db")
    log.append(_rows())
    log.close()
    out = subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "report", "--waste",
                          "--db", str(tmp_path / "l.db"), "--json"],
                         check=True, capture_output=True).stdout
    data = json.loads(out)
    assert data == json.loads(json.dumps(attribute(_rows(), load_catalog())))
    assert Decimal(data["spend_usd"]) == sum((r.cost_usd or 0 for r in _rows()), Decimal(0))
