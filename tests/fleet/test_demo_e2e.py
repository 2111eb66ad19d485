"""`fleetcost demo` end to end: real emulator, real gateway, real ledger.

The demo's tables must be the ledger's own numbers: every call it sent has a
row, and each agent's totals equal the sum of that agent's rows.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleetcost.fleet.plan import MODEL_WIRES, SCENARIOS
from fleetcost.fleet.trajectories import Conversation, find_data_dir

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("fleetcost.cli.serve", "fleetcost.cli.emulate")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"needs {', '.join(MISSING)}, not in the tree yet"
)


def _run(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", *args],
        cwd=REPO, env=env, capture_output=True, timeout=timeout, check=False,
    )


def _ledger_totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "input_tokens": 0, "cached_tokens": 0, "output_tokens": 0,
                 "cost_usd": Decimal(0)}
    )
    for row in rows:
        entry = totals[row["agent_id"]]
        entry["calls"] += 1
        for field in ("input_tokens", "cached_tokens", "output_tokens"):
            entry[field] += row[field]
        entry["cost_usd"] += Decimal(row["cost_usd"])
    return totals


def test_demo_tables_are_the_ledger_totals(
    tmp_path: Path, conversations: list[Conversation]
) -> None:
    db = tmp_path / "demo.db"
    env = {**os.environ, "FLEETCOST_DB": str(db)}
    env.pop("FLEETCOST_CONFIG", None)
    done = _run(["demo", "--no-serve", "--json", "--sessions", "4", "--ledger", str(db)],
                env, timeout=170)
    assert done.returncode == 0, done.stderr.decode()
    report = orjson.loads(done.stdout)
    assert [s["name"] for s in report["scenarios"]] == [s.name for s in SCENARIOS]
    baseline = report["scenarios"][0]

    expected_calls = sum(c.assistant_turns for c in conversations[:4])
    assert baseline["calls_sent"] == expected_calls
    assert baseline["calls_failed"] == 0
    assert baseline["ledger_rows"] == expected_calls

    listed = _run(["calls", "--json"], env, timeout=60)
    assert listed.returncode == 0, listed.stderr.decode()
    every_row = orjson.loads(listed.stdout)
    _check_levers(report["levers"], every_row, conversations[:4])
    rows = [r for r in every_row if r["session_id"].startswith(baseline["name"] + "/")]
    assert len(rows) == expected_calls
    for scenario in report["scenarios"][1:]:
        own = [r for r in every_row if r["session_id"].startswith(scenario["name"] + "/")]
        assert Decimal(scenario["total"]["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in own)
    assert all(row["cost_usd"] is not None for row in rows), "every demo model has a price"

    ledger = _ledger_totals(rows)
    shown = {entry["key"]: entry for entry in baseline["by_agent"]}
    assert set(shown) == set(ledger)
    for agent, sums in ledger.items():
        entry = shown[agent]
        assert entry["unpriced_calls"] == 0
        assert Decimal(entry.pop("cost_usd")) == sums.pop("cost_usd")
        assert {k: entry[k] for k in sums} == sums

    assert {entry["key"] for entry in baseline["by_model"]} == set(MODEL_WIRES)
    total = baseline["total"]
    assert total["calls"] == expected_calls
    assert Decimal(total["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in rows)
    # Growing contexts behind a stable prefix: the providers' caches must have hit.
    assert total["cached_tokens"] > 0

    # The runaway agent: stopped by the default guard (8 repeats of one tool call), on the
    # 9th call; what it cost until then is what the ledger holds for its session.
    stuck = report["runaway"]
    looped = [r for r in every_row if r["session_id"] == stuck["session_id"]]
    assert stuck["stopped_at_call"] == 9 and stuck["refusal"].startswith("loop_detected")
    assert sorted(r["outcome"] for r in looped) == ["loop_detected"] + ["success"] * 8
    assert Decimal(stuck["cost_usd_until_stop"]) == sum(Decimal(r["cost_usd"]) for r in looped)
    assert Decimal(stuck["cost_usd_until_stop"]) > 0


def _check_levers(levers: list[dict], rows: list[dict], conversations: list[Conversation]) -> None:
    """Each lever row is the two scenarios' ledger sums; the caches really saved."""
    def cost(name: str) -> Decimal:
        return sum((Decimal(r["cost_usd"]) for r in rows
                    if r["session_id"].startswith(name + "/")), Decimal(0))

    by_lever = {row["on"]: row for row in levers}
    for row in levers:
        assert Decimal(row["cost_off_usd"]) == cost(row["off"])
        assert Decimal(row["cost_on_usd"]) == cost(row["on"])
    assert Decimal(by_lever["baseline"]["saving_usd"]) > 0, "a stable prefix is cheaper"
    cached = by_lever["response-cache"]
    repeated = sum(c.assistant_turns // 4 for c in conversations)
    assert cached["response_cache_hits"] == repeated
    saved = sum(Decimal(r["saved_usd"]) for r in rows
                if r["session_id"].startswith("response-cache/"))
    assert Decimal(cached["ledger_saved_usd"]) == saved > 0


def test_demo_keeps_the_gateway_up_until_ctrl_c(tmp_path: Path) -> None:
    find_data_dir(None, os.environ, REPO)  # no data here: skip (tests/conftest.py) with why
    env = {k: v for k, v in os.environ.items() if k != "FLEETCOST_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetcost.cli.main", "demo", "--json", "--sessions", "1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        said = ""
        while "Ctrl-C" not in said:
            line = proc.stderr.readline().decode()
            assert line, f"demo ended early: {said}"
            said += line
        match = re.search(r"http://127\.0\.0\.1:\d+", said)
        assert match, said
        with urllib.request.urlopen(match.group(0) + "/healthz", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert orjson.loads(proc.stdout.read() if proc.stdout else b"")["scenarios"]
        with pytest.raises(OSError):
            urllib.request.urlopen(match.group(0) + "/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
