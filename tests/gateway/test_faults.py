"""Upstream failures, client disconnects and retries: no call ever goes missing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson

from tests.gateway.conftest import run_stack

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a long story"}],
        "max_tokens": 2000}


def test_client_disconnect_mid_stream_is_recorded_cancelled(tmp_path: Path) -> None:
    with run_stack(tmp_path, ("--latency", "realistic")) as stack:
        body = orjson.dumps({**CHAT, "stream": True})
        with httpx.Client(base_url=stack.gateway, timeout=30) as client, client.stream(
            "POST", "/v1/chat/completions", content=body,
            headers={"content-type": "application/json", "X-Fleetcost-Agent": "quitter"},
        ) as resp:
            call_id = resp.headers["x-fleetcost-call-id"]
            received = 0
            for chunk in resp.iter_bytes():
                received += len(chunk)
                if received > 600:
                    break  # leave mid-stream: closing the response drops the connection
        row = stack.call(call_id)
    assert row["outcome"] == "cancelled"
    assert row["agent_id"] == "quitter"
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["cost_usd"] is not None


async def _burst(base: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        async def one(i: int) -> httpx.Response:
            body = {**CHAT, "messages": [{"role": "user", "content": f"question {i}"}],
                    "max_tokens": 50, "stream": i % 2 == 0}
            return await client.post("/v1/chat/completions", content=orjson.dumps(body))
        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_faults_are_retried_and_every_call_is_recorded(tmp_path: Path) -> None:
    config = """
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:1"
max_retries = 3
retry_backoff_s = 0.01
"""
    faults = ("--faults", "500:0.15,429:0.1,cut-stream:0.1")
    with run_stack(tmp_path, faults, config=config) as stack:
        start = time.monotonic()
        responses = asyncio.run(_burst(stack.gateway, 120))
        rows = stack.ledger(120)
        stats = stack.emulator_stats()
    assert time.monotonic() - start < 60
    assert len(rows) == 120, "every call lands in the ledger, failed or not"
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) > 100, "retries absorb most injected 429/500s"
    assert sum(stats["faults"].values()) > 10
    assert {r["outcome"] for r in rows} <= {"success", "error"}
    errors = [r for r in rows if r["outcome"] == "error"]
    assert all(r["error"] for r in errors)
