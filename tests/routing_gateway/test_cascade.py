"""Cascade through the real gateway, the official SDKs and the emulator.

The gate here reads token log-probabilities, which the emulator returns
per request (OpenAI's shape). The test asks the emulator itself, directly,
what the weak model answers to each request and with which logprobs, decides
on its own which answers the gate must reject, and then checks that the
gateway escalated exactly those: the client got the strong answer, the weak
call is in the ledger as `escalated` with its own cost, and the accepted
ones are the weak answer, priced as such, with the saving against the strong
model recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest

from fleetcost.pricing.catalog import load_catalog
from tests.gateway.conftest import Stack, run_stack
from tests.routing_gateway.tiers import TWO_TIERS

THRESHOLD = -1.0
CONFIG = TWO_TIERS + f"""
[routing]
weak = "small"
strong = "big"
policies = ["cascade"]

[routing.cascade]
gates = ["format", "logprobs"]
min_mean_logprob = {THRESHOLD}
"""
PROMPTS = [f"Question {i}: how should order {i * 7} be shipped to the customer?"
           for i in range(14)]
M = Decimal(1_000_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("cascade"), config=CONFIG) as s:
        yield s


def direct(stack: Stack, model: str, prompt: str, logprobs: bool) -> dict:
    body: dict = {"model": model, "max_tokens": 30,
                  "messages": [{"role": "user", "content": prompt}]}
    if logprobs:
        body["logprobs"] = True
    return httpx.post(stack.emulator + "/v1/chat/completions", json=body).json()


def cost(model: str, usage: dict) -> Decimal:
    p = load_catalog().get(model)
    assert p is not None
    return (usage["prompt_tokens"] * p.input + usage["completion_tokens"] * p.output) / M


def expected(stack: Stack, prompt: str) -> tuple[bool, dict, dict]:
    weak = direct(stack, "gpt-4o-mini", prompt, True)
    values = [t["logprob"] for t in weak["choices"][0]["logprobs"]["content"]]
    escalate = sum(values) / len(values) < THRESHOLD
    return escalate, weak, direct(stack, "gpt-4o", prompt, False)


def check_ledger(stack: Stack, call_id: str, escalate: bool, weak: dict, strong: dict,
                 before: set[str]) -> None:
    row = stack.call(call_id)
    answered = strong if escalate else weak
    assert row["model"] == answered["model"]
    assert Decimal(row["cost_usd"]) == cost(answered["model"], answered["usage"])
    assert row["outcome"] == "success" and not row["escalated"]
    if escalate:
        assert "escalated" in row["route_reason"] and Decimal(row["saved_usd"]) == 0
        rows = stack.ledger(0)
        esc = [r for r in rows if r["call_id"] not in before and r["outcome"] == "escalated"
               and call_id in (r["route_reason"] or "")]
        assert len(esc) == 1, esc
        assert esc[0]["escalated"] and esc[0]["model"] == "gpt-4o-mini"
        assert Decimal(esc[0]["cost_usd"]) == cost("gpt-4o-mini", weak["usage"])
        assert Decimal(esc[0]["saved_usd"]) == -Decimal(esc[0]["cost_usd"])
    else:
        assert "accepted" in row["route_reason"]
        saved = cost("gpt-4o", weak["usage"]) - cost("gpt-4o-mini", weak["usage"])
        assert Decimal(row["saved_usd"]) == saved > 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_cascade_escalates_exactly_the_rejected(stack: Stack, stream: bool) -> None:
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk-test",
                       max_retries=0) as client:
        verdicts = [one(stack, client, prompt, stream) for prompt in PROMPTS]
    # The sample must exercise both verdicts, or it proves nothing.
    assert any(verdicts) and not all(verdicts)


def one(stack: Stack, client: openai.OpenAI, prompt: str, stream: bool) -> bool:
    escalate, weak, strong = expected(stack, prompt)
    before = {r["call_id"] for r in stack.ledger(0)}
    messages = [{"role": "user", "content": prompt}]
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="auto", messages=messages, max_tokens=30, stream=True,
        ) as resp:
            headers = resp.headers
            chunks = list(resp.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].choices[0].finish_reason is not None
    else:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, max_tokens=30)
        headers = raw.headers
        text = raw.parse().choices[0].message.content or ""
    answered = strong if escalate else weak
    assert text == answered["choices"][0]["message"]["content"]
    assert headers["x-fleetcost-model"] == answered["model"]
    assert headers["x-fleetcost-route"].startswith("cascade:")
    check_ledger(stack, headers["x-fleetcost-call-id"], escalate, weak, strong, before)
    return escalate
