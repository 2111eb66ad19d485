"""Lever attribution of ledger rows (pure: rows in, decimals out)."""

from __future__ import annotations

from decimal import Decimal

from fleetcost.planner.compare import by_lever, lever_of


def test_levers_from_ledger_rows() -> None:
    rows = [
        {"model": "gpt-4o", "response_cache": "exact", "saved_usd": "0.012", "cached_tokens": 0},
        {"model": "gpt-4o", "response_cache": "miss", "saved_usd": "0", "cached_tokens": 1000},
        # Anthropic: 1,000 tokens read at $0.30 instead of $3, 1,000 written at $3.75.
        {"model": "claude-sonnet-4-6", "response_cache": "bypass", "saved_usd": "0",
         "cached_tokens": 1000, "cache_write_tokens": 1000},
        {"model": "gpt-4o-mini", "response_cache": "miss", "saved_usd": "0.5",
         "route_reason": "cascade", "cached_tokens": 0},
        {"model": "gpt-4o", "response_cache": "miss", "saved_usd": "0", "cached_tokens": 0},
    ]
    assert [lever_of(r) for r in rows] == [
        "cache.exact", "provider_prefix_cache", "provider_prefix_cache", "route.cascade", None]
    levers = by_lever(rows)
    assert levers["cache.exact"] == {"calls": 1, "saved_usd": Decimal("0.012")}
    # gpt-4o: 1000 x (2.5 - 1.25); sonnet: 1000 x (3 - 0.3) - 1000 x (3.75 - 3); per 1M.
    assert levers["provider_prefix_cache"] == {
        "calls": 2, "saved_usd": Decimal("0.00125") + Decimal("0.00195")}
    assert levers["route.cascade"]["saved_usd"] == Decimal("0.5")


def test_report_compares_levers_tasks_and_models() -> None:
    from fleetcost.config import Settings
    from fleetcost.planner.compare import report, text
    from fleetcost.planner.replay import Run

    def row(task: str, cost: str, cache: str = "miss", saved: str = "0") -> dict[str, object]:
        return {"model": "gpt-4o", "task_type": task, "cost_usd": cost, "saved_usd": saved,
                "response_cache": cache, "cached_tokens": 0, "input_tokens": 10}

    base = Run("baseline", "off.toml", Settings(), [row("a", "1"), row("a", "1"), row("b", "2")])
    cand = Run("candidate", "on.toml", Settings(),
               [row("a", "1"), row("a", "0", "exact", "1"), row("b", "2.5")])
    base.sent = cand.sent = 3
    doc = report(base, cand, Decimal("0.05"))
    assert (doc["delta_usd"], doc["change"]) == ("-0.5", "-0.125")
    assert doc["gate"] == {"fail_above": "0.05", "passed": True}
    assert doc["by_lever"]["cache.exact"] == {
        "actual_saved_usd": "0", "counterfactual_saved_usd": "1",
        "actual_calls": 0, "counterfactual_calls": 1}
    assert doc["by_task"]["a"]["delta_usd"] == "-1" and doc["by_task"]["b"]["delta_usd"] == "0.5"
    assert "cost gate (fail above 5.00%): passed" in text(doc)
    worse = report(cand, base, Decimal("0.05"))
    assert worse["gate"]["passed"] is False
