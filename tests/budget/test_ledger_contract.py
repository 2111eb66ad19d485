"""Contract tests every BudgetLedger backend passes (memory and SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcost.storage.base import BudgetCharge
from fleetcost.storage.budget_memory import MemoryBudgetLedger
from fleetcost.storage.budget_sqlite import SQLiteBudgetLedger

Ledger = MemoryBudgetLedger | SQLiteBudgetLedger
AGENT = BudgetCharge("agent|a|d1", limit_nano=1000, limit_tokens=None)
TENANT = BudgetCharge("tenant|t|d1", limit_nano=2500, limit_tokens=100)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    store: Ledger = (MemoryBudgetLedger() if request.param == "memory"
                     else SQLiteBudgetLedger(tmp_path / "budgets.db"))
    yield store
    store.close()


def _reserve(ledger: Ledger, hold: str, nano: int, tokens: int = 0, now: float = 10.0,
             ttl: float = 60.0, charges: tuple[BudgetCharge, ...] = (AGENT, TENANT),
             owner: str = "p1") -> tuple[str, ...]:
    return ledger.reserve(hold, charges, nano, tokens, now, now + ttl, owner).refused


def test_limit_is_inclusive_to_the_nano_dollar(ledger: Ledger) -> None:
    assert _reserve(ledger, "h1", 600) == ()
    assert _reserve(ledger, "h2", 401) == ("agent|a|d1",)
    assert _reserve(ledger, "h3", 400) == ()
    bal = ledger.balances(["agent|a|d1"], 11.0)["agent|a|d1"]
    assert bal.reserved_nano == 1000 and bal.spent_nano == 0


def test_all_or_nothing_over_every_bucket(ledger: Ledger) -> None:
    other_agent = BudgetCharge("agent|b|d1", limit_nano=5000, limit_tokens=None)
    assert _reserve(ledger, "h1", 900, charges=(AGENT, TENANT)) == ()
    assert _reserve(ledger, "h2", 1500, charges=(other_agent, TENANT)) == ()
    # The tenant has 100 left: refused, and nothing was held on the agent bucket either.
    assert _reserve(ledger, "h3", 101, charges=(other_agent, TENANT)) == ("tenant|t|d1",)
    bal = ledger.balances(["agent|b|d1"], 11.0)["agent|b|d1"]
    assert bal.reserved_nano == 1500


def test_token_limits(ledger: Ledger) -> None:
    assert _reserve(ledger, "h1", 1, tokens=100) == ()
    assert _reserve(ledger, "h2", 1, tokens=1) == ("tenant|t|d1",)


def test_settle_charges_exact_and_frees_the_rest(ledger: Ledger) -> None:
    _reserve(ledger, "h1", 1000, tokens=50)
    ledger.settle("h1", (AGENT, TENANT), 300, 20)
    bal = ledger.balances(["agent|a|d1", "tenant|t|d1"], 11.0)
    assert bal["agent|a|d1"].spent_nano == 300 and bal["agent|a|d1"].reserved_nano == 0
    assert bal["tenant|t|d1"].spent_tokens == 20 and bal["tenant|t|d1"].reserved_tokens == 0
    assert _reserve(ledger, "h2", 700) == ()
    assert _reserve(ledger, "h3", 1) == ("agent|a|d1",)


def test_release_and_settle_after_expiry(ledger: Ledger) -> None:
    _reserve(ledger, "h1", 1000)
    ledger.release("h1")
    assert _reserve(ledger, "h2", 1000, ttl=5.0) == ()
    # h2 expired (crashed owner): its hold no longer counts.
    assert _reserve(ledger, "h3", 1000, now=16.0) == ()
    # A settle after expiry still records the spend on the named buckets.
    ledger.settle("h2", (AGENT, TENANT), 10, 0)
    assert ledger.balances(["agent|a|d1"], 16.0)["agent|a|d1"].used_nano == 1010


def test_extend_keeps_a_long_call_held(ledger: Ledger) -> None:
    _reserve(ledger, "h1", 1000, ttl=5.0)
    ledger.extend("h1", 100.0)
    assert _reserve(ledger, "h2", 1, now=50.0) == ("agent|a|d1",)
    assert _reserve(ledger, "h3", 1, now=100.0) == ()


def test_resize_grows_under_the_same_check_and_shrinks_always(ledger: Ledger) -> None:
    _reserve(ledger, "h1", 500)
    _reserve(ledger, "h2", 300)
    assert ledger.resize("h1", (AGENT, TENANT), 701, 0, 11.0).refused == ("agent|a|d1",)
    assert ledger.resize("h1", (AGENT, TENANT), 700, 0, 11.0).ok
    assert ledger.resize("h1", (AGENT, TENANT), 100, 0, 11.0).ok
    assert ledger.balances(["agent|a|d1"], 11.0)["agent|a|d1"].reserved_nano == 400


def test_release_owner_and_buckets(ledger: Ledger) -> None:
    _reserve(ledger, "h1", 100, owner="dead")
    _reserve(ledger, "h2", 100, owner="alive")
    assert ledger.release_owner("dead") == 1
    ledger.settle("h2", (AGENT, TENANT), 50, 0)
    found = ledger.buckets("agent|", 11.0)
    assert list(found) == ["agent|a|d1"] and found["agent|a|d1"].spent_nano == 50


def test_extend_can_hand_a_hold_to_another_owner(ledger: Ledger) -> None:
    # A queued batch item's hold must survive the stop of the process that took it.
    _reserve(ledger, "h1", 300, owner="gw-1")
    ledger.extend("h1", 1000.0, owner="batch-queue")
    assert ledger.release_owner("gw-1") == 0
    assert ledger.balances(["agent|a|d1"], 500.0)["agent|a|d1"].reserved_nano == 300
    assert ledger.release_owner("batch-queue") == 1
    assert ledger.balances(["agent|a|d1"], 500.0)["agent|a|d1"].reserved_nano == 0


def test_saved_rules_roundtrip(ledger: Ledger) -> None:
    ledger.save_rule("b", '{"scope": "agent"}')
    ledger.save_rule("a", '{"scope": "tenant"}')
    ledger.save_rule("b", '{"scope": "team"}')
    assert ledger.saved_rules() == {"b": '{"scope": "team"}', "a": '{"scope": "tenant"}'}


def test_concurrent_reserves_never_overspend(ledger: Ledger) -> None:
    granted: list[str] = []

    def worker(n: int) -> None:
        for i in range(25):
            hold = f"w{n}-{i}"
            if not _reserve(ledger, hold, 37, tokens=1, charges=(AGENT,)):
                granted.append(hold)
                ledger.settle(hold, (AGENT,), 37, 1)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bal = ledger.balances(["agent|a|d1"], 11.0)["agent|a|d1"]
    assert len(granted) == 1000 // 37 and bal.spent_nano == 37 * len(granted) <= 1000
    assert bal.reserved_nano == 0


def test_sqlite_two_connections_share_one_truth(tmp_path: Path) -> None:
    """Two gateway processes on one file: BEGIN IMMEDIATE serialises their reserves."""
    stores = [SQLiteBudgetLedger(tmp_path / "b.db") for _ in range(2)]
    granted = []

    def worker(store: SQLiteBudgetLedger, n: int) -> None:
        for i in range(40):
            if not _reserve(store, f"{n}-{i}", 30, charges=(AGENT,)):
                granted.append(1)

    threads = [threading.Thread(target=worker, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 1000 // 30
    assert stores[0].balances(["agent|a|d1"], 11.0)["agent|a|d1"].reserved_nano == 990
    for s in stores:
        s.close()


def test_settle_once_charges_a_hold_id_exactly_once(ledger: Ledger) -> None:
    """A replayed settlement (a batch item after a crash) only drops the hold, even when
    the hold expired or a different amount is replayed; other holds are unaffected."""
    _reserve(ledger, "h1", 500, tokens=10)
    _reserve(ledger, "h2", 200, tokens=5)
    assert ledger.settle_once("h1", (AGENT, TENANT), 300, 7) is True
    assert ledger.settle_once("h1", (AGENT, TENANT), 300, 7) is False
    assert ledger.settle_once("h1", (AGENT,), 999, 9) is False
    assert ledger.settle_once("gone", (AGENT,), 100, 1) is True  # expired hold: still charged
    bal = ledger.balances(["agent|a|d1", "tenant|t|d1"], 11.0)
    assert bal["agent|a|d1"].spent_nano == 400 and bal["agent|a|d1"].reserved_nano == 200
    assert bal["tenant|t|d1"].spent_nano == 300 and bal["tenant|t|d1"].spent_tokens == 7
    assert ledger.settle_once("h2", (AGENT, TENANT), 0, 0) is True
    assert ledger.balances(["agent|a|d1"], 11.0)["agent|a|d1"].reserved_nano == 0


def test_sqlite_settle_once_survives_reopening(tmp_path: Path) -> None:
    first = SQLiteBudgetLedger(tmp_path / "budgets.db")
    assert first.settle_once("h1", (AGENT,), 100, 1) is True
    first.close()
    second = SQLiteBudgetLedger(tmp_path / "budgets.db")
    assert second.settle_once("h1", (AGENT,), 100, 1) is False
    assert second.balances(["agent|a|d1"], 1.0)["agent|a|d1"].spent_nano == 100
    second.close()
