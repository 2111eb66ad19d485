"""A cascade for Anthropic clients, gated by a verifier model, JSON and SSE.

Anthropic returns no logprobs, so this cascade asks a verifier (an emulated
OpenAI model answering `{"verdict": ...}` under a JSON schema). The test asks
the emulator directly for the weak answer and for the verifier's verdict on
it, then checks the gateway escalated exactly the rejected ones and that the
Anthropic SDK received one well-formed message or event stream either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import anthropic
import httpx
import pytest

from fleetcost.pipeline.cascade import VERDICT_SCHEMA, VERIFIER_INSTRUCTION
from fleetcost.providers import registry
from tests.gateway.conftest import Stack, run_stack

CONFIG = """
[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"

[models.big]
provider = "anthropic"
model = "claude-sonnet-4-6"

[models.judge]
provider = "openai"
model = "gpt-4.1-nano"

[routing]
weak = "small"
strong = "big"
policies = ["cascade"]

[routing.cascade]
gates = ["format", "verifier"]
verifier_model = "judge"
"""
PROMPTS = [f"Customer {i} asks whether seat {i}C can be changed to a window seat."
           for i in range(10)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("cascade-anthropic"), config=CONFIG) as s:
        yield s


def direct_message(stack: Stack, model: str, prompt: str) -> dict:
    return httpx.post(stack.emulator + "/v1/messages", headers={"anthropic-version": "2023-06-01"},
                      json={"model": model, "max_tokens": 30,
                            "messages": [{"role": "user", "content": prompt}]}).json()


def verdict(stack: Stack, prompt: str, answer: str) -> bool:
    question = f"{VERIFIER_INSTRUCTION}\n\nQuestion:\n{prompt}\n\nAnswer:\n{answer}"
    body = registry.get("openai").prompt_body("gpt-4.1-nano", question, 64, VERDICT_SCHEMA)
    out = httpx.post(stack.emulator + "/v1/chat/completions", content=body,
                     headers={"content-type": "application/json"}).json()
    return '"accept"' in out["choices"][0]["message"]["content"]


def one(stack: Stack, client: anthropic.Anthropic, prompt: str, stream: bool) -> bool:
    weak = direct_message(stack, "claude-haiku-4-5", prompt)
    weak_text = weak["content"][0]["text"]
    escalate = not verdict(stack, prompt, weak_text)
    answered = direct_message(stack, "claude-sonnet-4-6", prompt) if escalate else weak
    messages = [{"role": "user", "content": prompt}]
    if stream:
        with client.messages.with_streaming_response.create(
                model="auto", max_tokens=30, messages=messages, stream=True) as resp:
            headers = resp.headers
            events = list(resp.parse())
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        text = "".join(e.delta.text for e in events
                       if e.type == "content_block_delta" and e.delta.type == "text_delta")
    else:
        raw = client.messages.with_raw_response.create(model="auto", max_tokens=30,
                                                       messages=messages)
        headers = raw.headers
        text = raw.parse().content[0].text
    assert text == answered["content"][0]["text"]
    call_id = headers["x-fleetcost-call-id"]
    row = stack.call(call_id)
    assert row["model"] == answered["model"] and row["outcome"] == "success"
    rows = stack.ledger(0)

    def judged_for(cid: str) -> list[dict]:
        return [r for r in rows if r["route_reason"] == f"cascade verifier for {cid}"]

    if escalate:
        esc = [r for r in rows if r["outcome"] == "escalated"
               and (r["route_reason"] or "").endswith(f"as {call_id}")]
        assert len(esc) == 1 and esc[0]["escalated"] and esc[0]["model"] == "claude-haiku-4-5"
        assert esc[0]["output_tokens"] == weak["usage"]["output_tokens"]
        assert Decimal(esc[0]["cost_usd"]) > 0
        # The verifier judged the weak call: its row names that call.
        assert len(judged_for(esc[0]["call_id"])) == 1
    else:
        assert "verifier accepts" in row["route_reason"] and len(judged_for(call_id)) == 1
    return escalate


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_verifier_cascade_for_anthropic_clients(stack: Stack, stream: bool) -> None:
    with anthropic.Anthropic(base_url=stack.gateway, api_key="sk-ant", max_retries=0) as client:
        verdicts = [one(stack, client, prompt, stream) for prompt in PROMPTS]
    assert any(verdicts) and not all(verdicts)
