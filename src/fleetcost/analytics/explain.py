"""The doctor's comparison as sentences a manager can read, biggest cause first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_SAY = {
    "model_drift": "a task type's model changed",
    "runaway_sessions": "runaway sessions",
    "context_bloat": "prompts grew (system prompt or history)",
    "cache_regression": "the provider prefix cache stopped hitting",
    "volume": "more or fewer sessions",
    "steps": "more or fewer calls per session",
    "output_verbosity": "longer answers",
}
# Causes below this share of the change are listed as minor.
MINOR = 0.05


def _detail(f: dict[str, Any]) -> str:
    ev = f["evidence"]
    if not ev:
        return ""
    first = ev[0]
    if f["cause"] == "model_drift":
        return f" ({first['task']}: {first['models'][0]} -> {first['models'][1]})"
    if f["cause"] == "runaway_sessions":
        return (f" (session {first['session']} of {first['agent']}: {first['calls']} calls, "
                f"${first['usd']} against ${first['typical_session_usd']} for a typical one)")
    if f["cause"] == "context_bloat":
        grown = max(ev, key=lambda e: e["input_per_call"][1] - e["input_per_call"][0])
        return (f" ({grown['task']}: {grown['input_per_call'][0]} -> "
                f"{grown['input_per_call'][1]} input tokens per call, system prompt "
                f"{grown['system_tokens'][0]} -> {grown['system_tokens'][1]} tokens)")
    return ""


def explain(result: dict[str, Any]) -> list[str]:
    change = Decimal(result["change_usd"])
    lines = [f"Spend went from ${result['base_usd']} to ${result['current_usd']} "
             f"({'+' if change >= 0 else ''}{change} USD)."]
    for rank, f in enumerate(result["findings"], 1):
        if f["usd"] is None:
            ev = f["evidence"][0]
            lines.append(f"{rank}. {ev['calls']} calls to unpriced models "
                         f"{', '.join(ev['models'])}: their cost is unknown, not zero.")
            continue
        if abs(f["share"]) < MINOR:
            continue
        lines.append(f"{rank}. {_SAY.get(f['cause'], f['cause'])}: {f['usd']} USD "
                     f"({f['share']:.0%} of the change){_detail(f)}.")
    return lines
