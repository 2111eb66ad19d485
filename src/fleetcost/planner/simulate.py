"""One simulation: the cost after each lever, its spread per task, the break-even."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fleetcost.planner import breakeven as be
from fleetcost.planner import workload as w
from fleetcost.planner.levers import LeverState, label, stage_states
from fleetcost.planner.model import TaskDists, period_usd, resolve_prices, task_dists
from fleetcost.planner.montecarlo import Spread, spread
from fleetcost.types import Price


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    usd: Decimal  # expected, per period, exact
    change: Decimal  # relative to the first stage
    spreads: dict[str, Spread]


@dataclass(frozen=True, slots=True)
class Breakeven:
    model: str
    api_per_call: Decimal
    cases: list[be.Case]


@dataclass(frozen=True, slots=True)
class Simulation:
    workload: w.Workload
    stages: list[Stage]
    breakeven: Breakeven | None
    cache_roi: list[be.CacheRoi]


def simulate(workload: w.Workload, *, spread_samples: int | None = None) -> Simulation:
    """Every stage of `workload`; `spread_samples=0` skips the Monte Carlo."""
    prices = resolve_prices(workload)
    tds = task_dists(workload)
    samples = workload.samples if spread_samples is None else spread_samples
    names = [workload.report.baseline_label, *(label(lv) for lv in workload.levers)]
    stages: list[Stage] = []
    all_states = stage_states(list(workload.levers), list(workload.tasks))
    for name, sts in zip(names, all_states, strict=True):
        usd = period_usd(tds, prices, sts)
        base = stages[0].usd if stages else usd
        change = usd / base - 1 if base else Decimal(0)
        spreads = {
            td.spec.name: spread(td, prices, st, seed=workload.seed, samples=samples)
            for td, st in zip(tds, sts, strict=True)
        } if samples else {}
        stages.append(Stage(name, usd, change, spreads))
    return Simulation(workload, stages, _breakeven(workload, tds, prices, all_states[-1]),
                      _roi(prices))


def _breakeven(workload: w.Workload, tds: list[TaskDists], prices: dict[str, Price],
               final: list[LeverState]) -> Breakeven | None:
    spec = workload.breakeven
    if spec is None:
        return None
    c_api = be.api_per_call(spec, tds, prices, final)
    return Breakeven(spec.model, c_api, be.cases(spec, c_api))


def _roi(prices: dict[str, Price]) -> list[be.CacheRoi]:
    return [be.prompt_cache_roi(p) for _, p in sorted(prices.items())
            if p.cache_read is not None or p.cache_write_5m is not None]
