"""Batch budget charges across crashes: real gateway and emulator processes, official SDK.

The ledger and the budgets are two SQLite files, so a job's ledger commit and
its budget charges cannot be one transaction. The gateway is SIGKILLed at the
two dangerous moments, reached deterministically through the test-only crash
points (`FLEETCOST_TEST_CRASH_AT`, see fleetcost.batch.faults): right after
the ledger commit (the charge not yet made) and right after the budget store
charged (the batch store not yet told). After restarts, per budget bucket,
the spend must equal the ledger costs of the calls held on it (each rounded
up to the nano-dollar, as the live path charges), every call settled exactly
once, no hold left, no budget over its limit. Retried dead letters are held
again, settle once, and are refused with the reason when there is no room.
"""

from __future__ import annotations

import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from fleetcost.batch.faults import BUDGET_CHARGED, ENV, LEDGER_COMMITTED
from tests.batch.test_batch_api import BUDGET_CONFIG, _until
from tests.gateway.conftest import run_stack
from tests.procs import fleetcost_process, free_port, stop_process, wait_healthy

CONFIG = """
[batch]
max_items = 40
flush_s = 2.0
poll_s = 0.2

[[budgets]]
name = "per-agent"
scope = "agent"
limit_usd = "1"
window = "day"

[[budgets]]
name = "fleet"
scope = "tenant"
limit_usd = "2"
window = "month"
"""
TERMINAL = "('succeeded', 'errored', 'expired', 'canceled')"
AGENTS = ("grader", "summariser", "tagger")
LINES = 40  # per agent: 120 items, three provider jobs at least


def _nano(cost: str | None) -> int:
    usd = Decimal(cost or 0)
    return int((usd * 10**9).to_integral_value(rounding=ROUND_CEILING))


class Gateway:
    def __init__(self, tmp: Path, emulator: str) -> None:
        self.port, self.tmp, self.emulator = free_port(), tmp, emulator
        self.url = f"http://127.0.0.1:{self.port}"
        self.db, self.budgets = tmp / "ledger.db", tmp / "ledger-budgets.db"
        (tmp / "fleetcost.toml").write_text(CONFIG)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None, wait: bool = True) -> None:
        env = {**os.environ, "FLEETCOST_DB": str(self.db)}
        env.pop(ENV, None)
        if crash_at is not None:
            env[ENV] = crash_at
        args = [sys.executable, "-m", "fleetcost.cli.main", "serve", "--port", str(self.port),
                "--config", str(self.tmp / "fleetcost.toml"), "--upstream",
                f"openai={self.emulator}", "--upstream", f"anthropic={self.emulator}"]
        with (self.tmp / "gateway.log").open("ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        if wait:  # (a gateway that crashes on its first tick may never answer)
            wait_healthy(self.url + "/healthz", proc=self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def crashed(self) -> int:
        """Wait for the gateway to kill itself at its crash point."""
        assert self.proc is not None
        return self.proc.wait(timeout=90)

    def stop(self) -> None:
        stop_process(self.proc)

    def ledger(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql).fetchall()

    def budget(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.budgets) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    eport = free_port()
    emu_args = ["emulate", "--port", str(eport), "--seed", "7", "--batch-delay", "0.3",
                "--faults", "expire:0.05"]
    with fleetcost_process(emu_args, eport) as emu:
        gw = Gateway(tmp_path, emu)
        try:
            yield gw
        finally:
            gw.stop()


def _submit(gw: Gateway, agent: str) -> None:
    lines = b"\n".join(orjson.dumps({
        "custom_id": f"{agent}-{i}", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "max_tokens": 150,
                 "messages": [{"role": "user", "content": f"{agent}: rate answer {i}."}]},
    }) for i in range(LINES))
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-test", max_retries=0,
                       default_headers={"X-Fleetcost-Agent": agent}) as client:
        f = client.files.create(file=("in.jsonl", io.BytesIO(lines)), purpose="batch")
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                              completion_window="24h")


def _owed(gw: Gateway) -> list[tuple]:
    return gw.ledger("SELECT item_id FROM batch_items WHERE hold IS NOT NULL "
                     f"AND budget_settled = 0 AND state IN {TERMINAL}")


def test_budget_charges_survive_kills_at_the_dangerous_moments(gateway: Gateway) -> None:
    gw = gateway
    gw.start(crash_at=LEDGER_COMMITTED)
    for agent in AGENTS:
        _submit(gw, agent)
    assert gw.crashed() == -9
    # The window: ledger rows committed, not one charge made.
    owed = _owed(gw)
    assert owed and gw.ledger("SELECT COUNT(*) FROM calls")[0][0] == len(owed)
    assert gw.budget("SELECT COUNT(*) FROM budget_settled")[0][0] == 0
    assert gw.budget("SELECT COALESCE(SUM(spent_nano), 0) FROM budget_spend")[0][0] == 0

    gw.start(crash_at=BUDGET_CHARGED, wait=False)  # the replay charges, then dies before noting it
    assert gw.crashed() == -9
    assert len(_owed(gw)) == len(owed)
    settled = {r[0] for r in gw.budget("SELECT hold_id FROM budget_settled")}
    assert settled == {r[0] for r in owed}

    gw.start()  # a second replay of the same charges must be a no-op
    total = LINES * len(AGENTS)
    _until(lambda: gw.ledger(f"SELECT COUNT(*) FROM batch_items WHERE state IN {TERMINAL}"
                             )[0][0], lambda n: n == total, timeout=90)
    dead = httpx.get(gw.url + "/fleetcost/v1/batch-dead-letters").json()
    assert dead, "the emulator's 5% expiries should have produced dead letters"
    for d in dead:
        r = httpx.post(gw.url + f"/fleetcost/v1/batch-dead-letters/{d['id']}/retry")
        assert r.status_code == 200, r.text
    total += len(dead)
    _until(lambda: gw.ledger(f"SELECT COUNT(*) FROM batch_items WHERE state IN {TERMINAL}"
                             )[0][0], lambda n: n == total, timeout=90)
    _until(lambda: _owed(gw), lambda rows: not rows)
    retried = gw.ledger("SELECT hold FROM batch_items WHERE retry_of IS NOT NULL")
    assert len(retried) == len(dead) and all(h is not None for (h,) in retried)
    _check_budgets(gw, total)


