"""Acceptance: the prefix-cache doctor on real tau-bench sessions through the real stack.

The same conversations are replayed through the gateway (emulator upstream,
both protocols) twice: as recorded, then with the wall clock injected at the
top of the system prompt. The stable replay must have the emulator read most
prompt tokens from its cache and the doctor say nothing about prefixes; the
busted replay must get every one of its sessions named with an ISO
timestamp as the cause, and a loss priced from the catalog that matches
what the bust really cost in the ledger.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.fleet.driver import replay
from fleetcost.fleet.plan import Scenario, Session, task_type
from fleetcost.fleet.trajectories import Conversation, find_data_dir, load_conversations
from fleetcost.pricing.catalog import load_catalog
from tests.gateway.conftest import Stack, run_stack

REPO = Path(__file__).resolve().parents[2]
CONVERSATIONS = 8
# One model per cache mechanism (automatic and breakpoints), both with the
# 1,024-token minimum; claude-haiku-4-5's 4,096 minimum leaves short prompts
# uncacheable by rule, which is not what this test is about.
MODELS = ("gpt-4o-mini", "claude-sonnet-4-6")
PREFIX_CAUSES = {"prefix_cache_busted", "prefix_cache_missed", "cache_writes_unpaid"}


def _sessions(conversations: list[Conversation], scenario: Scenario) -> list[Session]:
    return [
        Session(f"{scenario.name}/task{c.task_id}-trial{c.trial}", "prefix-agent",
                MODELS[i % len(MODELS)], task_type(c), c)
        for i, c in enumerate(conversations)
    ]


def _replay(stack: Stack, sessions: list[Session], scenario: Scenario) -> int:
    stats = asyncio.run(replay(stack.gateway, sessions, scenario, concurrency=4))
    assert stats.failed == 0, stats.errors
    return stats.sent


def doctor(db: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "doctor", "--json",
                           "--db", str(db)], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    import orjson

    return [f for f in orjson.loads(done.stdout)["findings"] if f["cause"] in PREFIX_CAUSES]


def _loss_from_ledger(db: Path, busted: list[dict]) -> Decimal:
    """The finding's formula recomputed from the raw tables and the catalog."""
    catalog = load_catalog()
    conn = sqlite3.connect(db)
    stable = dict(conn.execute("SELECT call_id, stable_cached_tokens FROM prefix_evidence"))
    conn.close()
    total = Decimal(0)
    for row in busted:
        price = catalog.get(row["model"])
        assert price is not None
        lost = max(0, min(stable.get(row["call_id"], 0), row["input_tokens"])
                   - row["cached_tokens"])
        rewritten = min(lost, row["cache_write_tokens"])
        read = price.cache_read if price.cache_read is not None else price.input
        write = price.cache_write_5m if price.cache_write_5m is not None else price.input
        total += (rewritten * (write - read) + (lost - rewritten) * (price.input - read)) / 10**6
    return total


@pytest.fixture(scope="module")
def conversations() -> list[Conversation]:
    return load_conversations(find_data_dir(None, os.environ, REPO))[:CONVERSATIONS]


def test_timestamp_bust_is_named_in_every_session_and_priced(
    tmp_path: Path, conversations: list[Conversation]
) -> None:
    off = (("X-Fleetcost-Cache", "off"),)
    stable = Scenario("stable", "as recorded", off)
    busted = Scenario("busted", "clock in the system prompt", off, rewrites=("timestamp",))
    with run_stack(tmp_path) as stack:
        sent = _replay(stack, _sessions(conversations, stable), stable)
        rows = stack.ledger(sent)
        assert len(rows) == sent
        inputs = sum(r["input_tokens"] for r in rows)
        cached = sum(r["cached_tokens"] for r in rows)
        print(f"stable: {sent} calls, cached {cached}/{inputs} = {cached / inputs:.3f}")
        assert cached / inputs >= 0.85
        assert all(r["prefix_hash"] and r["system_tokens"] for r in rows)
        assert doctor(stack.db) == [], "no prefix findings on a stable fleet"

        sessions = _sessions(conversations, busted)
        sent += _replay(stack, sessions, busted)
        rows = stack.ledger(sent)
        findings = doctor(stack.db)
    bust = [f for f in findings if f["cause"] == "prefix_cache_busted"]
    assert [f["evidence"]["looks_like"] for f in bust] == ["ISO timestamp"]
    named = set(bust[0]["evidence"]["sessions"])
    assert {s.session_id for s in sessions} <= named
    assert all(s.startswith("busted/") for s in named)
    assert bust[0]["evidence"]["region"] == "system"
    busted_rows = [r for r in rows if r["session_id"].startswith("busted/")]
    stable_rows = [r for r in rows if r["session_id"].startswith("stable/")]
    usd = Decimal(bust[0]["usd"])
    assert usd == _loss_from_ledger(stack.db, busted_rows)
    # The priced loss is what the bust really cost: the bill's difference.
    spent = sum(Decimal(r["cost_usd"]) for r in busted_rows)
    baseline = sum(Decimal(r["cost_usd"]) for r in stable_rows)
    print(f"busted: loss priced ${usd}, bill difference ${spent - baseline}, "
          f"share {bust[0]['share']}")
    assert Decimal("0.7") <= usd / (spent - baseline) <= Decimal("1.3")
    assert Decimal(bust[0]["share"]) > 0
    # Anthropic sessions rewrite their whole prompt to the cache on every call
    # and never read it back: caching costs money there, and only there.
    (unpaid,) = [f for f in findings if f["cause"] == "cache_writes_unpaid"]
    assert Decimal(unpaid["usd"]) > 0
    assert all(s.startswith("busted/") for s in unpaid["evidence"]["sessions"])
