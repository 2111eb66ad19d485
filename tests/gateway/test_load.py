"""1,000 concurrent calls, streamed and not, through one gateway process.

The ledger must hold exactly one row per call, every one priced, and its token
totals must equal what the emulator itself says it served.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx2
import openai

from tests.gateway.conftest import Stack, run_stack

N = 1000


async def _one(i: int, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic) -> None:
    text = f"Request {i}: what is the baggage allowance on flight {i % 37}?"
    headers = {"X-Fleetcost-Agent": f"agent-{i % 5}"}
    kind = i % 4
    if kind == 0:
        await oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}],
            extra_headers=headers)
    elif kind == 1:
        stream = await oai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": text}], stream=True,
            stream_options={"include_usage": i % 8 == 1}, extra_headers=headers)
        async for _ in stream:
            pass
    elif kind == 2:
        await ant.messages.create(model="claude-haiku-4-5", max_tokens=256,
                                  messages=[{"role": "user", "content": text}],
                                  extra_headers=headers)
    else:
        async with ant.messages.stream(model="claude-sonnet-4-6", max_tokens=256,
                                       messages=[{"role": "user", "content": text}],
                                       extra_headers=headers) as stream:
            await stream.get_final_message()


async def _drive(stack: Stack) -> None:
    limits = httpx2.Limits(max_connections=N, max_keepalive_connections=N)
    async with httpx2.AsyncClient(limits=limits, timeout=120) as http:
        oai = openai.AsyncOpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0,
                                 http_client=http)
        ant = anthropic.AsyncAnthropic(base_url=stack.gateway, api_key="k", max_retries=0,
                                       http_client=http)
        await asyncio.gather(*(_one(i, oai, ant) for i in range(N)))


def test_thousand_concurrent_calls(tmp_path: Path) -> None:
    with run_stack(tmp_path) as stack:
        asyncio.run(_drive(stack))
        rows = stack.ledger(N)
        served = stack.emulator_stats()
    assert len(rows) == N
    assert len({r["call_id"] for r in rows}) == N
    assert all(r["outcome"] == "success" for r in rows)
    assert all(r["cost_usd"] is not None and Decimal(r["cost_usd"]) > 0 for r in rows)
    totals = served["totals"]
    assert served["requests"] == N
    for field in ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens"):
        assert sum(r[field] for r in rows) == totals[field], field
