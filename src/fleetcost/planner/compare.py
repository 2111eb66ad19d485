"""Actual versus counterfactual spend, by lever, task and model; the CI gate.

Totals come from the runs' ledgers, summed as `Decimal`. A lever's saving is
the `saved_usd` the gateway recorded on the calls that lever served (a
response-cache hit records the call it avoided; a routed call the price
difference), so "turning on X would have saved $Y" reads off evidence, not a
model. The gate compares totals: the candidate fails when it costs more than
the baseline by more than the threshold. The provider's prefix cache records
no `saved_usd` (the provider, not fleetcost, gives the discount); its saving
is computed from the call's cached and written tokens at the catalog's rates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from fleetcost.fleet.table import Totals, aggregate, grand_total
from fleetcost.planner.replay import Run, policy_diff
from fleetcost.pricing import Catalog, format_usd, load_catalog

MILLION = Decimal(1_000_000)


def prefix_saving(row: Mapping[str, Any], catalog: Catalog) -> Decimal:
    """What the provider's prefix cache saved on this call: cached tokens at the
    input rate minus their cache-read price, less the write premium paid. The
    ledger records the token counts; the rates come from the catalog."""
    price = catalog.get(str(row.get("model") or ""))
    if price is None:
        return Decimal(0)
    read = price.input if price.cache_read is None else price.cache_read
    write = price.input if price.cache_write_5m is None else price.cache_write_5m
    micro = (int(row.get("cached_tokens") or 0) * (price.input - read)
             - int(row.get("cache_write_tokens") or 0) * (write - price.input))
    return micro / MILLION


def lever_of(row: Mapping[str, Any]) -> str | None:
    """Which lever served this call, when one did."""
    response_cache = row.get("response_cache")
    if response_cache in ("exact", "semantic"):
        return f"cache.{response_cache}"
    if Decimal(str(row.get("saved_usd") or 0)) > 0:
        return f"route.{row.get('route_reason') or 'other'}"
    if int(row.get("cached_tokens") or 0) > 0:
        return "provider_prefix_cache"
    return None


def by_lever(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    catalog = load_catalog()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        lever = lever_of(row)
        if lever is None:
            continue
        slot = out.setdefault(lever, {"calls": 0, "saved_usd": Decimal(0)})
        slot["calls"] += 1
        if lever == "provider_prefix_cache":
            slot["saved_usd"] += prefix_saving(row, catalog)
        else:
            slot["saved_usd"] += Decimal(str(row.get("saved_usd") or 0))
    return out


def _totals(run: Run) -> dict[str, Any]:
    total = grand_total(aggregate(run.rows, "model"))
    return {
        "policy": run.policy,
        "calls_sent": run.sent,
        "calls_failed": run.failed,
        "ledger_rows": len(run.rows),
        "total": total.as_json(),
        "by_task": {t.key: t.as_json() for t in aggregate(run.rows, "task_type")},
        "by_model": {t.key: t.as_json() for t in aggregate(run.rows, "model")},
        "by_lever": {k: {"calls": v["calls"], "saved_usd": format_usd(v["saved_usd"])}
                     for k, v in sorted(by_lever(run.rows).items())},
    }


def cost(run: Run) -> Decimal:
    total: Totals = grand_total(aggregate(run.rows, "model"))
    return total.cost_usd


def change(base: Run, cand: Run) -> Decimal:
    b = cost(base)
    return (cost(cand) - b) / b if b else Decimal(0)


def report(base: Run, cand: Run, fail_above: Decimal | None) -> dict[str, Any]:
    b, c = cost(base), cost(cand)
    rel = change(base, cand)
    doc: dict[str, Any] = {
        "calls": base.sent,
        "baseline": _totals(base),
        "candidate": _totals(cand),
        "delta_usd": format_usd(c - b),
        "change": format_usd(rel.quantize(Decimal("0.000001"))),
        "policy_changes": policy_diff(base.settings, cand.settings),
        "by_lever": _lever_deltas(base.rows, cand.rows),
        "by_task": _deltas(base.rows, cand.rows, "task_type"),
        "by_model": _deltas(base.rows, cand.rows, "model"),
    }
    if fail_above is not None:
        doc["gate"] = {"fail_above": format_usd(fail_above), "passed": rel <= fail_above}
    return doc


def _lever_deltas(base: list[Any], cand: list[Any]) -> dict[str, dict[str, Any]]:
    """Each lever's saving under the baseline and under the candidate policy."""
    b, c = by_lever(base), by_lever(cand)
    zero: dict[str, Any] = {"calls": 0, "saved_usd": Decimal(0)}
    return {
        k: {"actual_saved_usd": format_usd(b.get(k, zero)["saved_usd"]),
            "counterfactual_saved_usd": format_usd(c.get(k, zero)["saved_usd"]),
            "actual_calls": b.get(k, zero)["calls"],
            "counterfactual_calls": c.get(k, zero)["calls"]}
        for k in sorted(set(b) | set(c))
    }


def _deltas(base: list[Any], cand: list[Any], key: str) -> dict[str, dict[str, str]]:
    bt = {t.key: t.cost_usd for t in aggregate(base, key)}
    ct = {t.key: t.cost_usd for t in aggregate(cand, key)}
    return {
        k: {"actual_usd": format_usd(bt.get(k, Decimal(0))),
            "counterfactual_usd": format_usd(ct.get(k, Decimal(0))),
            "delta_usd": format_usd(ct.get(k, Decimal(0)) - bt.get(k, Decimal(0)))}
        for k in sorted(set(bt) | set(ct))
    }


def text(doc: dict[str, Any]) -> str:
    base, cand = doc["baseline"], doc["candidate"]
    lines = [
        f"replayed {doc['calls']:,} calls",
        *([f"recorded (the ledger's bill):   ${doc['recorded']['cost_usd']}"]
          if "recorded" in doc else []),
        f"actual ({base['policy']}):          ${base['total']['cost_usd']}",
        f"counterfactual ({cand['policy']}):  ${cand['total']['cost_usd']}",
        f"difference: ${doc['delta_usd']} ({Decimal(doc['change']):+.2%})",
    ]
    if doc["policy_changes"]:
        lines.append("policy changes: " + "; ".join(doc["policy_changes"]))
    lines.append("by lever (saved, actual -> counterfactual):")
    for lever, v in doc["by_lever"].items():
        lines.append(f"  {lever}: ${v['actual_saved_usd']} on {v['actual_calls']:,} calls -> "
                     f"${v['counterfactual_saved_usd']} on {v['counterfactual_calls']:,} calls")
    for key in ("by_task", "by_model"):
        lines.append(f"{key.replace('_', ' ')}:")
        for name, d in doc[key].items():
            lines.append(f"  {name}: ${d['actual_usd']} -> ${d['counterfactual_usd']} "
                         f"({d['delta_usd']})")
    gate = doc.get("gate")
    if gate is not None:
        verdict = "passed" if gate["passed"] else "FAILED"
        lines.append(f"cost gate (fail above {Decimal(gate['fail_above']):.2%}): {verdict}")
    return "\n".join(lines)
