"""Compression measured on the fleet: the same sessions, once per policy.

Each variant replays the same tau-bench sessions through the gateway with
`X-Fleetcost-Compress` set to its policies (the response cache off, so only
compression differs) against a fresh emulator (empty prefix cache) and a
fresh gateway (empty summary memo), so no variant warms a cache for the next. Every
figure comes from the gateway's ledger: input tokens (however billed),
cached tokens, exact cost, and apart the summary calls the policy made
(`route_reason = compress-summary`, counted in the variant's cost). A row's
`route_reason` also says whether the stage rewrote the request (its own
output passed the tool-pairing check) or sent it as is, and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from fleetcost.fleet import ledger, procs
from fleetcost.fleet.driver import replay
from fleetcost.fleet.plan import Scenario, plan_sessions, scenario_of
from fleetcost.fleet.run import servers
from fleetcost.fleet.table import money
from fleetcost.fleet.trajectories import Conversation

SUMMARY_REASON = "compress-summary"
MARK = ";compress="
# name -> X-Fleetcost-Compress value ("on" = the configured default policies),
# and the gateway's [compress] section for the variant (knobs).
Variant = tuple[str, str, str]
CACHE_BLIND = "[compress]\npayback_turns = 0\n"
VARIANTS: tuple[Variant, ...] = (
    ("none", "off", ""),
    ("trim", "trim", ""),
    ("dedupe", "dedupe", ""),
    ("window", "window", ""),
    ("window-cache-blind", "window", CACHE_BLIND),
    ("summary", "summary", ""),
    ("summary-cache-blind", "summary", CACHE_BLIND),
    ("prune", "prune", ""),
    ("default", "on", ""),
)


def scenario(name: str, value: str) -> Scenario:
    return Scenario(f"compress-{name}", f"compression: {value}",
                    (("X-Fleetcost-Cache", "off"), ("X-Fleetcost-Compress", value)))


@dataclass(slots=True)
class VariantTotals:
    name: str
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    summary_calls: int = 0
    summary_cost_usd: Decimal = Decimal(0)
    compressed: int = 0
    skipped_pairing: int = 0
    saved_tokens_claimed: int = 0
    by_provider: dict[str, tuple[int, Decimal]] = field(default_factory=dict)

    def add(self, row: ledger.Row) -> None:
        reason = str(row.get("route_reason") or "")
        cost = Decimal(str(row.get("cost_usd") or 0))
        self.input_tokens += int(row.get("input_tokens") or 0)
        self.cached_tokens += int(row.get("cached_tokens") or 0)
        self.cost_usd += cost
        self.errors += row.get("outcome") != "success"
        provider = str(row.get("provider"))
        tokens, spent = self.by_provider.get(provider, (0, Decimal(0)))
        self.by_provider[provider] = (tokens + int(row.get("input_tokens") or 0), spent + cost)
        if reason == SUMMARY_REASON:
            self.summary_calls += 1
            self.summary_cost_usd += cost
            return
        self.calls += 1
        note = reason.split(MARK, 1)[1] if MARK in reason else ""
        if ",saved=" in note:
            self.compressed += 1
            self.saved_tokens_claimed += int(note.rsplit("saved=", 1)[1])
        self.skipped_pairing += "skipped:pairing" in note

    def as_json(self, base: VariantTotals | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.name, "calls": self.calls, "errors": self.errors,
            "compressed_calls": self.compressed, "pairing_failures": self.skipped_pairing,
            "input_tokens": self.input_tokens, "cached_tokens": self.cached_tokens,
            "cost_usd": money(self.cost_usd), "summary_calls": self.summary_calls,
            "summary_cost_usd": money(self.summary_cost_usd),
            "saved_tokens_claimed": self.saved_tokens_claimed,
            "by_provider": {name: {"input_tokens": t, "cost_usd": money(c)}
                            for name, (t, c) in sorted(self.by_provider.items())},
        }
        if base is not None and base.input_tokens and base.cost_usd:
            out["input_tokens_change_pct"] = _pct(self.input_tokens, base.input_tokens)
            out["cost_change_pct"] = _pct(self.cost_usd, base.cost_usd)
        return out


def _pct(value: Decimal | int, base: Decimal | int) -> str:
    return str((Decimal(value) / Decimal(base) * 100 - 100).quantize(Decimal("0.1")))


def totals(rows: Sequence[ledger.Row], names: Sequence[str]) -> list[VariantTotals]:
    found = {name: VariantTotals(name) for name in names}
    for row in rows:
        which = scenario_of(row.get("session_id")) or ""
        name = which.removeprefix("compress-")
        if which.startswith("compress-") and name in found:
            found[name].add(row)
    return [found[name] for name in names]


def measure(
    conversations: Sequence[Conversation], sessions: int, work_dir: Path, *,
    variants: Sequence[Variant] = VARIANTS, concurrency: int = 8,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Replay every variant; return the per-policy table (JSON-ready).

    Each variant gets a fresh emulator (empty prefix cache) and a fresh
    gateway (empty summary memo) writing to the same ledger file, so no
    variant inherits another's warm caches.
    """
    db_path = work_dir / "compress.db"
    sent = 0
    for name, value, config_text in variants:
        config = work_dir / f"{name}.toml"
        config.write_text(config_text)
        with servers(work_dir, db_path, config=config) as up:
            planned = plan_sessions(conversations, sessions, scenario(name, value))
            stats = asyncio.run(replay(up.gateway.url, planned, scenario(name, value),
                                       concurrency=concurrency))
            sent += stats.sent
            procs.stop(up.gateway)  # drains the ledger writer before the next variant
        progress(f"{name}: {stats.sent} calls, {stats.failed} failed, {stats.seconds:.1f} s")
    rows = ledger.read_rows(db_path)
    found = totals(rows, [variant[0] for variant in variants])
    base = found[0] if found and found[0].name == "none" else None
    return {"sessions": sessions, "calls_sent": sent, "ledger_rows": len(rows),
            "variants": [v.as_json(base) for v in found]}


def render(result: dict[str, Any]) -> str:
    head = ("policy", "input tokens", "Δ", "cached", "cost USD", "Δ", "summaries", "rewritten")
    lines = [head]
    for v in result["variants"]:
        lines.append((
            v["policy"], f"{v['input_tokens']:,}", _signed(v.get("input_tokens_change_pct")),
            f"{v['cached_tokens']:,}", f"${v['cost_usd']}", _signed(v.get("cost_change_pct")),
            f"{v['summary_calls']} (${v['summary_cost_usd']})",
            f"{v['compressed_calls']}/{v['calls']}",
        ))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in lines)


def _signed(pct: str | None) -> str:
    if pct is None:
        return ""
    return pct + "%" if pct.startswith("-") else "+" + pct + "%"
