"""The bill doctor: findings computed from ledger rows, each naming its evidence.

So far it reports what makes a bill untrustworthy or wasteful at the
accounting level: calls to models with no price (their spend is unknown,
not zero), failed calls, and streams cancelled by clients (paid for, often
unused), and spend priced from estimated usage (the provider reported none,
so the figure is the gateway's offline count, not the provider's). Every
finding carries the call ids behind it (a sample) so a person
can check it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fleetcost.types import CallRecord

SAMPLE = 5


@dataclass
class Finding:
    kind: str
    summary: str
    calls: int
    cost_usd: Decimal | None
    sample_call_ids: list[str] = field(default_factory=list)
    # What a person checks the finding against (sessions, spans, prefixes).
    evidence: dict[str, Any] = field(default_factory=dict)


def _group(rows: Iterable[CallRecord], pred: object) -> dict[str, list[CallRecord]]:
    groups: dict[str, list[CallRecord]] = defaultdict(list)
    for r in rows:
        if pred(r):  # type: ignore[operator]
            groups[r.model or r.requested_model or "unknown"].append(r)
    return groups


def _known_cost(rows: list[CallRecord]) -> Decimal:
    return sum((r.cost_usd for r in rows if r.cost_usd is not None), Decimal(0))


def diagnose(rows: list[CallRecord]) -> list[Finding]:
    findings: list[Finding] = []
    for model, group in sorted(_group(rows, lambda r: r.cost_usd is None).items()):
        tokens = sum(r.input_tokens + r.output_tokens for r in group)
        findings.append(Finding(
            "unpriced_model",
            f"{model}: {len(group)} calls ({tokens} tokens) have no price; add it with "
            "`fleetcost prices import` or a [models] price override",
            len(group), None, [r.call_id for r in group[:SAMPLE]],
        ))
    for model, group in sorted(_group(rows, lambda r: r.outcome == "error").items()):
        findings.append(Finding(
            "errors", f"{model}: {len(group)} calls failed ({group[-1].error or 'no detail'})",
            len(group), _known_cost(group), [r.call_id for r in group[:SAMPLE]],
        ))
    for model, group in sorted(_group(rows, lambda r: r.outcome == "cancelled").items()):
        findings.append(Finding(
            "cancelled_streams",
            f"{model}: {len(group)} streams cancelled by the client, still billed",
            len(group), _known_cost(group), [r.call_id for r in group[:SAMPLE]],
        ))
    estimated = _group(rows, lambda r: r.usage_source == "estimated" and r.outcome == "success")
    for model, group in sorted(estimated.items()):
        findings.append(Finding(
            "estimated_usage",
            f"{model}: {len(group)} calls came back without usage; their cost is the "
            "gateway's estimate from counted tokens",
            len(group), _known_cost(group), [r.call_id for r in group[:SAMPLE]],
        ))
    return findings
