"""The official SDKs, pointed at the real gateway, against the real emulator.

Every ledger cost is checked against a cost computed here, independently of
`fleetcost.pricing.cost`, from the usage the SDK received and the catalog's
rates, to the nano-dollar (in fact exactly).
"""

from __future__ import annotations

from decimal import Decimal

import anthropic
import openai
import pytest

from fleetcost.pricing.catalog import load_catalog
from tests.gateway.conftest import Stack

M = Decimal(1_000_000)
LONG_SYSTEM = "You are the airline support agent. " + " ".join(
    f"Policy {i}: a passenger may change flight {i} only with a valid reservation code."
    for i in range(120)
)
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_reservation",
        "description": "Look up a reservation by its code",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}},
                       "required": ["code"]},
    },
}]


def openai_cost(model: str, prompt: int, cached: int, completion: int) -> Decimal:
    p = load_catalog().get(model)
    assert p is not None and p.cache_read is not None
    return ((prompt - cached) * p.input + cached * p.cache_read + completion * p.output) / M


def anthropic_cost(model: str, u: anthropic.types.Usage) -> Decimal:
    p = load_catalog().get(model)
    assert p is not None and p.cache_read and p.cache_write_5m and p.cache_write_1h
    w5 = w1 = 0
    if u.cache_creation is not None:
        w5 = u.cache_creation.ephemeral_5m_input_tokens
        w1 = u.cache_creation.ephemeral_1h_input_tokens
    else:
        w5 = u.cache_creation_input_tokens or 0
    read = u.cache_read_input_tokens or 0
    return (u.input_tokens * p.input + read * p.cache_read + w5 * p.cache_write_5m
            + w1 * p.cache_write_1h + u.output_tokens * p.output) / M


@pytest.fixture
def oai(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def ant(stack: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.gateway, api_key="sk-ant-test", max_retries=0)


def test_openai_json_headers_ledger(stack: Stack, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Where is my bag?"}],
        extra_headers={"X-Fleetcost-Agent": "bag-bot", "X-Fleetcost-Session": "s1",
                       "X-Fleetcost-Task": "baggage", "X-Fleetcost-Tenant": "acme"},
    )
    resp = raw.parse()
    call_id = raw.headers["x-fleetcost-call-id"]
    assert raw.headers["x-fleetcost-model"] == "gpt-4o-mini"
    expected = openai_cost("gpt-4o-mini", resp.usage.prompt_tokens, 0, resp.usage.completion_tokens)
    assert Decimal(raw.headers["x-fleetcost-cost-usd"]) == expected
    row = stack.call(call_id)
    assert (row["tenant"], row["agent_id"], row["session_id"], row["task_type"]) == (
        "acme", "bag-bot", "s1", "baggage")
    assert row["input_tokens"] == resp.usage.prompt_tokens
    assert row["output_tokens"] == resp.usage.completion_tokens
    assert Decimal(row["cost_usd"]) == expected > 0
    assert row["outcome"] == "success"


def test_openai_stream_costs_same_as_json(stack: Stack, oai: openai.OpenAI) -> None:
    kwargs = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Summarise policy 7"}]}
    whole = oai.chat.completions.with_raw_response.create(**kwargs)
    with oai.chat.completions.with_streaming_response.create(stream=True, **kwargs) as raw:
        call_id = raw.headers["x-fleetcost-call-id"]
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.parse().choices[0].message.content
    assert all(c.usage is None for c in chunks), "client did not ask for the usage chunk"
    row, row_whole = stack.call(call_id), stack.call(whole.headers["x-fleetcost-call-id"])
    assert row["cost_usd"] == row_whole["cost_usd"]
    assert row["output_tokens"] == row_whole["output_tokens"] > 0
    assert row["ttft_ms"] is not None


def test_openai_stream_with_usage_and_tools(stack: Stack, oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o", stream=True, stream_options={"include_usage": True}, tools=TOOLS,
        messages=[{"role": "user", "content": "Check reservation ABC123"}],
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 0
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_reservation"


def test_openai_prefix_cache_second_call(stack: Stack, oai: openai.OpenAI) -> None:
    msgs = [{"role": "system", "content": LONG_SYSTEM},
            {"role": "user", "content": "I need to change flight 12."}]
    first = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=msgs)
    second = oai.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[*msgs[:1], {"role": "user", "content": "And flight 13?"}])
    u1, u2 = first.parse().usage, second.parse().usage
    assert u1.prompt_tokens >= 1024
    cached = u2.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0
    row = stack.call(second.headers["x-fleetcost-call-id"])
    assert row["cached_tokens"] == cached and row["cache_status"] == "hit"
    assert Decimal(row["cost_usd"]) == openai_cost(
        "gpt-4o", u2.prompt_tokens, cached, u2.completion_tokens)


