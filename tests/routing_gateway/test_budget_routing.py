"""Routing under a budget: a routed name is held at the strong tier, then re-held at the
routed model's price; an escalated cascade charges the budget both its calls."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import openai
import pytest

from tests.gateway.conftest import Stack, run_stack
from tests.routing_gateway.tiers import TWO_TIERS

CONFIG = TWO_TIERS + """
[routing]
weak = "small"
strong = "big"
policies = ["cascade"]

[routing.cascade]
gates = ["logprobs"]
min_mean_logprob = -1.0

[[budgets]]
scope = "tenant"
match = "acme"
limit_usd = "5"
window = "day"
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("budget-routing"), config=CONFIG) as s:
        yield s


def test_budget_charges_both_calls_of_an_escalation(stack: Stack) -> None:
    rooms = []
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk", max_retries=0,
                       default_headers={"X-Fleetcost-Tenant": "acme"}) as client:
        for i in range(12):
            raw = client.chat.completions.with_raw_response.create(
                model="auto", max_tokens=30,
                messages=[{"role": "user", "content": f"Question {i}: where is order {i}?"}])
            rooms.append(Decimal(raw.headers["x-fleetcost-budget-remaining-usd"]))
            stack.call(raw.headers["x-fleetcost-call-id"])
    rows = [r for r in stack.ledger(0) if r["tenant"] == "acme"]
    assert any(r["outcome"] == "escalated" for r in rows), "the sample must escalate some"
    spent = sum(Decimal(r["cost_usd"]) for r in rows)
    # The last call's header shows the room after every earlier call and its own.
    assert rooms[-1] == Decimal(5) - spent
