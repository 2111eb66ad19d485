"""LLM-as-router through the gateway: a small emulated model names the tier.

The emulator honours `response_format: json_schema`, so the router model's
answer is a schema-valid `{"tier": ...}` drawn from the request; the test asks
the emulator the same question directly and checks the gateway followed it,
and that the router call has its own ledger row.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from fleetcost.providers import registry
from fleetcost.routing.llm_router import SCHEMA, router_prompt
from tests.gateway.conftest import Stack, run_stack
from tests.routing_gateway.tiers import TWO_TIERS

CONFIG = TWO_TIERS + """
[models.nano]
provider = "openai"
model = "gpt-4.1-nano"

[routing]
weak = "small"
strong = "big"
policies = ["llm"]

[routing.llm]
model = "nano"
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("llm"), config=CONFIG) as s:
        yield s


def test_llm_router_tier_is_followed(stack: Stack) -> None:
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk-test",
                       max_retries=0) as client:
        tiers = [one(stack, client, i) for i in range(10)]
    assert set(tiers) == {"weak", "strong"}


def one(stack: Stack, client: openai.OpenAI, i: int) -> str:
    text = f"Please summarise ticket {i} for the on-call engineer."
    body = registry.get("openai").prompt_body("gpt-4.1-nano", router_prompt(text, 2000),
                                             64, SCHEMA)
    direct = httpx.post(stack.emulator + "/v1/chat/completions", content=body,
                        headers={"content-type": "application/json"}).json()
    tier = httpx.Response(200, content=direct["choices"][0]["message"]["content"]).json()[
        "tier"]
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], max_tokens=10)
    assert raw.headers["x-fleetcost-route"] == f"llm:nano chose {tier}"
    assert raw.headers["x-fleetcost-model"] == ("gpt-4o-mini" if tier == "weak" else "gpt-4o")
    call_id = raw.headers["x-fleetcost-call-id"]
    stack.call(call_id)
    helper = [r for r in stack.ledger(0) if r["route_reason"] == f"llm-router for {call_id}"]
    assert len(helper) == 1 and helper[0]["model"] == "gpt-4.1-nano"
    assert helper[0]["saved_usd"].startswith("-")
    return str(tier)


FALLBACK_CONFIG = TWO_TIERS + """
[models.chatty]
provider = "anthropic"
model = "claude-haiku-4-5"

[routing]
weak = "small"
strong = "big"
policies = ["llm"]

[routing.llm]
model = "chatty"
fallback_tier = "weak"
"""


@pytest.mark.parametrize("latency, timeout, why", [
    ("zero", 5.0, "out of schema"),  # no JSON mode in its protocol: it answers prose
    ("realistic", 0.05, "timed out"),  # first token after ~0.3 s
])
def test_llm_router_falls_back(tmp_path_factory: pytest.TempPathFactory, latency: str,
                               timeout: float, why: str) -> None:
    config = FALLBACK_CONFIG + f"timeout_s = {timeout}\n"
    with run_stack(tmp_path_factory.mktemp("llm-fallback"), ("--latency", latency),
                   config=config) as stack, \
            openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk", max_retries=0) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Summarise my trip"}],
            max_tokens=5)
        assert raw.headers["x-fleetcost-route"] == f"llm:chatty {why}: fallback"
        assert raw.headers["x-fleetcost-model"] == "gpt-4o-mini"
        call_id = raw.headers["x-fleetcost-call-id"]
        stack.call(call_id)
        helper = [r for r in stack.ledger(0) if r["route_reason"] == f"llm-router for {call_id}"]
        assert len(helper) == 1
        assert helper[0]["outcome"] == ("success" if why == "out of schema" else "cancelled")
