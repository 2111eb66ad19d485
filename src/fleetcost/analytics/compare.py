"""Why did the bill change? A waterfall from one period's spend to another's.

The change in spend is split, per task type, into causes that add up to it
exactly (the same Decimal arithmetic as the ledger), in this order:

1. runaway sessions: sessions costing more than `RUNAWAY_X` times their task's
   median session, beyond what a typical session (the baseline's mean) costs;
2. volume: more or fewer sessions, at the baseline's mean session cost;
3. steps: more or fewer calls per session, at the baseline's mean call cost;
4. model drift: the period's own calls, priced at the baseline's model mix
   for that task type, against what they actually cost;
5. cache regression: provider prefix-cache hits lost (hit rate of calls that
   could hit: a prompt of 1,024+ tokens that is not a session's first call);
6. context bloat: the rest of the change in input cost per call (a longer
   system prompt, more history), at the baseline's models;
7. output verbosity: the change in output cost per call.

Calls without a price cannot be placed in the waterfall; they are reported as
`unpriced_models` with their token count. Each finding names its evidence
(tasks, models, sessions, token sizes) so a person can check it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from fleetcost.pricing.catalog import Catalog
from fleetcost.pricing.cost import cost, format_usd
from fleetcost.types import CallRecord, Price, Usage

RUNAWAY_X = 10
CACHE_ELIGIBLE = 1024
NANO = Decimal("0.000000001")


@dataclass
class _Period:
    """One task type's calls in one period, split into normal and runaway sessions."""

    calls: list[CallRecord] = field(default_factory=list)
    runaway: dict[str, list[CallRecord]] = field(default_factory=dict)
    sessions: int = 0

    @property
    def spend(self) -> Decimal:
        return _spend(self.calls)


def _spend(rows: Iterable[CallRecord]) -> Decimal:
    return sum((r.cost_usd for r in rows if r.cost_usd is not None), Decimal(0))


def _usage(r: CallRecord, output: bool = True) -> Usage:
    return Usage(input_tokens=r.input_tokens, output_tokens=r.output_tokens if output else 0,
                 cached_tokens=r.cached_tokens, cache_write_5m_tokens=r.cache_write_tokens)


