"""Simulation results as JSON (money as decimal strings) and as text.

Figures are shown rounded half to even (the decimal default) at the
precision the workload's `[report]` asks for, which is how the seed prints
its table ($83,964.60 shows as $83,965; $0.0003585 as $0.000358); the JSON
also carries every exact value under `exact`, so nothing is lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fleetcost.planner.simulate import Simulation, Stage
from fleetcost.pricing import format_usd


def rounded(value: Decimal, quantum: Decimal) -> str:
    """`value` at the display precision, fixed decimals (`0.000028`, `83965`, `-0.343`)."""
    return format(value.quantize(quantum), "f")


def as_json(sim: Simulation) -> dict[str, Any]:
    rep = sim.workload.report
    key = f"usd_per_{sim.workload.period}"
    doc: dict[str, Any] = {
        "workload": sim.workload.name,
        "period": sim.workload.period,
        "stages": [_stage(s, key, rep.usd_per_period, rep.share) for s in sim.stages],
    }
    if sim.breakeven is not None:
        doc["breakeven"] = _breakeven(sim)
    doc["prompt_cache"] = [
        {"model": r.model, "write_premium_per_mtok": format_usd(r.write_premium),
         "read_saving_per_mtok": format_usd(r.read_saving),
         "reads_per_write": None if r.reads_per_write is None
         else rounded(r.reads_per_write, Decimal("0.001"))}
        for r in sim.cache_roi
    ]
    return doc


def _stage(s: Stage, key: str, usd_q: Decimal, share_q: Decimal) -> dict[str, Any]:
    return {
        "name": s.name,
        key: rounded(s.usd, usd_q),
        "change": rounded(s.change, share_q),
        "exact": {key: format_usd(s.usd), "change": format_usd(s.change)},
        "per_task": {
            task: {"mean": format_usd(sp.mean), "p95": format_usd(sp.p95),
                   "p99": format_usd(sp.p99), "samples": sp.samples}
            for task, sp in s.spreads.items()
        },
    }


def _breakeven(sim: Simulation) -> dict[str, Any]:
    assert sim.breakeven is not None
    rep = sim.workload.report
    be = sim.breakeven
    cases = [
        {"kind": c.kind, "hourly": format_usd(c.hourly),
         "selfhost_per_call": rounded(c.selfhost_per_call, rep.usd_per_call),
         "utilisation": rounded(c.utilisation, rep.share),
         "exact": {"selfhost_per_call": format_usd(c.selfhost_per_call),
                   "utilisation": format_usd(c.utilisation)}}
        for c in be.cases
    ]
    # The headline is the first case (spot when given, as in the seed).
    head = cases[0] if cases else {}
    return {
        "model": be.model,
        "selfhost_per_call": head.get("selfhost_per_call"),
        "api_per_call": rounded(be.api_per_call, rep.usd_per_call),
        "utilisation": head.get("utilisation"),
        "exact": {"api_per_call": format_usd(be.api_per_call)},
        "cases": cases,
    }


def as_text(sim: Simulation) -> str:
    rep = sim.workload.report
    places = max(0, -rounded_exp(rep.usd_per_period))
    width = max(24, *(len(s.name) for s in sim.stages))
    lines = [
        f"{s.name:{width}s}: ${s.usd:>10,.{places}f}/{sim.workload.period} ({s.change:+.0%})"
        for s in sim.stages
    ]
    lines += _spread_lines(sim)
    if sim.breakeven is not None:
        lines += _breakeven_lines(sim)
    for r in sim.cache_roi:
        if r.reads_per_write is None:
            lines.append(f"prompt cache on {r.model}: reads save nothing; a write never pays")
        elif r.reads_per_write == 0:
            lines.append(f"prompt cache on {r.model}: writes cost nothing extra; every read saves")
        else:
            lines.append(f"prompt cache on {r.model}: a write pays for itself after "
                         f"{r.reads_per_write:.2f} reads")
    return "\n".join(lines)


def rounded_exp(quantum: Decimal) -> int:
    exp = quantum.normalize().as_tuple().exponent
    return exp if isinstance(exp, int) else 0


def _spread_lines(sim: Simulation) -> list[str]:
    if not sim.stages or not sim.stages[-1].spreads:
        return []
    out = ["", "cost per task (Monte Carlo, "
           f"{next(iter(sim.stages[-1].spreads.values())).samples:,} tasks, seed "
           f"{sim.workload.seed}): mean / p95 / p99"]
    for s in sim.stages:
        for task, sp in s.spreads.items():
            out.append(f"  {s.name} [{task}]: ${sp.mean:.6f} / ${sp.p95:.6f} / ${sp.p99:.6f}")
    return out


def _breakeven_lines(sim: Simulation) -> list[str]:
    assert sim.breakeven is not None
    be = sim.breakeven
    digits = max(0, -rounded_exp(sim.workload.report.usd_per_call))
    out = [""]
    for i, c in enumerate(be.cases):
        tag = "" if i == 0 else f" [{c.kind.replace('_', '-')} ${c.hourly}/h]"
        out.append(f"self-host cost/call (full){tag}: ${c.selfhost_per_call:.{digits}f}")
        if i == 0:
            out.append(f"API cost/call ({be.model}) : ${be.api_per_call:.{digits}f}")
        out.append(f"break-even node utilisation{tag}: {c.utilisation:.1%} of one node's capacity")
    return out
