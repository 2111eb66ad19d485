"""The doctor finds the incidents planted in a synthetic month and prices them right."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from fleetcost.fleet.month import Incidents, Month, generate
from fleetcost.fleet.trajectories import DataNotFound, find_data_dir
from fleetcost.pricing.catalog import load_catalog
from fleetcost.storage.sqlite import SQLiteUsageLog


def _data() -> Path | None:
    import os

    try:
        return find_data_dir(None, os.environ, Path.cwd())
    except DataNotFound:
        return None


DATA = _data()
BASE = "2026-10-01/2026-10-16"
CAUSE_OF = {"model_switch": "model_drift", "prompt_growth": "context_bloat",
            "runaway": "runaway_sessions"}


def _ledger(tmp: Path, month: Month) -> Path:
    path = tmp / "month.db"
    log = SQLiteUsageLog(path)
    log.append(month.records)
    log.close()
    return path


def _doctor(db: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "doctor", "--db", str(db),
         "--compare", BASE, "--since", "2026-10-16", "--until", "2026-11-01", *extra],
        check=True, capture_output=True)


@pytest.fixture(scope="module")
def month() -> Month:
    if DATA is None:
        pytest.skip("evaluation data (../shared/data) not found")
    return generate(DATA, load_catalog())


def test_ranks_the_three_incidents_with_their_dollar_shares(month: Month, tmp_path: Path) -> None:
    out = orjson.loads(_doctor(_ledger(tmp_path, month), "--json").stdout)
    change = Decimal(out["change_usd"])
    assert change == sum(month.truth.values())
    findings = {f["cause"]: f for f in out["findings"]}
    top3 = [f["cause"] for f in out["findings"][:3]]
    assert sorted(top3) == sorted(CAUSE_OF.values())
    for incident, cause in CAUSE_OF.items():
        got, want = Decimal(findings[cause]["usd"]), month.truth[incident]
        assert abs(got - want) <= Decimal("0.05") * want, (cause, got, want)
    for cause, f in findings.items():
        if cause not in CAUSE_OF.values() and f["usd"] is not None:
            assert abs(Decimal(f["usd"])) <= Decimal("0.05") * change, (cause, f["usd"])
    assert sum(Decimal(f["usd"]) for f in out["findings"] if f["usd"]) == change
    evidence = findings["model_drift"]["evidence"][0]
    assert evidence["task"] == "cancellation"
    assert evidence["models"] == [{"gpt-4o-mini": 1.0}, {"gpt-4o": 1.0}]
    assert findings["runaway_sessions"]["evidence"][0]["session"].endswith("#runaway")
    bloat = max(findings["context_bloat"]["evidence"],
                key=lambda e: e["system_tokens"][1] - e["system_tokens"][0])
    assert bloat["task"] == "booking"
    assert bloat["system_tokens"][1] == pytest.approx(bloat["system_tokens"][0] * 1.4, rel=0.01)


def test_readable_explanation_names_the_causes(month: Month, tmp_path: Path) -> None:
    text = _doctor(_ledger(tmp_path, month)).stdout.decode()
    lines = text.splitlines()
    assert lines[0].startswith("Spend went from $")
    assert "model changed" in lines[1] and "cancellation" in lines[1]
    assert any("runaway" in line for line in lines[2:4])


def test_a_clean_month_blames_nothing(tmp_path: Path) -> None:
    if DATA is None:
        pytest.skip("evaluation data (../shared/data) not found")
    none = Incidents(switch_to="gpt-4o-mini", growth=Decimal(0), runaway_repeats=0)
    clean = generate(DATA, load_catalog(), incidents=none)
    assert all(v == 0 for v in clean.truth.values())
    out = orjson.loads(_doctor(_ledger(tmp_path, clean), "--json").stdout)
    assert Decimal(out["change_usd"]) == 0
    assert all(Decimal(f["usd"] or 0) == 0 for f in out["findings"])
