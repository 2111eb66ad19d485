"""Batch offload end to end: real gateway and emulator processes, official SDKs.

1,000 calls marked `X-Fleetcost-Latency: batch` (half OpenAI, half
Anthropic) go through the gateway; the gateway is killed with SIGKILL while
batches are in flight and restarted on the same ledger. Then every accepted
id must have its result, every item must be in the ledger exactly once with
`batch = 1`, its attribution, and a cost recomputed here from the usage the
provider returned and the catalog's rates times (1 - batch discount).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from fleetcost.pricing.catalog import Catalog, load_catalog
from tests.procs import fleetcost_process, free_port, stop_process, wait_healthy

M = Decimal(1_000_000)
CONFIG = """
[batch]
max_items = 60
flush_s = 0.3
poll_s = 0.2
"""
OPENAI_MODEL, ANTHROPIC_MODEL = "gpt-4o-mini", "claude-haiku-4-5"


class Gateway:
    def __init__(self, tmp: Path, emulator: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = tmp / "ledger.db"
        self.cfg = tmp / "fleetcost.toml"
        self.cfg.write_text(CONFIG)
        self.emulator = emulator
        self.log = tmp / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "fleetcost.cli.main", "serve", "--port", str(self.port),
                "--config", str(self.cfg), "--upstream", f"openai={self.emulator}",
                "--upstream", f"anthropic={self.emulator}"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, env={**os.environ, "FLEETCOST_DB": str(self.db)},
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_healthy(self.url + "/healthz", proc=self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc)

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    eport = free_port()
    emu_args = ["emulate", "--port", str(eport), "--seed", "5", "--batch-delay", "0.4",
                "--faults", "expire:0.02,500:0.02"]
    with fleetcost_process(emu_args, eport) as emu:
        gw = Gateway(tmp_path, emu)
        gw.start()
        try:
            yield gw
        finally:
            gw.stop()


def _send(clients: tuple[openai.OpenAI, anthropic.Anthropic], i: int
          ) -> tuple[str, dict[str, str]]:
    headers = {"X-Fleetcost-Latency": "batch", "X-Fleetcost-Tenant": f"t{i % 3}",
               "X-Fleetcost-Agent": f"agent-{i % 7}", "X-Fleetcost-Session": f"s{i % 50}",
               "X-Fleetcost-Task": f"task-{i % 4}"}
    text = f"Summarise support ticket number {i} in two lines."
    if i % 2 == 0:
        raw = clients[0].chat.completions.with_raw_response.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": text}],
            extra_headers=headers)
    else:
        raw = clients[1].messages.with_raw_response.create(
            model=ANTHROPIC_MODEL, max_tokens=300, messages=[{"role": "user", "content": text}],
            extra_headers=headers)
    assert raw.http_response.status_code == 202, raw.http_response.text
    body = raw.http_response.json()
    assert body["status"] == "queued"
    assert body["result_url"] == f"/fleetcost/v1/batch-results/{body['id']}"
    assert raw.http_response.headers["x-fleetcost-call-id"] == body["id"]
    return body["id"], headers


def _send_all(gw: Gateway, numbers: range) -> dict[str, dict[str, str]]:
    clients = (openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-test", max_retries=0),
               anthropic.Anthropic(base_url=gw.url, api_key="sk-test", max_retries=0))
    try:
        with ThreadPoolExecutor(4) as pool:
            return dict(pool.map(lambda i: _send(clients, i), numbers))
    finally:
        clients[0].close()
        clients[1].close()


def _wait(predicate, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _expected_cost(catalog: Catalog, wire_model: str, usage: dict) -> Decimal:
    p = catalog.get(wire_model)
    assert p is not None and p.cache_read is not None and p.batch_discount == Decimal("0.5")
    if "prompt_tokens" in usage:
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        full = ((usage["prompt_tokens"] - cached) * p.input + cached * p.cache_read
                + usage["completion_tokens"] * p.output) / M
    else:
        assert p.cache_write_5m is not None
        full = (usage["input_tokens"] * p.input
                + (usage.get("cache_read_input_tokens") or 0) * p.cache_read
                + (usage.get("cache_creation_input_tokens") or 0) * p.cache_write_5m
                + usage["output_tokens"] * p.output) / M
    return full * (1 - p.batch_discount)


def test_thousand_batch_calls_survive_a_kill(gateway: Gateway) -> None:
    gw = gateway
    sent = _send_all(gw, range(600))
    # Kill once some results are in the ledger while other batches are in flight.
    _wait(lambda: gw.query("SELECT COUNT(*) FROM calls WHERE batch = 1")[0][0] > 0
          and gw.query("SELECT COUNT(*) FROM batch_jobs WHERE state != 'ended'")[0][0] > 0)
    before = gw.query("SELECT COUNT(*) FROM calls")[0][0]
    gw.kill()
    assert 0 < before < 600
    gw.start()
    sent |= _send_all(gw, range(600, 1000))
    assert len(sent) == 1000
    terminal = "('succeeded', 'errored', 'expired', 'canceled')"
    _wait(lambda: gw.query(f"SELECT COUNT(*) FROM batch_items WHERE state IN {terminal}")[0][0]
          == 1000)
    dead = httpx.get(gw.url + "/fleetcost/v1/batch-dead-letters").json()
    assert dead, "the injected expire/500 faults should have produced dead letters"
    assert {d["kind"] for d in dead} <= {"errored", "expired"}
    assert all(d["reason"] for d in dead)
    for d in dead:
        r = httpx.post(gw.url + f"/fleetcost/v1/batch-dead-letters/{d['id']}/retry")
        assert r.status_code == 200 and r.json()["retried_as"]
    total = 1000 + len(dead)
    _wait(lambda: gw.query(f"SELECT COUNT(*) FROM batch_items WHERE state IN {terminal}")[0][0]
          == total)
    _check_ledger(gw, sent, total)


def _check_ledger(gw: Gateway, sent: dict[str, dict[str, str]], total: int) -> None:
    rows = gw.query("SELECT call_id, batch, cost_usd, saved_usd, tenant, agent_id, session_id, "
                    "task_type, outcome, model FROM calls")
    assert len(rows) == total  # every item exactly once, nothing else
    ledger = {r[0]: r for r in rows}
    succeeded = 0
    catalog = load_catalog()
    with httpx.Client(base_url=gw.url) as http:
        views = {i: http.get(f"/fleetcost/v1/batch-results/{i}").json() for i in sent}
    for item_id, headers in sent.items():
        view = views[item_id]
        row = ledger[view.get("answered_by") or item_id]
        assert row[1] == 1
        assert row[4:8] == (headers["X-Fleetcost-Tenant"], headers["X-Fleetcost-Agent"],
                            headers["X-Fleetcost-Session"], headers["X-Fleetcost-Task"])
        if view["status"] != "succeeded":
            assert row[8] == "error" and Decimal(row[2]) == 0
            continue
        succeeded += 1
        response = view["response"]
        assert response["usage"]
        expected = _expected_cost(catalog, row[9], response["usage"])
        assert Decimal(row[2]) == expected == Decimal(view["cost_usd"])
        assert Decimal(row[3]) == expected  # saved: the live price minus the batch price
    assert succeeded >= 990
