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
