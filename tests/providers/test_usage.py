"""Usage normalisation: recorded responses pinned, and properties for the rest.

The pinned cases are the accounting contract (ARCHITECTURE.md section 2):
OpenAI's prompt_tokens already includes its cached part; Anthropic's
input_tokens excludes cache reads and writes, which are added back.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetcost.errors import UpstreamError
from fleetcost.providers import registry
from fleetcost.providers.base import WireAdapter
from fleetcost.types import Usage

from .recorded import payload

OPENAI = registry.get("openai")
ANTHROPIC = registry.get("anthropic")
ADAPTERS = [pytest.param(OPENAI, id="openai"), pytest.param(ANTHROPIC, id="anthropic")]


def test_openai_cached_prompt_is_part_of_input() -> None:
    parsed = OPENAI.parse_response(payload("openai_chat_completion.json"))
    assert parsed.usage == Usage(input_tokens=2006, output_tokens=300, cached_tokens=1024)
    assert parsed.usage.uncached_input_tokens == 982
    assert parsed.model == "gpt-4.1-2025-04-14"
    assert parsed.finish_reason == "stop"


def test_openai_reasoning_is_part_of_output() -> None:
    parsed = OPENAI.parse_response(payload("openai_chat_completion_tools.json"))
    assert parsed.usage == Usage(input_tokens=82, output_tokens=217, reasoning_tokens=192)
    assert parsed.finish_reason == "tool_calls"


def test_openai_compatible_cache_writes_count_as_five_minute_writes() -> None:
    usage = OPENAI.usage_from_provider({
        "prompt_tokens": 3000, "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 1500},
    })
    assert usage == Usage(input_tokens=3000, output_tokens=10, cached_tokens=1000,
                          cache_write_5m_tokens=1500)


def test_anthropic_cache_reads_and_writes_are_added_to_input() -> None:
    parsed = ANTHROPIC.parse_response(payload("anthropic_message.json"))
    assert parsed.usage == Usage(
        input_tokens=21 + 12000 + 2400, output_tokens=393, cached_tokens=12000,
        cache_write_5m_tokens=400, cache_write_1h_tokens=2000,
    )
    assert parsed.usage.uncached_input_tokens == 21
    assert parsed.model == "claude-sonnet-4-5-20250929"
    assert parsed.finish_reason == "end_turn"


def test_anthropic_writes_without_a_split_are_five_minute_writes() -> None:
    usage = ANTHROPIC.usage_from_provider(
        {"input_tokens": 10, "cache_creation_input_tokens": 300, "output_tokens": 5}
    )
    assert usage == Usage(input_tokens=310, output_tokens=5, cache_write_5m_tokens=300)


def test_anthropic_thinking_tokens_are_reasoning() -> None:
    usage = ANTHROPIC.usage_from_provider(
        {"input_tokens": 10, "output_tokens": 500,
         "output_tokens_details": {"thinking_tokens": 420}}
    )
    assert usage.reasoning_tokens == 420 and usage.output_tokens == 500


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("usage", [
    {}, {"prompt_tokens": None, "input_tokens": None, "output_tokens": None},
    {"prompt_tokens_details": None, "cache_creation": None, "completion_tokens_details": None},
    {"prompt_tokens": "12", "input_tokens": True, "output_tokens": -3, "completion_tokens": 2.5},
])
def test_missing_null_or_odd_fields_count_as_zero(adapter: WireAdapter, usage: Any) -> None:
    assert adapter.usage_from_provider(usage) == Usage()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("body", [
    b"", b"<html>502 Bad Gateway</html>", b"[]", b'"ok"', b"{", b"\xff\xfe",
])
def test_malformed_upstream_body_is_a_502(adapter: WireAdapter, body: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response(body)
    assert caught.value.status == 502


@pytest.mark.parametrize(("adapter", "name"), [
    pytest.param(OPENAI, "openai_error.json", id="openai"),
    pytest.param(ANTHROPIC, "anthropic_error.json", id="anthropic"),
])
def test_provider_error_body_in_a_2xx_is_an_upstream_error(adapter: WireAdapter, name: str) -> None:
    body = payload(name)
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response(body)
    assert caught.value.body == body


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_response_of_odd_shape_still_parses(adapter: WireAdapter) -> None:
    body = b'{"model": 5, "choices": [null], "usage": [], "stop_reason": 1}'
    parsed = adapter.parse_response(body)
    assert parsed.usage == Usage() and parsed.model is None and parsed.finish_reason is None


# --- properties -------------------------------------------------------------

NUMBERS = st.one_of(
    st.none(), st.integers(-10, 10**9), st.floats(allow_nan=False),
    st.sampled_from(["", "12", "n/a"]), st.booleans(),
)
OPENAI_USAGE = st.fixed_dictionaries({}, optional={
    "prompt_tokens": NUMBERS, "completion_tokens": NUMBERS, "total_tokens": NUMBERS,
    "prompt_tokens_details": st.one_of(NUMBERS, st.fixed_dictionaries({}, optional={
        "cached_tokens": NUMBERS, "cache_write_tokens": NUMBERS, "audio_tokens": NUMBERS})),
    "completion_tokens_details": st.one_of(NUMBERS, st.fixed_dictionaries({}, optional={
        "reasoning_tokens": NUMBERS})),
})
ANTHROPIC_USAGE = st.fixed_dictionaries({}, optional={
    "input_tokens": NUMBERS, "output_tokens": NUMBERS,
    "cache_read_input_tokens": NUMBERS, "cache_creation_input_tokens": NUMBERS,
    "cache_creation": st.one_of(NUMBERS, st.fixed_dictionaries({}, optional={
        "ephemeral_5m_input_tokens": NUMBERS, "ephemeral_1h_input_tokens": NUMBERS})),
    "output_tokens_details": st.one_of(NUMBERS, st.fixed_dictionaries({}, optional={
        "thinking_tokens": NUMBERS})),
})


def _consistent(usage: Usage) -> None:
    assert all(getattr(usage, f) >= 0 for f in Usage.__dataclass_fields__)
    assert usage.input_tokens >= usage.cached_tokens + usage.cache_write_tokens
    assert usage.output_tokens >= usage.reasoning_tokens


@given(block=OPENAI_USAGE)
def test_openai_normalised_usage_is_consistent_and_idempotent(block: dict[str, Any]) -> None:
    usage = OPENAI.usage_from_provider(block)
    _consistent(usage)
    assert OPENAI.usage_from_provider(OPENAI.usage_to_provider(usage)) == usage


@given(block=ANTHROPIC_USAGE)
def test_anthropic_normalised_usage_is_consistent_and_idempotent(block: dict[str, Any]) -> None:
    usage = ANTHROPIC.usage_from_provider(block)
    _consistent(usage)
    assert ANTHROPIC.usage_from_provider(ANTHROPIC.usage_to_provider(usage)) == usage


@st.composite
def usages(draw: st.DrawFn, *, one_hour: bool) -> Usage:
    cached, w5, w1 = (draw(st.integers(0, 10**6)) for _ in range(3))
    reasoning = draw(st.integers(0, 10**5))
    return Usage(
        input_tokens=cached + w5 + (w1 if one_hour else 0) + draw(st.integers(0, 10**6)),
        output_tokens=reasoning + draw(st.integers(0, 10**5)),
        cached_tokens=cached, cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1 if one_hour else 0, reasoning_tokens=reasoning,
    )


@given(usage=usages(one_hour=False))
def test_openai_usage_round_trips(usage: Usage) -> None:
    block = OPENAI.usage_to_provider(usage)
    assert block["total_tokens"] == block["prompt_tokens"] + block["completion_tokens"]
    assert OPENAI.usage_from_provider(block) == usage


@given(usage=usages(one_hour=True))
def test_anthropic_usage_round_trips(usage: Usage) -> None:
    block = ANTHROPIC.usage_to_provider(usage)
    assert block["input_tokens"] == usage.uncached_input_tokens
    assert ANTHROPIC.usage_from_provider(block) == usage


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("usage", [None, "absent", {}, {"prompt_tokens": 0, "input_tokens": 0}])
def test_response_without_usage_says_so(adapter: WireAdapter, usage: Any) -> None:
    """Some OpenAI-compatible hosts omit usage (or send null or zeros): the pipeline
    must learn that it has to estimate, not bill zero tokens."""
    body: dict[str, Any] = {"model": "m", "choices": [], "content": [], "stop_reason": "end_turn"}
    if usage != "absent":
        body["usage"] = usage
    parsed = adapter.parse_response(orjson.dumps(body))
    assert parsed.usage == Usage() and parsed.usage_reported is False


@pytest.mark.parametrize(("adapter", "name"), [
    pytest.param(OPENAI, "openai_chat_completion.json", id="openai"),
    pytest.param(ANTHROPIC, "anthropic_message.json", id="anthropic"),
])
def test_recorded_usage_is_reported(adapter: WireAdapter, name: str) -> None:
    assert adapter.parse_response(payload(name)).usage_reported is True
