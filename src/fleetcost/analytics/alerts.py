"""Alert rules over the ledger: each compares a recent window with its own past.

Why windows and baselines: an agent fleet is bursty (sessions arrive in
clumps), so a rule on one hour of one agent would fire on noise. Rate rules
look at the last `window_hours` (a day by default) against the
`baseline_days` before it, per agent, and fire only when the change is both
larger than the rule's threshold and larger than `noise_sigmas` standard
errors of the baseline's hourly values. The spend-anomaly rule is the
fast one: the last hour's fleet spend against the same clock hour on the
baseline days.

Thresholds default to the seed's table; two are read differently, and the
rule says so in its message:
- token efficiency (output / all tokens) is below 30% for every tool-using
  agent (a tau-bench airline agent sits near 2%), so the rule fires when it
  falls more than 30% below the agent's own baseline;
- `context_growth` is an extra rule: system-prompt tokens per call up 20%
  over baseline, which a cost rule can miss when the prompt is mostly cached.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import mean, pstdev

from fleetcost.types import CallRecord

CACHE_ELIGIBLE = 1024


@dataclass(frozen=True)
class AlertRules:
    window_hours: int = 24
    baseline_days: int = 7
    noise_sigmas: float = 3.0
    min_calls: int = 20
    cost_per_agent_hour_rise: float = 0.20
    cache_hit_rate_min: float = 0.80
    cache_min_eligible: int = 50  # "high-frequency agents"
    escalation_rate_max: float = 0.40
    token_efficiency_drop: float = 0.30
    tail_cost_ratio_max: float = 10.0
    context_growth: float = 0.20
    spend_anomaly_x: float = 3.0
    spend_anomaly_min_usd: Decimal = Decimal("0.10")


@dataclass
class Bucket:
    """One agent's calls in one clock hour."""

    cost: Decimal = Decimal(0)
    calls: int = 0
    input: int = 0
    output: int = 0
    system: int = 0
    system_calls: int = 0
    eligible: int = 0
    hits: int = 0
    escalated: int = 0
    costs: list[Decimal] = field(default_factory=list)


Buckets = dict[tuple[str, datetime], Bucket]


@dataclass(frozen=True)
class Alert:
    rule: str
    subject: str  # agent, or "fleet"
    message: str
    value: float
    threshold: float

    @property
    def key(self) -> str:
        """Identity for de-duplication: one alert per rule and subject while it stays active."""
        return f"{self.rule}:{self.subject}"


def hour_of(ts: str) -> datetime:
    return datetime.fromisoformat(ts[:13] + ":00:00+00:00")


def buckets(rows: Iterable[CallRecord]) -> Buckets:
    out: Buckets = defaultdict(Bucket)
    seen: set[str] = set()
    for r in sorted(rows, key=lambda x: x.ts):
        b = out[(r.agent_id or "(none)", hour_of(r.ts))]
        b.calls += 1
        b.input += r.input_tokens
        b.output += r.output_tokens
        b.escalated += bool(r.escalated)
        if r.cost_usd is not None:
            b.cost += r.cost_usd
            b.costs.append(r.cost_usd)
        if r.system_tokens is not None:
            b.system += r.system_tokens
            b.system_calls += 1
        session = r.session_id or r.call_id
        if session in seen and r.input_tokens >= CACHE_ELIGIBLE:
            b.eligible += 1
            b.hits += r.cached_tokens > 0
        seen.add(session)
    return out


def _merge(items: list[Bucket]) -> Bucket:
    total = Bucket()
    for b in items:
        total.cost += b.cost
        total.calls += b.calls
        total.input += b.input
        total.output += b.output
        total.system += b.system
        total.system_calls += b.system_calls
        total.eligible += b.eligible
        total.hits += b.hits
        total.escalated += b.escalated
        total.costs.extend(b.costs)
    return total


def _significant(current: list[float], base: list[float], rules: AlertRules) -> bool:
    """Is the mean of `current` above `base`'s by more than the noise between hours?"""
    if len(base) < 2 or not current:
        return False
    se = pstdev(base) * math.sqrt(1 / len(current) + 1 / len(base))
    return mean(current) - mean(base) > rules.noise_sigmas * se


