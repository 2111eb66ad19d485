"""The spread of cost per task, by seeded Monte Carlo.

The expected bill is exact (`model`); what a mean hides is the tail: a task
whose calls all miss the cache and escalate, or a loop that ran long. Each
simulated task draws its number of calls, then for every call its tokens and
whether the cache answered it, whether it escalated and whether it ran in a
batch, and is billed with the same `call_usd` as the expected path. Every
stage is drawn from the same seed (common random numbers), so the difference
between two stages is the lever's effect, not sampling noise. Costs are
`Decimal`; percentiles are sampled values (nearest rank), so they are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from fleetcost.planner import dists
from fleetcost.planner.levers import LeverState
from fleetcost.planner.model import TaskDists, call_usd, miss_usd
from fleetcost.types import Price


@dataclass(frozen=True, slots=True)
class Spread:
    mean: Decimal
    p95: Decimal
    p99: Decimal
    samples: int


def _draw_task(rng: random.Random, td: TaskDists, prices: dict[str, Price],
               st: LeverState) -> Decimal:
    calls = int(td.calls.draw(rng))
    if st.step_cap is not None:
        calls = min(calls, st.step_cap)
    total = Decimal(0)
    zero, one = Decimal(0), Decimal(1)
    for _ in range(calls):
        t_in, raw_out = td.input_tokens.draw(rng), td.output_tokens.draw(rng)
        # The Bernoulli draws happen whether or not the lever is on, so every
        # stage consumes the random stream identically.
        hit, escalate, batch = rng.random(), rng.random(), rng.random()
        if hit < st.hit_rate:
            base = call_usd(prices[td.spec.model], t_in, raw_out, LeverState(), zero)
            total += st.hit_cost * base
            continue
        t_out = raw_out if st.output_cap is None else min(raw_out, Decimal(st.output_cap))
        total += miss_usd(td.spec, prices, st, t_in, t_out,
                          one if batch < st.batch_share else zero,
                          one if escalate < st.escalation else zero)
    return total


def spread(td: TaskDists, prices: dict[str, Price], st: LeverState, *, seed: int,
           samples: int) -> Spread:
    rng = random.Random(f"{seed}/{td.spec.name}")
    costs = sorted(_draw_task(rng, td, prices, st) for _ in range(samples))
    return Spread(
        mean=sum(costs, Decimal(0)) / samples,
        p95=dists.percentile(costs, 95),
        p99=dists.percentile(costs, 99),
        samples=samples,
    )