def test_budget_invariants_hold_after_kills_at_random_moments(gateway: Gateway) -> None:
    """Six SIGKILLs at seeded random moments while the jobs run and settle."""
    gw, rng = gateway, random.Random(15)
    gw.start()
    for agent in AGENTS:
        _submit(gw, agent)
    for _ in range(6):
        time.sleep(rng.uniform(0.3, 2.5))
        gw.kill()
        gw.start()
    total = LINES * len(AGENTS)
    _until(lambda: gw.ledger(f"SELECT COUNT(*) FROM batch_items WHERE state IN {TERMINAL}"
                             )[0][0], lambda n: n == total, timeout=90)
    _until(lambda: _owed(gw), lambda rows: not rows)
    _check_budgets(gw, total)


def _check_budgets(gw: Gateway, total: int) -> None:
    items = gw.ledger("SELECT i.item_id, i.hold, c.cost_usd FROM batch_items i "
                      "JOIN calls c ON c.call_id = i.item_id")
    assert len(items) == total  # every item in the ledger exactly once
    expected: dict[str, int] = defaultdict(int)
    limits: dict[str, int] = {}
    for item_id, hold, cost in items:
        assert hold is not None, f"{item_id} was never held on its budgets"
        data = orjson.loads(hold)
        assert data["hold_id"] == item_id
        for charge in data["charges"]:
            expected[charge["key"]] += _nano(cost)
            limits[charge["key"]] = charge["limit_nano"]
    assert len(expected) == len(AGENTS) + 1  # one bucket per agent, one for the tenant
    spent = dict(gw.budget("SELECT key, spent_nano FROM budget_spend"))
    assert spent == dict(expected)  # no charge lost, none made twice
    assert all(spent[k] <= limits[k] for k in spent)
    per_call = dict(gw.budget("SELECT hold_id, nano FROM budget_settled"))
    assert per_call == {i: _nano(c) for i, _, c in items}
    assert gw.budget("SELECT COUNT(*) FROM budget_holds")[0][0] == 0


def test_retried_dead_letter_is_reserved_again_or_refused(tmp_path: Path) -> None:
    """Every item expires; its retry needs room in the budget as it is now."""
    headers = {"X-Fleetcost-Latency": "batch", "X-Fleetcost-Agent": "nightly"}
    body = {"model": "gpt-4o-mini", "max_tokens": 200,
            "messages": [{"role": "user", "content": "Grade this answer."}]}
    with run_stack(tmp_path, ("--batch-delay", "0.2", "--faults", "expire:1.0"),
                   config=BUDGET_CONFIG) as s, httpx.Client(base_url=s.gateway) as http:
        item = http.post("/v1/chat/completions", headers=headers, json=body).json()["id"]
        _until(lambda: http.get(f"/fleetcost/v1/batch-results/{item}").json()["status"],
               lambda st: st == "expired")
        path = f"/fleetcost/v1/batch-dead-letters/{item}/retry"
        assert http.patch("/fleetcost/v1/budgets/nightly",
                          json={"limit_usd": "0.00001"}).status_code == 200
        refused = http.post(path)
        assert refused.status_code == 429
        assert "nightly" in refused.json()["error"]["message"]
        assert http.get("/fleetcost/v1/batch-dead-letters").json()[0]["retried_as"] is None
        assert http.patch("/fleetcost/v1/budgets/nightly",
                          json={"limit_usd": "0.002"}).status_code == 200
        again = http.post(path)
        assert again.status_code == 200
        new_id = again.json()["retried_as"]
        assert http.post(path).status_code == 404  # one retry per dead letter
        _until(lambda: http.get(f"/fleetcost/v1/batch-results/{new_id}").json()["status"],
               lambda st: st == "expired")
        bucket = _until(lambda: http.get("/fleetcost/v1/budgets").json()[0]["buckets"][0],
                        lambda b: Decimal(b["reserved_usd"]) == 0)
        assert Decimal(bucket["spent_usd"]) == 0  # expired: not billed, hold released
    with sqlite3.connect(s.db) as conn:
        hold = conn.execute("SELECT hold, budget_settled FROM batch_items WHERE item_id = ?",
                            (new_id,)).fetchone()
    assert hold[0] is not None and orjson.loads(hold[0])["hold_id"] == new_id and hold[1] == 1
    with sqlite3.connect(tmp_path / "ledger-budgets.db") as conn:
        rows = conn.execute("SELECT hold_id FROM budget_settled").fetchall()
    assert sorted(r[0] for r in rows) == sorted([item, new_id])
