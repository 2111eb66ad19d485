"""Evidence for budgets and caps, from the ledger.

`suggest` proposes a per-task, per-session budget at the p99 of what
recorded sessions of that task cost (nearest-rank percentile, exact
decimals), rounded up to two significant digits so the figure reads like a
limit someone would set. `near_cap` lists calls whose output came within 5%
of the max_tokens in force: an answer cut by its cap is either a cap set too
low or a prompt that invites rambling.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from fleetcost.types import CallRecord

NEAR_CAP = Decimal("0.95")


@dataclass(frozen=True, slots=True)
class Suggestion:
    task: str
    sessions: int
    p50_usd: Decimal
    p99_usd: Decimal
    max_usd: Decimal
    limit_usd: Decimal


def percentile(sorted_values: list[Decimal], pct: float) -> Decimal:
    """Nearest rank: the smallest value with at least pct% of the values at or below it."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def round_up(value: Decimal, digits: int = 2) -> Decimal:
    if value <= 0:
        return Decimal(0)
    exponent = value.adjusted() - digits + 1
    quantum = Decimal(1).scaleb(exponent)
    return value.quantize(quantum, rounding=ROUND_CEILING).normalize()


def suggest(records: Iterable[CallRecord], pct: float = 99.0) -> list[Suggestion]:
    per_session: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in records:
        if r.session_id and r.cost_usd is not None:
            per_session[(r.task_type or "(none)", r.session_id)] += r.cost_usd
    by_task: dict[str, list[Decimal]] = defaultdict(list)
    for (task, _), cost in per_session.items():
        by_task[task].append(cost)
    out = []
    for task, costs in sorted(by_task.items()):
        costs.sort()
        p99 = percentile(costs, pct)
        out.append(Suggestion(task, len(costs), percentile(costs, 50), p99, costs[-1],
                              round_up(p99)))
    return out


def near_cap(records: Iterable[CallRecord]) -> list[CallRecord]:
    return [r for r in records
            if r.output_cap and r.outcome == "success"
            and r.output_tokens >= NEAR_CAP * r.output_cap]
