"""The prefix-cache findings of the doctor: busted prefixes and unpaid cache writes.

`prefix_cache_busted`: calls whose prompt stopped sharing its prefix with the
previous call of the session, grouped by what the differing span looks like
(an ISO timestamp, a UUID, reordered tools...). The loss is priced from the
catalog: the tokens the provider would have read had the previous prompt
been kept (`stable_cached_tokens`) but did not (`cached_tokens`), each billed
at the rate it was actually billed at (the cache-write rate for those
rewritten, else the input rate) instead of the cache-read rate.

`prefix_cache_missed`: calls whose prompt kept the session's prefix, yet
the provider read far less than its rules allow (`expected_cached_tokens`,
thresholds in `pricing/prefix_rules.toml`): the cache was cold where the
call landed, typically another deployment or key behind a load balancer.
Priced like a bust, against the expected reads.

`cache_writes_unpaid`: cache ROI per stable prefix (tools + system hash) and
model = reads x (input - read price) - writes x (write price - input price);
a prefix whose writes cost more than its reads saved is caching at a loss.
The usd is that negative ROI. Writes are priced at the 1-hour rate where
the evidence recorded 1-hour writes, else at the 5-minute rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from fleetcost.analytics.doctor import SAMPLE, Finding
from fleetcost.pricing.cost import format_usd
from fleetcost.pricing.prefix_rules import doctor_thresholds
from fleetcost.types import CallRecord, PrefixEvidence, Price

MILLION = Decimal(1_000_000)
SESSIONS_LISTED = 200
PriceOf = Callable[[str], Price | None]


def _rate(value: Decimal | None, fallback: Decimal) -> Decimal:
    return value if value is not None else fallback


def lost_usd(row: CallRecord, ev: PrefixEvidence, price: Price) -> Decimal:
    """What the break cost this call, priced exactly from the catalog."""
    return _unread_usd(row, ev, price, ev.stable_cached_tokens)


def _unread_usd(row: CallRecord, ev: PrefixEvidence, price: Price, readable: int) -> Decimal:
    """Tokens the cache could have served but did not, at what they were billed
    (the write rate for those rewritten to the cache, else the input rate)
    minus the read rate."""
    lost = max(0, min(readable, row.input_tokens) - row.cached_tokens)
    if lost == 0:
        return Decimal(0)
    read = _rate(price.cache_read, price.input)
    rewritten = min(lost, row.cache_write_tokens)
    write = _rate(price.cache_write_1h if ev.cache_write_1h_tokens else price.cache_write_5m,
                  price.input)
    return (rewritten * (write - read) + (lost - rewritten) * (price.input - read)) / MILLION


@dataclass
class _Bust:
    calls: list[CallRecord]
    sessions: dict[str, None]
    regions: dict[str, None]
    snippets: dict[str, None]
    lost_tokens: int = 0
    usd: Decimal = Decimal(0)


def busted(rows: Sequence[CallRecord], evidence: Mapping[str, PrefixEvidence],
           price_of: PriceOf) -> list[Finding]:
    groups: dict[str, _Bust] = {}
    for row in rows:
        ev = evidence.get(row.call_id)
        price = price_of(row.model or "")
        if ev is None or ev.span_kind is None or price is None:
            continue
        usd = lost_usd(row, ev, price)
        if usd <= 0:
            continue
        g = groups.setdefault(ev.span_kind, _Bust([], {}, {}, {}))
        g.calls.append(row)
        g.sessions[row.session_id or ""] = None
        g.regions[ev.break_region or ""] = None
        if ev.span_snippet:
            g.snippets[ev.span_snippet] = None
        g.lost_tokens += max(0, min(ev.stable_cached_tokens, row.input_tokens)
                             - row.cached_tokens)
        g.usd += usd
    return [_bust_finding(kind, g) for kind, g in sorted(groups.items())]


REGION_NAMES = {"tools": "tool definitions", "system": "system prompt",
                "messages": "conversation history"}


def _bust_finding(kind: str, g: _Bust) -> Finding:
    where = "/".join(g.regions)
    named = " / ".join(REGION_NAMES.get(r, r) for r in g.regions)
    sessions = list(g.sessions)
    return Finding(
        "prefix_cache_busted",
        f"{kind} in the {named} breaks the shared prefix in {len(sessions)} sessions "
        f"({len(g.calls)} calls): {g.lost_tokens} prompt tokens not read from the provider "
        f"cache, ${format_usd(g.usd)} lost; move the changing value after the stable "
        "prefix or drop it",
        len(g.calls), g.usd, [r.call_id for r in g.calls[:SAMPLE]],
        evidence={
            "looks_like": kind, "region": where, "snippets": list(g.snippets)[:SAMPLE],
            "session_count": len(sessions), "sessions": sessions[:SESSIONS_LISTED],
            "lost_cached_tokens": g.lost_tokens,
        },
    )


@dataclass
class _Roi:
    calls: list[CallRecord]
    reads: int = 0
    writes: int = 0
    roi: Decimal = Decimal(0)


def roi(row: CallRecord, price: Price, one_hour: bool) -> Decimal:
    read = _rate(price.cache_read, price.input)
    write = _rate(price.cache_write_1h if one_hour else price.cache_write_5m, price.input)
    return (row.cached_tokens * (price.input - read)
            - row.cache_write_tokens * (write - price.input)) / MILLION


def unpaid_writes(rows: Sequence[CallRecord], evidence: Mapping[str, PrefixEvidence],
                  price_of: PriceOf) -> list[Finding]:
    groups: dict[tuple[str, str], _Roi] = defaultdict(lambda: _Roi([]))
    for row in rows:
        price = price_of(row.model or "")
        if price is None or not (row.cached_tokens or row.cache_write_tokens):
            continue
        ev = evidence.get(row.call_id)
        g = groups[(row.prefix_hash or "(none)", row.model or "")]
        g.calls.append(row)
        g.reads += row.cached_tokens
        g.writes += row.cache_write_tokens
        g.roi += roi(row, price, bool(ev and ev.cache_write_1h_tokens))
    losing = {k: g for k, g in groups.items() if g.roi < 0}
    if not losing:
        return []
    calls = [r for g in losing.values() for r in g.calls]
    loss = -sum((g.roi for g in losing.values()), Decimal(0))
    worst = sorted(losing.items(), key=lambda kv: kv[1].roi)[:SAMPLE]
    return [Finding(
        "cache_writes_unpaid",
        f"{len(losing)} cached prefixes cost more in cache writes than their reads saved "
        f"({len(calls)} calls, ${format_usd(loss)} net loss): caching costs you money there",
        len(calls), loss, [r.call_id for r in calls[:SAMPLE]],
        evidence={
            "prefixes": len(losing),
            "write_tokens": sum(g.writes for g in losing.values()),
            "read_tokens": sum(g.reads for g in losing.values()),
            "sessions": list(dict.fromkeys(r.session_id or "" for r in calls))[:SESSIONS_LISTED],
            "worst": [{"prefix_hash": p, "model": m, "reads": g.reads, "writes": g.writes,
                       "roi_usd": format_usd(g.roi)} for (p, m), g in worst],
        },
    )]


def missed(rows: Sequence[CallRecord], evidence: Mapping[str, PrefixEvidence],
           price_of: PriceOf) -> list[Finding]:
    """Prompts that kept their prefix yet were not read from the cache as the rules say."""
    limits = doctor_thresholds()
    calls: list[CallRecord] = []
    usd, expected, reported = Decimal(0), 0, 0
    for row in rows:
        ev = evidence.get(row.call_id)
        price = price_of(row.model or "")
        if ev is None or ev.span_kind is not None or price is None:
            continue
        readable = min(ev.expected_cached_tokens, row.input_tokens)
        if (readable - row.cached_tokens < limits.missed_min_tokens
                or row.cached_tokens >= readable * limits.missed_share):
            continue
        calls.append(row)
        usd += _unread_usd(row, ev, price, readable)
        expected, reported = expected + readable, reported + row.cached_tokens
    if not calls:
        return []
    sessions = list(dict.fromkeys(r.session_id or "" for r in calls))
    # The deployments those sessions were spread over, not only where they missed.
    involved = set(sessions)
    deployments = sorted({r.provider or "" for r in rows if r.session_id in involved})
    return [Finding(
        "prefix_cache_missed",
        f"{len(calls)} calls in {len(sessions)} sessions kept their prefix but the provider "
        f"read {reported} of the {expected} cached tokens its rules allow "
        f"(${format_usd(usd)} lost): the cache was cold where they landed; with several "
        "deployments, list them under [models.ALIAS] deployments for cache affinity",
        len(calls), usd, [r.call_id for r in calls[:SAMPLE]],
        evidence={"sessions": sessions[:SESSIONS_LISTED], "session_count": len(sessions),
                  "deployments": deployments, "expected_cached_tokens": expected,
                  "reported_cached_tokens": reported},
    )]


def prefix_findings(rows: Sequence[CallRecord], evidence: Mapping[str, PrefixEvidence],
                    price_of: PriceOf) -> list[Finding]:
    return (busted(rows, evidence, price_of) + missed(rows, evidence, price_of)
            + unpaid_writes(rows, evidence, price_of))