def test_anthropic_json_stream_and_cache(stack: Stack, ant: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    msgs = [{"role": "user", "content": "Can I change flight 3?"}]
    first = ant.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=300, system=system, messages=msgs,
        extra_headers={"X-Fleetcost-Agent": "claude-agent"})
    m1 = first.parse()
    assert (m1.usage.cache_creation_input_tokens or 0) > 0
    row1 = stack.call(first.headers["x-fleetcost-call-id"])
    assert row1["cache_status"] == "write" and row1["agent_id"] == "claude-agent"
    assert row1["input_tokens"] == (m1.usage.input_tokens + m1.usage.cache_creation_input_tokens
                                    + (m1.usage.cache_read_input_tokens or 0))
    assert Decimal(row1["cost_usd"]) == anthropic_cost("claude-sonnet-4-6", m1.usage)

    with ant.messages.stream(model="claude-sonnet-4-6", max_tokens=300, system=system,
                             messages=msgs) as stream:
        final = stream.get_final_message()
        call_id = stream.response.headers["x-fleetcost-call-id"]
    assert (final.usage.cache_read_input_tokens or 0) > 0
    assert final.content[0].text == m1.content[0].text
    row2 = stack.call(call_id)
    assert row2["cache_status"] == "hit"
    assert row2["cached_tokens"] == final.usage.cache_read_input_tokens
    assert Decimal(row2["cost_usd"]) == anthropic_cost("claude-sonnet-4-6", final.usage)


def test_anthropic_tool_use_and_metadata(stack: Stack, ant: anthropic.Anthropic) -> None:
    raw = ant.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=200,
        tools=[{"name": "get_reservation", "description": "Look up a reservation",
                "input_schema": TOOLS[0]["function"]["parameters"]}],
        messages=[{"role": "user", "content": "Look up XYZ789"}],
        metadata={"user_id": "u-1"},
        extra_headers={"X-Fleetcost-Session": "sess-tool"},
    )
    msg = raw.parse()
    assert any(b.type == "tool_use" for b in msg.content)
    row = stack.call(raw.headers["x-fleetcost-call-id"])
    assert row["session_id"] == "sess-tool"
    assert Decimal(row["cost_usd"]) == anthropic_cost("claude-haiku-4-5", msg.usage)


def test_bad_requests_name_the_field(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    with pytest.raises(openai.BadRequestError) as e1:
        oai.chat.completions.create(model="gpt-4o", messages=[{"content": "no role"}])
    assert "role" in str(e1.value)
    with pytest.raises(anthropic.BadRequestError) as e2:
        ant.messages.create(model="claude-sonnet-4-6", max_tokens=-5,
                            messages=[{"role": "user", "content": "hi"}])
    assert "max_tokens" in str(e2.value)


def test_unpriced_model_recorded_as_unpriced(stack: Stack, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="house-model-unknown", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-fleetcost-cost-usd"] == "unpriced"
    row = stack.call(raw.headers["x-fleetcost-call-id"])
    assert row["cost_usd"] is None and row["input_tokens"] > 0
