"""Budgets as people read them: each rule with its live buckets (spent, reserved, left).

Shared by the admin API and `fleetcost budgets`, so both print the same
figures. Only the current window instance of an hour/day/month budget is
listed (older windows are history, still in the store); a `*` budget lists
one bucket per member seen. Money is printed as decimal USD strings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fleetcost.config import BudgetConfig
from fleetcost.pipeline.budget_rules import Rule, bucket_prefix, from_nano, now_utc, window_of
from fleetcost.storage.base import BudgetBalance, BudgetLedger


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def _bucket(rule: Rule, member: str, label: str, bal: BudgetBalance) -> dict[str, Any]:
    remaining = (from_nano(max(rule.limit_nano - bal.used_nano, 0))
                 if rule.limit_nano is not None else None)
    _, resets = window_of(rule.config.window, now_utc(time.time()), None)
    return {
        "member": member,
        "window": label,
        "resets_at": resets.isoformat(timespec="seconds") if resets else None,
        "spent_usd": _usd(from_nano(bal.spent_nano)),
        "reserved_usd": _usd(from_nano(bal.reserved_nano)),
        "remaining_usd": _usd(remaining),
        "spent_tokens": bal.spent_tokens,
        "reserved_tokens": bal.reserved_tokens,
    }


def describe(rule: Rule, store: BudgetLedger, now: float) -> dict[str, Any]:
    cfg = rule.config
    prefix = bucket_prefix(rule)
    current, _ = window_of(cfg.window, now_utc(now), None)
    windowed = cfg.window in ("hour", "day", "month")
    buckets = []
    for key, bal in store.buckets(prefix, now).items():
        member, _, label = key[len(prefix):].rpartition("|")
        if windowed and label != current:
            continue
        buckets.append(_bucket(rule, member, label, bal))
    return {
        **config_dict(cfg),
        "name": rule.name,
        "buckets": buckets,
    }


def config_dict(cfg: BudgetConfig) -> dict[str, Any]:
    data = cfg.model_dump(mode="json")
    for key in ("limit_usd", "soft_usd"):
        value = getattr(cfg, key)
        data[key] = _usd(value)
    return data


def describe_all(rules: Sequence[Rule], store: BudgetLedger) -> list[dict[str, Any]]:
    now = time.time()
    return [describe(rule, store, now) for rule in rules]
