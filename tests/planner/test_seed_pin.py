"""The seed's worked example, reproduced exactly by `fleetcost simulate`.

"Putting the Levers Together" publishes $127,800 -> $83,965 -> $25,406 ->
$24,458 per day, self-host $0.000028 vs API $0.000358 per call and a 7.7%
break-even. The expected costs are exact decimals (83,964.60 before display
rounding); the text output reproduces the seed's printed lines.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson

from fleetcost.planner.simulate import simulate
from fleetcost.planner.workload import load_workload

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed-fleet.toml"

SEED_OUTPUT = """\
baseline (all large)    : $   127,800/day (+0%)
+ cache                 : $    83,965/day (-34%)
+ cache + cascade       : $    25,406/day (-80%)
+ all three levers      : $    24,458/day (-81%)"""
SEED_BREAKEVEN = """\
self-host cost/call (full): $0.000028
API cost/call (small) : $0.000358
break-even node utilisation: 7.7% of one node's capacity"""


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "fleetcost.cli.main", *args],
                          cwd=REPO, capture_output=True, timeout=120, check=False)


def test_json_pins_the_seed_figures() -> None:
    done = _cli("simulate", str(SEED), "--json", "--samples", "200")
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert [(s["name"], s["usd_per_day"]) for s in doc["stages"]] == [
        ("baseline (all large)", "127800"), ("+ cache", "83965"),
        ("+ cache + cascade", "25406"), ("+ all three levers", "24458"),
    ]
    assert [s["change"] for s in doc["stages"]] == ["0.000", "-0.343", "-0.801", "-0.809"]
    be = doc["breakeven"]
    assert (be["selfhost_per_call"], be["api_per_call"], be["utilisation"]) == (
        "0.000028", "0.000358", "0.077")


def test_exact_values_behind_the_rounded_figures() -> None:
    sim = simulate(load_workload(SEED), spread_samples=0)
    assert [s.usd for s in sim.stages] == [
        Decimal("127800"), Decimal("83964.6"), Decimal("25406.1"), Decimal("24458.4")]
    assert sim.breakeven is not None
    assert sim.breakeven.api_per_call == Decimal("0.0003585")
    spot = sim.breakeven.cases[0]
    assert spot.selfhost_per_call == Decimal("21.6") / Decimal(9 * 86400)
    assert round(spot.utilisation * 1000) == 77


def test_text_output_is_the_seed_output() -> None:
    done = _cli("simulate", str(SEED), "--samples", "200")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert text.startswith(SEED_OUTPUT + "\n")
    assert SEED_BREAKEVEN in text
