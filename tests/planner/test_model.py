"""The cost model, break-even, sweeps and optimiser on cases small enough to check by hand."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleetcost.errors import ConfigError
from fleetcost.planner import breakeven as be
from fleetcost.planner import sweep
from fleetcost.planner.simulate import simulate
from fleetcost.planner.workload import parse_workload
from fleetcost.types import Price
from tests.planner.paths import SHARED

REPO = Path(__file__).resolve().parents[2]
AZURE = SHARED / "azure-llm-inference-trace" / "data"


def _toy(**extra: Any) -> dict[str, Any]:
    """100 one-call tasks of 1M prompt tokens: $10 a call on `big`, $1 on `cheap`."""
    doc: dict[str, Any] = {
        "prices": {"big": {"input": "10", "output": "0"}, "cheap": {"input": "1", "output": "0"}},
        "tasks": [{"name": "t", "volume": 100, "calls": 1, "input_tokens": 1_000_000,
                   "output_tokens": 0, "model": "big"}],
        "levers": [{"kind": "cache", "hit_rate": "0.1"},
                   {"kind": "cascade", "model": "cheap", "escalation": "0.3"}],
        "constraint": {"max_loss": 15, "penalties": [
            {"param": "cascade.escalation", "baseline": "0.30", "per_point": 1}]},
    }
    doc.update(extra)
    return doc


def test_sweep_and_optimiser_by_hand() -> None:
    # cost = 100 x (1 - h) x (1 + 10 q); q below 0.30 loses a point per 0.01.
    w = parse_workload(_toy())
    axes = [sweep.parse_axis("cache.hit_rate=0.1,0.5"),
            sweep.parse_axis("cascade.escalation=0.1:0.3:0.1")]
    points = sweep.grid(w, axes)
    by = {tuple(v for _, v in p.params): (p.usd, p.loss) for p in points}
    assert by[(Decimal("0.1"), Decimal("0.1"))] == (Decimal(180), Decimal(20))
    assert by[(Decimal("0.5"), Decimal("0.2"))] == (Decimal(150), Decimal(10))
    assert by[(Decimal("0.5"), Decimal("0.3"))] == (Decimal(200), Decimal(0))
    free = sweep.cheapest(points, None)
    bound = sweep.cheapest(points, Decimal(15))
    assert free is not None and bound is not None
    assert (free.usd, dict(free.params)["cascade.escalation"]) == (Decimal(100), Decimal("0.1"))
    assert (bound.usd, dict(bound.params)["cascade.escalation"]) == (Decimal(150), Decimal("0.2"))
    assert sweep.cheapest(points, Decimal(-1)) is None
    # Under $160: (0.5, 0.1) at $100 loses 20 points, (0.5, 0.2) at $150 loses 10.
    target = sweep.meeting_target(points, Decimal(160))
    assert target is not None and target.usd == 150 and target.loss == 10
    assert sweep.surface(axes, points)[2] == [Decimal(360), Decimal(200)]  # q = 0.3 row


def test_sweep_rejects_a_lever_the_workload_lacks() -> None:
    w = parse_workload(_toy())
    with pytest.raises(ConfigError, match="no 'batch' lever"):
        sweep.grid(w, [sweep.parse_axis("batch.share=0.1:0.2:0.1")])


def test_every_lever_in_order_by_hand() -> None:
    doc = _toy(levers=[
        {"kind": "cache", "hit_rate": "0.5", "hit_cost": "0.1"},  # 50x$10 + 50x$1 = 550
        {"kind": "cascade", "model": "cheap", "escalation": "0.2"},  # 50x1 + 50x(1+2) = 200
        {"kind": "compression", "ratio": "0.5"},  # misses halve: 50x1 + 50x1.5 = 125
        {"kind": "prefix_cache", "read_share": "0.5"},  # unpriced read = input rate: 125
        {"kind": "batch", "share": "1", "discount": "0.5"},  # misses halve: 50 + 37.5
        {"kind": "step_cap", "max_calls": 1},
    ])
    sim = simulate(parse_workload(doc), spread_samples=0)
    assert [s.usd for s in sim.stages] == [
        Decimal(1000), Decimal(550), Decimal(200), Decimal(125), Decimal(125),
        Decimal("87.5"), Decimal("87.5")]


def test_output_cap_and_prefix_cache_rates() -> None:
    doc = _toy(prices={"big": {"input": "10", "output": "20", "cache_read": "1",
                               "cache_write": "12.5"}},
               levers=[{"kind": "prefix_cache", "read_share": "0.5", "write_share": "0.1"},
                       {"kind": "output_cap", "max_tokens": 250_000}])
    doc["tasks"][0]["output_tokens"] = 500_000
    sim = simulate(parse_workload(doc), spread_samples=0)
    # per call: base 10 + 10; prefix: 0.4x10 + 0.5x1 + 0.1x12.5 + 10 = 15.75; cap: 10.75
    assert [s.usd for s in sim.stages] == [Decimal(2000), Decimal(1575), Decimal(1075)]
    roi = sim.cache_roi[0]
    assert roi.reads_per_write == Decimal("2.5") / Decimal(9)


def test_breakeven_formulas() -> None:
    c_api = Decimal("0.0003585")
    on_demand = be.selfhost_per_call(Decimal("2.50"), Decimal(9 * 3600))
    assert on_demand * 32400 == Decimal("2.50")
    assert round(be.utilisation_threshold(on_demand, c_api) * 1000) == 215
    # Quantisation doubles kappa: the spot threshold halves.
    spot = be.selfhost_per_call(Decimal("0.90"), Decimal(18 * 3600))
    assert round(be.utilisation_threshold(spot, c_api) * 10000) == 387
    openai_like = Price("m", "p", input=Decimal(2), output=Decimal(8), cache_read=Decimal("0.5"))
    assert be.prompt_cache_roi(openai_like).reads_per_write == 0


def test_monte_carlo_matches_the_exact_mean() -> None:
    doc = _toy(levers=[{"kind": "cache", "hit_rate": "0.5"}], samples=4000, seed=11)
    doc["tasks"][0]["calls"] = {"dist": "poisson", "mean": 4}
    sim = simulate(parse_workload(doc))
    cached = sim.stages[1]
    sp = cached.spreads["t"]
    exact_per_task = cached.usd / 100
    # Per task: Poisson(4) calls, each $10 with probability 1/2: sd = sqrt(4 x 0.5 x 100) = 14.1.
    assert abs(sp.mean - exact_per_task) < 3 * Decimal("14.15") / Decimal(4000).sqrt()
    assert sp.p95 <= sp.p99
    assert sp.p99 > exact_per_task


@pytest.mark.skipif(not AZURE.is_dir(), reason="shared Azure trace not present")
def test_empirical_tokens_from_the_azure_trace() -> None:
    path = AZURE / "AzureLLMInferenceTrace_conv.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    mean_in = Decimal(sum(int(r["ContextTokens"]) for r in rows)) / len(rows)
    doc = _toy(levers=[])
    doc["prices"]["big"] = {"input": "3", "output": "15"}
    doc["tasks"][0]["input_tokens"] = {"dist": "empirical", "path": str(path),
                                       "column": "ContextTokens"}
    doc["tasks"][0]["output_tokens"] = 100
    sim = simulate(parse_workload(doc), spread_samples=0)
    assert sim.stages[0].usd == 100 * (mean_in * 3 + 100 * 15) / 1_000_000


def test_cli_sweep_json_and_errors(tmp_path: Path) -> None:
    seed = str(REPO / "examples" / "seed-fleet.toml")
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "simulate", seed, "--json", "--optimise",
         "--sweep", "cache.hit_rate=0.1:0.6:0.1", "--sweep", "cascade.escalation=0.1:0.5:0.02",
         "--target", "20000"],
        capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert len(doc["points"]) == 6 * 21
    best = doc["optimum"]
    assert best["params"] == {"cache.hit_rate": "0.6", "cascade.escalation": "0.28"}
    assert Decimal(best["loss"]) == 2
    # The seed's target (< $20,000/day) is met without losing accuracy: q stays at 0.30.
    assert doc["target"] == {"params": {"cache.hit_rate": "0.6", "cascade.escalation": "0.3"},
                             "usd": "18590.4", "loss": "0"}
    assert len(doc["surface"]) == 21 and len(doc["surface"][0]) == 6
    bad = tmp_path / "bad.toml"
    bad.write_text('tasks = []\nbogus = 1\n')
    done = subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "simulate", str(bad)],
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    assert b"bad.toml" in done.stderr


@pytest.mark.skipif(not AZURE.is_dir(), reason="shared Azure trace not present")
def test_trace_example(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetcost.planner.workload import load_workload

    monkeypatch.setenv("FLEETCOST_DATA", str(SHARED))
    sim = simulate(load_workload(REPO / "examples" / "trace-fleet.toml"), spread_samples=3000)
    costs = [s.usd for s in sim.stages]
    assert len(costs) == 7 and costs == sorted(costs, reverse=True)
    base = sim.stages[0]
    sp = base.spreads["support"]
    # Monte Carlo mean within 5% of the exact expectation; the tail above the mean.
    assert abs(sp.mean - base.usd / 200_000) < base.usd / 200_000 / 20
    assert sp.mean < sp.p95 < sp.p99


def test_relative_sample_path_and_missing_file(tmp_path: Path) -> None:
    from fleetcost.planner.workload import load_workload

    (tmp_path / "s.csv").write_text("tokens\n100\n300\n")
    wl = tmp_path / "w.toml"
    wl.write_text(
        '[prices.m]\ninput = "1"\noutput = "0"\n'
        '[[tasks]]\nname = "t"\nvolume = 1000000\noutput_tokens = 0\nmodel = "m"\n'
        'input_tokens = { dist = "empirical", path = "s.csv", column = "tokens" }\n')
    assert simulate(load_workload(wl), spread_samples=0).stages[0].usd == 200
    wl.write_text(wl.read_text().replace("s.csv", "nope.csv"))
    with pytest.raises(ConfigError, match="does not exist"):
        simulate(load_workload(wl), spread_samples=0)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "surface.png"
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "simulate",
         str(REPO / "examples" / "seed-fleet.toml"), "--plot", str(out), "--json",
         "--sweep", "cache.hit_rate=0.1:0.6:0.25", "--sweep", "cascade.escalation=0.1,0.5"],
        capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(orjson.loads(done.stdout)["points"]) == 3 * 2


def test_empirical_sample_from_the_ledger(tmp_path: Path) -> None:
    from fleetcost.storage.sqlite import SQLiteUsageLog
    from fleetcost.types import CallRecord

    db = tmp_path / "fleetcost.db"
    log = SQLiteUsageLog(db)
    log.append([CallRecord(call_id=f"c{i}", ts=f"2026-11-23T10:00:0{i}Z", task_type=task,
                           input_tokens=tokens, output_tokens=10)
                for i, (task, tokens) in enumerate([("a", 100), ("a", 400), ("b", 9000)])])
    log.close()
    doc = _toy(levers=[])
    doc["tasks"][0]["input_tokens"] = {"dist": "empirical", "path": str(db),
                                       "column": "input_tokens", "where": {"task_type": "a"}}
    sim = simulate(parse_workload(doc), spread_samples=0)
    assert sim.stages[0].usd == 100 * Decimal(250) * 10 / 1_000_000  # mean of 100 and 400
    doc["tasks"][0]["input_tokens"]["column"] = "cost_usd"
    with pytest.raises(ConfigError, match="ledger sample column"):
        simulate(parse_workload(doc), spread_samples=0)


MOONCAKE = SHARED / "mooncake" / "FAST25-release" / "traces" / "conversation_trace.jsonl"


@pytest.mark.skipif(not MOONCAKE.is_file(), reason="shared Mooncake trace not present")
def test_empirical_tokens_from_the_mooncake_trace() -> None:
    lengths = [orjson.loads(line)["output_length"]
               for line in MOONCAKE.read_bytes().splitlines() if line.strip()]
    doc = _toy(levers=[])
    doc["prices"]["big"] = {"input": "0", "output": "10"}
    doc["tasks"][0]["output_tokens"] = {"dist": "empirical", "path": str(MOONCAKE),
                                        "column": "output_length"}
    sim = simulate(parse_workload(doc), spread_samples=0)
    assert sim.stages[0].usd == 100 * Decimal(sum(lengths)) / len(lengths) * 10 / 1_000_000


def test_task_types_with_their_own_lever_values() -> None:
    doc = _toy(levers=[{"kind": "cache", "hit_rate": "0.1"}])
    faq = dict(doc["tasks"][0], name="faq", levers={"cache": {"hit_rate": "0.5"}})
    doc["tasks"].append(faq)
    sim = simulate(parse_workload(doc), spread_samples=200)
    # $10 calls, 100 tasks each: 0.9 x 1000 + 0.5 x 1000.
    assert [s.usd for s in sim.stages] == [Decimal(2000), Decimal(1400)]
    assert sim.stages[1].spreads["faq"].mean < sim.stages[1].spreads["t"].mean
    # A swept parameter applies to every task type except where a task sets its own.
    points = sweep.grid(parse_workload(doc), [sweep.parse_axis("cache.hit_rate=0.2")])
    assert points[0].usd == Decimal(800) + Decimal(500)
    doc["tasks"][1]["levers"] = {"batch": {"share": "0.5"}}
    with pytest.raises(ValueError, match=r"task 'faq': batch\.share"):
        simulate(parse_workload(doc), spread_samples=0)
