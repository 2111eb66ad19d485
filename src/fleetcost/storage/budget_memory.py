"""In-memory budget ledger: the same contract as SQLite, for `storage.kind = "memory"`.

One lock makes every method atomic; the semantics (expiring holds, checks
with `>`, settle to the named buckets) are the SQLite store's, and the same
contract tests run against both.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from fleetcost.storage.base import BudgetBalance, BudgetCharge, ReserveResult


@dataclass(slots=True)
class _Hold:
    key: str
    nano: int
    tokens: int
    expires_at: float
    owner: str


class MemoryBudgetLedger:
    def __init__(self) -> None:
        self._spent: dict[str, tuple[int, int]] = {}
        self._holds: dict[str, list[_Hold]] = {}
        self._lock = threading.Lock()
        self._rules: dict[str, str] = {}
        self._settled: set[str] = set()

    def _expire(self, now: float) -> None:
        for hold_id in [h for h, rows in self._holds.items() if rows[0].expires_at <= now]:
            del self._holds[hold_id]

    def _balance(self, key: str, now: float) -> BudgetBalance:
        nano = tokens = 0
        for rows in self._holds.values():
            for row in rows:
                if row.key == key and row.expires_at > now:
                    nano += row.nano
                    tokens += row.tokens
        spent = self._spent.get(key, (0, 0))
        return BudgetBalance(spent_nano=spent[0], spent_tokens=spent[1],
                             reserved_nano=nano, reserved_tokens=tokens)

    @staticmethod
    def _crosses(c: BudgetCharge, bal: BudgetBalance, nano: int, tokens: int) -> bool:
        if c.limit_nano is not None and bal.used_nano + nano > c.limit_nano:
            return True
        return c.limit_tokens is not None and bal.used_tokens + tokens > c.limit_tokens

    def reserve(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int, tokens: int,
                now: float, expires_at: float, owner: str) -> ReserveResult:
        with self._lock:
            self._expire(now)
            balances = {c.key: self._balance(c.key, now) for c in charges}
            refused = tuple(c.key for c in charges
                            if self._crosses(c, balances[c.key], nano, tokens))
            if not refused:
                self._holds[hold_id] = [_Hold(c.key, nano, tokens, expires_at, owner)
                                        for c in charges]
                balances = {c.key: self._balance(c.key, now) for c in charges}
            return ReserveResult(refused, balances)

    def resize(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int, tokens: int,
               now: float) -> ReserveResult:
        with self._lock:
            rows = {r.key: r for r in self._holds.get(hold_id, [])}
            balances, refused = {}, []
            for c in charges:
                row = rows.get(c.key)
                held = (row.nano, row.tokens) if row else (0, 0)
                bal = balances[c.key] = self._balance(c.key, now)
                if (nano > held[0] or tokens > held[1]) and self._crosses(
                        c, bal, nano - held[0], tokens - held[1]):
                    refused.append(c.key)
            if not refused:
                for row in rows.values():
                    row.nano, row.tokens = nano, tokens
                balances = {c.key: self._balance(c.key, now) for c in charges}
            return ReserveResult(tuple(refused), balances)

    def settle(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int,
               tokens: int) -> None:
        with self._lock:
            for c in charges:
                spent = self._spent.get(c.key, (0, 0))
                self._spent[c.key] = (spent[0] + nano, spent[1] + tokens)
            self._holds.pop(hold_id, None)

    def settle_once(self, hold_id: str, charges: Sequence[BudgetCharge], nano: int,
                    tokens: int) -> bool:
        with self._lock:
            fresh = hold_id not in self._settled
            self._settled.add(hold_id)
            if fresh:
                for c in charges:
                    spent = self._spent.get(c.key, (0, 0))
                    self._spent[c.key] = (spent[0] + nano, spent[1] + tokens)
            self._holds.pop(hold_id, None)
            return fresh

    def release(self, hold_id: str) -> None:
        with self._lock:
            self._holds.pop(hold_id, None)

    def extend(self, hold_id: str, expires_at: float, owner: str | None = None) -> None:
        with self._lock:
            for row in self._holds.get(hold_id, []):
                row.expires_at = expires_at
                if owner is not None:
                    row.owner = owner

    def release_owner(self, owner: str) -> int:
        with self._lock:
            doomed = [h for h, rows in self._holds.items() if rows and rows[0].owner == owner]
            for hold_id in doomed:
                del self._holds[hold_id]
            return sum(1 for _ in doomed)

    def balances(self, keys: Sequence[str], now: float) -> dict[str, BudgetBalance]:
        with self._lock:
            return {k: self._balance(k, now) for k in keys}

    def buckets(self, prefix: str, now: float) -> dict[str, BudgetBalance]:
        with self._lock:
            keys = {k for k in self._spent if k.startswith(prefix)}
            keys |= {r.key for rows in self._holds.values() for r in rows
                     if r.key.startswith(prefix) and r.expires_at > now}
            return {k: self._balance(k, now) for k in sorted(keys)}

    def saved_rules(self) -> dict[str, str]:
        with self._lock:
            return dict(self._rules)

    def save_rule(self, name: str, config_json: str) -> None:
        with self._lock:
            self._rules[name] = config_json

    def close(self) -> None:
        pass
