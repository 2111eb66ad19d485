"""Attribution reports: who spent what, and how well the levers worked.

Everything here is derived from `GroupTotals` (exact sums from the ledger),
so a figure on the dashboard, in `fleetcost report --json` and in the admin
API is the same number computed the same way. Money is printed as decimal
strings; a per-unit figure (per session, per agent-hour) is rounded to the
nano-dollar, half-even, so anyone can redo the division from the totals.

Rates are plain fractions of counts (4 decimals): hit rates, escalation rate,
token efficiency (output tokens / all tokens: low means the fleet pays mostly
to re-read context).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from fleetcost.pricing.cost import format_usd
from fleetcost.storage.base import CallQuery, GroupTotals, LedgerReader

NANO = Decimal("0.000000001")


def per(amount: Decimal, count: int) -> str | None:
    """`amount / count` to the nano-dollar, or None when there is nothing to divide by."""
    if count <= 0:
        return None
    return format_usd((amount / count).quantize(NANO, rounding=ROUND_HALF_EVEN))


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def group_dict(g: GroupTotals) -> dict[str, Any]:
    """One group (or the totals) as JSON-ready figures."""
    looked_up = g.response_hits + g.response_misses
    all_tokens = g.input_tokens + g.output_tokens
    return {
        "key": g.key,
        "calls": g.calls,
        "cost_usd": format_usd(g.cost_usd),
        "input_tokens": g.input_tokens,
        "cached_tokens": g.cached_tokens,
        "cache_write_tokens": g.cache_write_tokens,
        "output_tokens": g.output_tokens,
        "saved_usd": format_usd(g.saved_usd),
        "saved_by_lever": {k: format_usd(v) for k, v in sorted(g.saved_by_lever.items())},
        "unpriced_calls": g.unpriced_calls,
        "failed_calls": g.failed_calls,
        "sessions": g.sessions,
        "failed_sessions": g.failed_sessions,
        "agent_hours": g.agent_hours,
        "cost_per_session": per(g.cost_usd, g.sessions),
        "cost_per_successful_session": per(g.cost_usd, g.sessions - g.failed_sessions),
        "cost_per_agent_hour": per(g.cost_usd, g.agent_hours),
        "response_cache_hit_rate": rate(g.response_hits, looked_up),
        "prefix_cache_read_share": rate(g.cached_tokens, g.input_tokens),
        "escalation_rate": rate(g.escalated_calls, g.calls),
        "token_efficiency": rate(g.output_tokens, all_tokens),
    }


def percentile(sorted_values: Sequence[Decimal], p: float) -> Decimal | None:
    """Nearest-rank percentile (an actual observed value, so it is exact)."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(p * 1000) * len(sorted_values) // 1000))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def distribution(costs: Sequence[Decimal]) -> dict[str, Any]:
    """p50/p95/p99 and the share of spend in the top 1% of a sorted cost list."""
    ordered = sorted(costs)
    total = sum(ordered, Decimal(0))
    top_n = max(1, len(ordered) // 100) if ordered else 0
    top = sum(ordered[len(ordered) - top_n:], Decimal(0))
    out: dict[str, Any] = {"count": len(ordered)}
    for name, p in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        value = percentile(ordered, p)
        out[name] = format_usd(value) if value is not None else None
    out["top1pct_share"] = round(float(top / total), 4) if total else None
    return out


def tail_ratio(costs: Sequence[Decimal]) -> float | None:
    """p95 call cost / p50 call cost: above ~10 the bill is ruled by a few calls."""
    ordered = sorted(costs)
    p50, p95 = percentile(ordered, 0.50), percentile(ordered, 0.95)
    if p50 is None or p95 is None or not p50:
        return None
    return round(float(p95 / p50), 2)


def build(reader: LedgerReader, by: str, q: CallQuery) -> dict[str, Any]:
    """The report `fleetcost report --json` prints and the dashboard shows."""
    groups, totals = reader.report(by, q)
    out: dict[str, Any] = {
        "by": by,
        "since": q.since,
        "until": q.until,
        "groups": [group_dict(g) for g in groups],
        "totals": group_dict(totals),
    }
    if by == "session":
        out["session_cost"] = distribution([g.cost_usd for g in groups if g.key is not None])
    return out


def histogram(values: Sequence[Decimal], bins: int = 20) -> list[dict[str, Any]]:
    """Log-spaced bins (session costs span orders of magnitude); zeros in the first bin."""
    ordered = sorted(values)  # linear when the caller already sorted them
    first = bisect_right(ordered, 0)
    if first == len(ordered):
        return [{"lo": "0", "hi": "0", "count": len(values)}] if values else []
    lo, hi = ordered[first], ordered[-1]
    if lo == hi:
        return [{"lo": format_usd(lo), "hi": format_usd(hi), "count": len(values)}]
    ratio = (hi / lo) ** (Decimal(1) / bins)
    edges = [lo * ratio**i for i in range(bins)] + [hi]
    # A value goes to the first bin whose upper edge is >= it (anything above the last
    # edge to the last bin): counts are differences of positions in the sorted values.
    upto = [bisect_right(ordered, edges[j]) for j in range(1, bins + 1)]
    counts = [upto[0]] + [upto[j] - upto[j - 1] for j in range(1, bins)]
    counts[-1] += len(ordered) - upto[-1]
    return [{"lo": format_usd(edges[i].quantize(NANO)),
             "hi": format_usd(edges[i + 1].quantize(NANO)), "count": counts[i]}
            for i in range(bins)]


def sessions_view(reader: LedgerReader, q: CallQuery, top: int = 20) -> dict[str, Any]:
    """Per-session spend: its distribution, a histogram and the costliest sessions."""
    spend = reader.session_costs(q)
    costs = sorted(spend.values())  # once: the percentiles below then find it in order
    keys = heapq.nsmallest(top, spend, key=lambda k: (-spend[k], k))
    order = {k: i for i, k in enumerate(keys)}
    costliest = sorted(reader.session_groups(q, keys), key=lambda g: order[g.key or ""])
    return {"session_cost": distribution(costs), "histogram": histogram(costs),
            "top": [group_dict(g) for g in costliest]}
