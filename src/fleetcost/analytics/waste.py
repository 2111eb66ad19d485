"""Waste attribution: the parts of a bill platform teams can act on, each with its method.

Every category is computed from recorded tokens and the catalog's prices, and
says how (`method`) and whether it is an estimate (`estimate`: it rests on an
assumption the ledger cannot check). Categories can overlap (a redundant call
also re-sends its system prompt), so they are not summed into one figure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from typing import Any

from fleetcost.pricing.catalog import Catalog
from fleetcost.pricing.cost import cost, format_usd
from fleetcost.types import CallRecord, Price, Usage

MILLION = Decimal(1_000_000)
SIMPLE_INPUT, SIMPLE_OUTPUT = 2_000, 200  # "simple": short prompt and short answer
VERBOSE_X = 2


@dataclass
class Category:
    name: str
    method: str
    estimate: bool
    usd: Decimal = Decimal(0)
    tokens: int = 0
    calls: int = 0

    def add(self, usd: Decimal, tokens: int) -> None:
        if usd > 0 or tokens > 0:
            self.usd += usd
            self.tokens += tokens
            self.calls += 1


def _read_rate(p: Price) -> Decimal:
    return p.cache_read if p.cache_read is not None else p.input


def _cheapest_small(catalog: Catalog, provider: str, used: set[str]) -> Price | None:
    """The provider's cheapest small-tier model, preferring ones the fleet already calls."""
    small = [p for m in catalog.models() if (p := catalog.get(m)) is not None
             and p.provider == provider and p.tier == "small"]
    known = [p for p in small if p.model in used] or small
    return min(known, key=lambda p: (p.input + p.output, p.model), default=None)


# name -> (is an estimate, how it is computed)
METHODS: tuple[tuple[str, bool, str], ...] = (
    ("repeated_system_prompt", False,
     "after a session's first call, system-prompt tokens the provider did not serve from its "
     "cache, priced at input minus cache-read rate (what caching them would have saved)"),
    ("accumulated_context", False,
     "history re-sent on every call (the previous call's prompt minus the system prompt), "
     "at the rate it was billed"),
    ("frontier_on_simple_tasks", True,
     f"calls to frontier-tier models with at most {SIMPLE_INPUT} prompt and {SIMPLE_OUTPUT} "
     "output tokens, against the same provider's cheapest small-tier model; routing or "
     "shadow data would confirm the small model answers them well"),
    ("redundant_calls", False,
     "calls repeating an earlier call of the same session (same model, prompt fingerprint "
     "and size), their whole cost"),
    ("output_verbosity", True,
     f"output tokens beyond {VERBOSE_X}x the task type's median output, at the output rate"),
)


def _categories() -> dict[str, Category]:
    return {name: Category(name, method, estimate) for name, estimate, method in METHODS}


def _session_pass(rows: list[CallRecord], catalog: Catalog, cats: dict[str, Category]) -> None:
    sessions: dict[str, list[CallRecord]] = defaultdict(list)
    for r in rows:
        if r.session_id and r.cost_usd is not None:
            sessions[r.session_id].append(r)
    for calls in sessions.values():
        calls.sort(key=lambda c: c.ts)
        seen: set[tuple[str | None, str | None, int]] = set()
        for i, r in enumerate(calls):
            price = catalog.get(r.model or "")
            fingerprint = (r.model, r.prefix_hash, r.input_tokens)
            if r.prefix_hash and fingerprint in seen:
                cats["redundant_calls"].add(r.cost_usd or Decimal(0), r.input_tokens)
            seen.add(fingerprint)
            if i == 0 or price is None:
                continue
            system = r.system_tokens or 0
            uncached_system = max(0, system - r.cached_tokens)
            cats["repeated_system_prompt"].add(
                uncached_system * (price.input - _read_rate(price)) / MILLION, uncached_system)
            history = max(0, min(calls[i - 1].input_tokens, r.input_tokens) - system)
            cached_history = min(history, max(0, r.cached_tokens - system))
            billed = (cached_history * _read_rate(price)
                      + (history - cached_history) * price.input) / MILLION
            cats["accumulated_context"].add(billed, history)


def _call_pass(rows: list[CallRecord], catalog: Catalog, cats: dict[str, Category]) -> None:
    outputs: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        outputs[r.task_type or "(none)"].append(r.output_tokens)
    typical = {task: median(v) for task, v in outputs.items()}
    used = {r.model for r in rows if r.model}
    for r in rows:
        price = catalog.get(r.model or "")
        if price is None or r.cost_usd is None:
            continue
        extra = int(max(0, r.output_tokens - VERBOSE_X * typical[r.task_type or "(none)"]))
        cats["output_verbosity"].add(extra * price.output / MILLION, extra)
        if (price.tier == "frontier" and r.input_tokens <= SIMPLE_INPUT
                and r.output_tokens <= SIMPLE_OUTPUT):
            small = _cheapest_small(catalog, price.provider, used)
            if small is not None:
                usage = Usage(input_tokens=r.input_tokens, output_tokens=r.output_tokens,
                              cached_tokens=r.cached_tokens)
                cats["frontier_on_simple_tasks"].add(
                    max(Decimal(0), r.cost_usd - cost(usage, small)), r.input_tokens)


def attribute(rows: list[CallRecord], catalog: Catalog) -> dict[str, Any]:
    """Spend by waste category, as `fleetcost report --waste --json` prints it."""
    cats = _categories()
    _session_pass(rows, catalog, cats)
    _call_pass(rows, catalog, cats)
    spend = sum((r.cost_usd for r in rows if r.cost_usd is not None), Decimal(0))
    return {
        "spend_usd": format_usd(spend),
        "calls": len(rows),
        "categories": [{
            "name": c.name, "usd": format_usd(c.usd.quantize(Decimal("1E-9"))),
            "share_of_spend": round(float(c.usd / spend), 4) if spend else None,
            "tokens": c.tokens, "calls": c.calls, "estimate": c.estimate, "method": c.method,
        } for c in sorted(cats.values(), key=lambda c: -c.usd)],
    }