def _agent_alerts(agent: str, cur: list[Bucket], base: list[Bucket],
                  rules: AlertRules) -> list[Alert]:
    out: list[Alert] = []
    now, past = _merge(cur), _merge(base)
    if now.calls < rules.min_calls or past.calls < rules.min_calls:
        return out
    per_hour = [float(b.cost) for b in cur]
    base_hour = [float(b.cost) for b in base]
    rise = mean(per_hour) / mean(base_hour) - 1 if mean(base_hour) else 0.0
    if rise > rules.cost_per_agent_hour_rise and _significant(per_hour, base_hour, rules):
        out.append(Alert("cost_per_agent_hour", agent,
                         f"{agent}: ${mean(per_hour):.4f} per active hour, {rise:+.0%} over its "
                         f"{rules.baseline_days}-day baseline ${mean(base_hour):.4f}",
                         round(rise, 4), rules.cost_per_agent_hour_rise))
    if now.eligible >= rules.cache_min_eligible:
        hit_rate = now.hits / now.eligible
        if hit_rate < rules.cache_hit_rate_min:
            out.append(Alert("cache_hit_rate", agent,
                             f"{agent}: prefix cache hit on {hit_rate:.0%} of cacheable calls",
                             round(hit_rate, 4), rules.cache_hit_rate_min))
    esc = now.escalated / now.calls
    if esc > rules.escalation_rate_max:
        out.append(Alert("escalation_rate", agent, f"{agent}: {esc:.0%} of calls escalated",
                         round(esc, 4), rules.escalation_rate_max))
    eff, base_eff = now.output / max(now.input + now.output, 1), \
        past.output / max(past.input + past.output, 1)
    if base_eff and eff < (1 - rules.token_efficiency_drop) * base_eff:
        out.append(Alert("token_efficiency", agent,
                         f"{agent}: output is {eff:.1%} of tokens, down from {base_eff:.1%} "
                         f"(more than {rules.token_efficiency_drop:.0%} below baseline)",
                         round(eff, 4), round((1 - rules.token_efficiency_drop) * base_eff, 4)))
    costs = sorted(now.costs)
    if len(costs) >= rules.min_calls and costs[len(costs) // 2] > 0:
        ratio = float(costs[math.ceil(0.95 * len(costs)) - 1] / costs[len(costs) // 2])
        if ratio > rules.tail_cost_ratio_max:
            out.append(Alert("tail_cost_ratio", agent,
                             f"{agent}: p95 call costs {ratio:.1f}x the median",
                             round(ratio, 2), rules.tail_cost_ratio_max))
    if now.system_calls and past.system_calls:
        sys_now, sys_base = now.system / now.system_calls, past.system / past.system_calls
        if sys_base and sys_now > (1 + rules.context_growth) * sys_base:
            out.append(Alert("context_growth", agent,
                             f"{agent}: system prompt {sys_base:.0f} -> {sys_now:.0f} tokens "
                             "per call", round(sys_now / sys_base - 1, 4), rules.context_growth))
    return out


def _spend_anomaly(data: Buckets, at: datetime, rules: AlertRules) -> list[Alert]:
    """Last hour's fleet spend against the same clock hour on the baseline days."""
    hour = at - timedelta(hours=1)
    spend: dict[datetime, Decimal] = defaultdict(Decimal)
    for (_, h), b in data.items():
        spend[h] += b.cost
    now = spend.get(hour, Decimal(0))
    past = [float(spend.get(hour - timedelta(days=d), Decimal(0)))
            for d in range(1, rules.baseline_days + 1)]
    # The level comes from the same clock hour (fleets have office hours); the
    # noise from every baseline hour, because seven values cannot estimate it.
    every = [float(spend.get(hour - timedelta(hours=h), Decimal(0)))
             for h in range(1, 24 * rules.baseline_days + 1)]
    base = mean(past)
    limit = max(rules.spend_anomaly_x * base, base + 2 * rules.noise_sigmas * pstdev(every))
    if now > rules.spend_anomaly_min_usd and float(now) > limit:
        return [Alert("spend_anomaly", "fleet",
                      f"fleet spent ${now} in the hour to {at:%Y-%m-%d %H:00}Z against "
                      f"${base:.4f} in that hour on the last {rules.baseline_days} days",
                      float(now), round(limit, 6))]
    return []


def evaluate(data: Buckets, at: datetime, rules: AlertRules | None = None) -> list[Alert]:
    """Every rule that holds at time `at` (an hour boundary)."""
    r = rules or AlertRules()
    start = at - timedelta(hours=r.window_hours)
    base_start = start - timedelta(days=r.baseline_days)
    agents: dict[str, tuple[list[Bucket], list[Bucket]]] = defaultdict(lambda: ([], []))
    for (agent, h), b in data.items():
        if start <= h < at:
            agents[agent][0].append(b)
        elif base_start <= h < start:
            agents[agent][1].append(b)
    out = [a for agent, (cur, base) in sorted(agents.items())
           for a in _agent_alerts(agent, cur, base, r)]
    return out + _spend_anomaly(data, at, r)
