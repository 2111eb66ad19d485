"""Budgets under concurrency: the real gateway, the emulator and the official SDKs.

200 concurrent calls from 20 agents (half OpenAI, half Anthropic; five of
them with long prompts so their own budget bites) against a $0.05 budget per
agent and a $0.20 budget for the tenant. Whatever the interleaving, the
ledger's recorded spend never exceeds a budget by one nano-dollar, every
refusal is a 429 `budget_exceeded` naming a budget the call matched with its
limit, window and reset time, and afterwards nothing is left reserved. The
same holds for streamed calls and for clients that hang up mid-stream.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.gateway.conftest import Stack, run_stack

AGENTS = 20
PER_AGENT = 10
HEAVY = 5
TENANT = "acme"
AGENT_LIMIT = Decimal("0.05")
TENANT_LIMIT = Decimal("0.20")
CONFIG = f"""
[[budgets]]
scope = "agent"
match = "*"
limit_usd = "{AGENT_LIMIT}"
window = "day"

[[budgets]]
scope = "tenant"
match = "{TENANT}"
limit_usd = "{TENANT_LIMIT}"
window = "day"
"""
FILLER = " ".join(f"Clause {i}: baggage rules differ by fare class and route." for i in range(160))
REFUSAL = re.compile(
    r"budget '(agent:\*:day|tenant:acme:day)' \((agent|tenant) '([^']+)'\) exceeded: limit "
    r"\$(0\.05|0\.20) per day window; .* resets \d{4}-\d\d-\d\dT00:00:00\+00:00$")


def _prompt(agent: int, i: int) -> str:
    ask = f"Agent {agent} request {i}: what is the allowance on flight {agent * 31 + i}?"
    return (FILLER + " " + ask) if agent < HEAVY else ask


async def _call(agent: int, i: int, mode: str, oai: openai.AsyncOpenAI,
                ant: anthropic.AsyncAnthropic) -> str | None:
    """Run one call; return the refusal message, or None when it went through."""
    headers = {"X-Fleetcost-Agent": f"agent-{agent:02d}", "X-Fleetcost-Tenant": TENANT}
    text = _prompt(agent, i)
    stream = mode not in ("json", "faults-json", "waves")
    try:
        if agent % 2 == 0:
            resp = await oai.chat.completions.create(
                model="gpt-4o", max_tokens=600, stream=stream, extra_headers=headers,
                messages=[{"role": "user", "content": text}])
            if stream:
                async for _ in resp:
                    if mode == "disconnect":
                        await resp.close()
                        break
        else:
            msg = await ant.messages.create(
                model="claude-sonnet-4-6", max_tokens=600, stream=stream, extra_headers=headers,
                messages=[{"role": "user", "content": text}])
            if stream:
                async for _ in msg:
                    if mode == "disconnect":
                        await msg.close()
                        break
    except (openai.RateLimitError, anthropic.RateLimitError) as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error", body)
        if mode.startswith("faults") and err.get("type") != "budget_exceeded":
            return None  # the emulator's own 429 after the gateway's retries
        assert exc.status_code == 429 and err["type"] == "budget_exceeded", body
        return str(err["message"])
    except (openai.APIError, anthropic.APIError):
        if not mode.startswith("faults"):
            raise
    return None


async def _drive(stack: Stack, mode: str) -> list[tuple[int, str | None]]:
    n = AGENTS * PER_AGENT
    limits = httpx2.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx2.AsyncClient(limits=limits, timeout=120) as http:
        oai = openai.AsyncOpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0,
                                 http_client=http)
        ant = anthropic.AsyncAnthropic(base_url=stack.gateway, api_key="k", max_retries=0,
                                       http_client=http)
        # The long-prompt agents' calls go first, all at once, so their own budget is
        # the tightest for some of them; the rest then run into the tenant's.
        jobs = ([(a, i) for a in range(HEAVY) for i in range(PER_AGENT)]
                + [(a, i) for i in range(PER_AGENT) for a in range(HEAVY, AGENTS)])
        if mode == "waves":  # each agent waits for its reply before its next call
            async def agent(a: int) -> list[str | None]:
                return [await _call(a, i, mode, oai, ant) for i in range(PER_AGENT)]

            per_agent = await asyncio.gather(*(agent(a) for a in range(AGENTS)))
            return [(a, per_agent[a][i]) for a, i in jobs]
        results = await asyncio.gather(*(_call(a, i, mode, oai, ant) for a, i in jobs))
    return [(a, r) for (a, _), r in zip(jobs, results, strict=True)]


def _nano(usd: Decimal) -> int:
    return int((usd * 1_000_000_000).to_integral_value(rounding=ROUND_CEILING))


def _check(stack: Stack, results: list[tuple[int, str | None]], mode: str) -> None:
    rows = stack.ledger(len(results))
    assert len(rows) == len(results)
    refused = [(a, m) for a, m in results if m is not None]
    assert 0 < len(refused) < len(results), "the run must both spend and refuse"
    assert sum(r["outcome"] == "budget_exceeded" for r in rows) == len(refused)
    named = set()
    for agent, message in refused:
        found = REFUSAL.search(message)
        assert found, message
        _name, scope, member, limit = found.groups()
        assert member == (f"agent-{agent:02d}" if scope == "agent" else TENANT), message
        assert Decimal(limit) == (AGENT_LIMIT if scope == "agent" else TENANT_LIMIT)
        named.add(scope)
    # In waves the tenant runs out before any agent does; at once, both bite.
    assert named == ({"tenant"} if mode == "waves" else {"agent", "tenant"}), named
    by_agent: dict[str, Decimal] = defaultdict(Decimal)
    nano_by_agent: dict[str, int] = defaultdict(int)
    for r in rows:
        cost = Decimal(r["cost_usd"])
        assert r["outcome"] in ("success", "budget_exceeded", "cancelled", "error"), r
        assert r["outcome"] != "error" or mode.startswith("faults"), r
        assert r["outcome"] != "budget_exceeded" or cost == 0
        by_agent[r["agent_id"]] += cost
        nano_by_agent[r["agent_id"]] += _nano(cost)
    assert max(by_agent.values()) <= AGENT_LIMIT
    assert sum(by_agent.values()) <= TENANT_LIMIT
    if mode == "disconnect":
        assert any(r["outcome"] == "cancelled" for r in rows)
    budgets = httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()
    buckets = {(b["name"], k["member"]): k for b in budgets for k in b["buckets"]}
    assert all(Decimal(k["reserved_usd"]) == 0 for k in buckets.values()), buckets
    for agent, nano in nano_by_agent.items():
        bucket = buckets.get(("agent:*:day", agent), {"spent_usd": "0"})  # never held
        assert _nano(Decimal(bucket["spent_usd"])) == nano
    tenant_spent = Decimal(buckets[("tenant:acme:day", TENANT)]["spent_usd"])
    assert _nano(tenant_spent) == sum(nano_by_agent.values()) <= _nano(TENANT_LIMIT)
    if mode == "waves":  # exact holds, not a leaky margin: the budget is nearly used up
        assert tenant_spent > TENANT_LIMIT * Decimal("0.9")


FAULTS = ("--faults", "429:0.1,500:0.05,cut-stream:0.05")


@pytest.mark.parametrize("mode", ["json", "stream", "disconnect", "faults-json", "faults-stream",
                                  "waves"])
def test_concurrent_calls_never_overspend(tmp_path: Path, mode: str) -> None:
    """`faults-*`: upstream 429/500s (retried under one hold) and cut streams; `waves`:
    20 agents at once, each sending its 10 calls one after the other, so the
    budgets fill up to their limits rather than being taken by the first holds."""
    emulator = (("--latency", "realistic") if mode == "disconnect"
                else FAULTS if mode.startswith("faults") else ())
    with run_stack(tmp_path, emulator_args=emulator, config=CONFIG) as stack:
        results = asyncio.run(_drive(stack, mode))
        _check(stack, results, mode)