def _split(rows: list[CallRecord]) -> dict[str, _Period]:
    """Per task type: sessions, and the runaway ones set apart."""
    by_task: dict[str, dict[str, list[CallRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.cost_usd is not None:
            by_task[r.task_type or "(none)"][r.session_id or r.call_id].append(r)
    out: dict[str, _Period] = {}
    for task, sessions in by_task.items():
        typical = median(_spend(s) for s in sessions.values())
        p = _Period(sessions=len(sessions))
        for sid, calls in sessions.items():
            if typical > 0 and _spend(calls) > RUNAWAY_X * typical and len(calls) > 2 * median(
                    len(c) for c in sessions.values()):
                p.runaway[sid] = calls
            else:
                p.calls.extend(calls)
        out[task] = p
    return out


def _mix(calls: list[CallRecord], catalog: Catalog) -> list[tuple[Decimal, Price]]:
    counts: dict[str, int] = defaultdict(int)
    for r in calls:
        counts[r.model or ""] += 1
    out = []
    for model, n in sorted(counts.items()):
        price = catalog.get(model)
        if price is not None:
            out.append((Decimal(n) / len(calls), price))
    return out


def _at_mix(r: CallRecord, mix: list[tuple[Decimal, Price]], output: bool) -> Decimal:
    return sum((w * cost(_usage(r, output), p) for w, p in mix), Decimal(0))


def _hits(calls: list[CallRecord]) -> tuple[int, int, int]:
    """(eligible calls, calls that read the cache, cached tokens of those)."""
    seen: set[str] = set()
    eligible = hit = tokens = 0
    for r in sorted(calls, key=lambda c: c.ts):
        first = (r.session_id or r.call_id) not in seen
        seen.add(r.session_id or r.call_id)
        if first or r.input_tokens < CACHE_ELIGIBLE:
            continue
        eligible += 1
        if r.cached_tokens:
            hit += 1
            tokens += r.cached_tokens
    return eligible, hit, tokens


@dataclass
class Cause:
    usd: Decimal = Decimal(0)
    evidence: list[dict[str, object]] = field(default_factory=list)


def _task(task: str, a: _Period, b: _Period, catalog: Catalog,
          causes: dict[str, Cause]) -> None:
    n_a = len({r.session_id or r.call_id for r in a.calls})
    if not a.calls or not b.calls or n_a == 0:
        causes["volume"].usd += b.spend + _spend(x for c in b.runaway.values() for x in c) \
            - a.spend - _spend(x for c in a.runaway.values() for x in c)
        causes["volume"].evidence.append({"task": task, "note": "present in one period only"})
        return
    n_b = len({r.session_id or r.call_id for r in b.calls})
    per_session = a.spend / n_a
    per_call = a.spend / len(a.calls)
    run = Decimal(0)
    for sign, period in ((1, b), (-1, a)):
        for sid, calls in period.runaway.items():
            run += sign * (_spend(calls) - per_session)
            if sign == 1:
                causes["runaway_sessions"].evidence.append({
                    "task": task, "session": sid, "agent": calls[0].agent_id,
                    "calls": len(calls), "usd": format_usd(_spend(calls)),
                    "typical_session_usd": format_usd(per_session.quantize(NANO))})
    causes["runaway_sessions"].usd += run
    total_a, total_b = n_a + len(a.runaway), n_b + len(b.runaway)
    causes["volume"].usd += (total_b - total_a) * per_session
    causes["volume"].evidence.append({"task": task, "sessions": [total_a, total_b]})
    steps = n_b * (Decimal(len(b.calls)) / n_b - Decimal(len(a.calls)) / n_a) * per_call
    causes["steps"].usd += steps
    causes["steps"].evidence.append({"task": task, "calls_per_session": [
        round(len(a.calls) / n_a, 2), round(len(b.calls) / n_b, 2)]})
    _per_call(task, a, b, catalog, causes)


def _per_call(task: str, a: _Period, b: _Period, catalog: Catalog,
              causes: dict[str, Cause]) -> None:
    """Split calls_b x (cost per call b - cost per call a) into drift, cache, bloat, output."""
    mix = _mix(a.calls, catalog)
    calls_b, calls_a = Decimal(len(b.calls)), Decimal(len(a.calls))
    at_a = sum((_at_mix(r, mix, True) for r in b.calls), Decimal(0))
    drift = b.spend - at_a
    causes["model_drift"].usd += drift
    causes["model_drift"].evidence.append({"task": task, "models": [
        _models(a.calls), _models(b.calls)], "usd": format_usd(drift.quantize(NANO))})
    in_b = sum((_at_mix(r, mix, False) for r in b.calls), Decimal(0))
    in_a = sum((_at_mix(r, mix, False) for r in a.calls), Decimal(0))
    input_change = in_b - calls_b * in_a / calls_a
    output_change = (at_a - in_b) - calls_b * (a.spend - in_a) / calls_a
    elig_a, hit_a, _ = _hits(a.calls)
    elig_b, hit_b, tokens_b = _hits(b.calls)
    regression = Decimal(0)
    if elig_a and elig_b and hit_b and mix:
        lost = (Decimal(hit_a) / elig_a - Decimal(hit_b) / elig_b) * elig_b
        price = mix[0][1]
        read = price.cache_read if price.cache_read is not None else price.input
        regression = lost * Decimal(tokens_b) / hit_b * (price.input - read) / 1_000_000
    causes["cache_regression"].usd += regression
    causes["cache_regression"].evidence.append({"task": task, "hit_rate": [
        round(hit_a / elig_a, 4) if elig_a else None,
        round(hit_b / elig_b, 4) if elig_b else None]})
    causes["context_bloat"].usd += input_change - regression
    causes["context_bloat"].evidence.append({"task": task, **_sizes(a.calls, b.calls)})
    causes["output_verbosity"].usd += output_change
    causes["output_verbosity"].evidence.append({"task": task, "output_per_call": [
        round(sum(r.output_tokens for r in c) / len(c), 1) for c in (a.calls, b.calls)]})


def _models(calls: list[CallRecord]) -> dict[str, float]:
    counts: dict[str, int] = defaultdict(int)
    for r in calls:
        counts[r.model or "?"] += 1
    return {m: round(n / len(calls), 4) for m, n in sorted(counts.items())}


def _sizes(a: list[CallRecord], b: list[CallRecord]) -> dict[str, object]:
    def mean(rows: list[CallRecord], attr: str) -> float:
        vals = [getattr(r, attr) for r in rows if getattr(r, attr) is not None]
        return round(sum(vals) / len(vals), 1) if vals else 0.0
    return {
        "input_per_call": [mean(a, "input_tokens"), mean(b, "input_tokens")],
        "system_tokens": [mean(a, "system_tokens"), mean(b, "system_tokens")],
        "prefix_hashes": [sorted({r.prefix_hash for r in a if r.prefix_hash})[:3],
                          sorted({r.prefix_hash for r in b if r.prefix_hash})[:3]],
    }


CAUSES = ("runaway_sessions", "volume", "steps", "model_drift", "cache_regression",
          "context_bloat", "output_verbosity")


def compare(base: list[CallRecord], current: list[CallRecord],
            catalog: Catalog) -> dict[str, object]:
    """The bill change from `base` to `current`, as ranked findings that add up to it."""
    a, b = _split(base), _split(current)
    causes = {name: Cause() for name in CAUSES}
    for task in sorted(set(a) | set(b)):
        _task(task, a.get(task, _Period()), b.get(task, _Period()), catalog, causes)
    change = _spend(current) - _spend(base)
    findings = []
    for name, c in causes.items():
        usd = c.usd.quantize(NANO)
        share = float(usd / change) if change else 0.0
        evidence = [e for e in c.evidence if _matters(e, name)]
        findings.append({"cause": name, "usd": format_usd(usd), "share": round(share, 4),
                         "evidence": evidence})
    unpriced = [r for r in current if r.cost_usd is None]
    if unpriced:
        findings.append({"cause": "unpriced_models", "usd": None, "share": None, "evidence": [{
            "models": sorted({r.model or "?" for r in unpriced}), "calls": len(unpriced),
            "tokens": sum(r.input_tokens + r.output_tokens for r in unpriced)}]})
    findings.sort(key=lambda f: -abs(Decimal(str(f["usd"] or 0))))
    return {"base_usd": format_usd(_spend(base)), "current_usd": format_usd(_spend(current)),
            "change_usd": format_usd(change), "findings": findings}


def _matters(e: dict[str, object], cause: str) -> bool:
    """Keep evidence rows that show a change (an unchanged task is noise in a report)."""
    if cause == "runaway_sessions" or "note" in e:
        return True
    pairs = [v for k, v in e.items() if isinstance(v, list) and len(v) == 2 and k != "task"]
    return any(x != y for x, y in pairs) or ("usd" in e and e["usd"] != "0")
