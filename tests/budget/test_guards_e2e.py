"""Guards, caps, degrade and summarize plans, through the real gateway and SDKs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.gateway.conftest import Stack, run_stack

REPEATS = 4
CONFIG = f"""
[guards]
loop_repeats = {REPEATS}
loop_window_s = 600

[guards.tasks.capped]
max_steps = 3
max_output_tokens = 20

[guards.tasks.tiny]
max_input_tokens = 20

[guards.tasks.growing]
growth_steps = 3

[guards.tasks.quick]
max_session_s = 1.0

[[budgets]]
scope = "agent"
match = "degrader"
limit_usd = "1"
soft_usd = "0"
degrade_models = ["claude-haiku-4-5", "gpt-4o-mini"]
degrade_max_tokens = 40

[[budgets]]
name = "last-words"
scope = "agent"
match = "summarizer"
limit_usd = "0.0002"
window = "total"
action = "summarize"
degrade_models = ["gpt-4o-mini"]
summarize_max_tokens = 30

[[budgets]]
scope = "agent"
match = "summarizer-s"
limit_usd = "0.002"
window = "total"
action = "summarize"
degrade_models = ["claude-haiku-4-5"]

[[budgets]]
scope = "agent"
match = "squeezed"
limit_usd = "0.001"
window = "total"
action = "degrade"
degrade_models = ["gpt-4o-mini"]
degrade_max_tokens = 50
degrade_compress = false

[[budgets]]
scope = "tag"
match = "cached"
limit_usd = "0.5"
"""
TOOL = {"type": "function", "function": {
    "name": "get_reservation", "description": "Look up a reservation",
    "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("guards"), config=CONFIG) as s:
        yield s


@pytest.fixture
def oai(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def ant(stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stack.gateway, api_key="k", max_retries=0) as client:
        yield client


def _openai_step(messages: list[dict[str, Any]], step: int) -> None:
    messages.append({"role": "assistant", "content": None, "tool_calls": [{
        "id": f"call_{step}", "type": "function",
        "function": {"name": "get_reservation", "arguments": '{"code": "ABC123"}'}}]})
    messages.append({"role": "tool", "tool_call_id": f"call_{step}", "content": "not found"})


def _anthropic_step(messages: list[dict[str, Any]], step: int) -> None:
    messages.append({"role": "assistant", "content": [{
        "type": "tool_use", "id": f"toolu_{step}", "name": "get_reservation",
        "input": {"code": "ABC123"}}]})
    messages.append({"role": "user", "content": [{
        "type": "tool_result", "tool_use_id": f"toolu_{step}", "content": "not found"}]})


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_runaway_agent_stopped_at_the_repetition_count(
        stack: Stack, oai: openai.OpenAI, ant: anthropic.Anthropic, wire: str) -> None:
    session = f"runaway-{wire}"
    headers = {"X-Fleetcost-Agent": "looper", "X-Fleetcost-Session": session}
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Find reservation ABC123"}]
    paid, ids = Decimal(0), []
    stopped = None
    for step in range(20):
        try:
            if wire == "openai":
                raw = oai.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=messages, tools=[TOOL], extra_headers=headers)
            else:
                raw = ant.messages.with_raw_response.create(
                    model="claude-haiku-4-5", max_tokens=200, messages=messages,
                    tools=[{"name": "get_reservation", "description": "Look up a reservation",
                            "input_schema": TOOL["function"]["parameters"]}],
                    extra_headers=headers)
        except (openai.RateLimitError, anthropic.RateLimitError) as exc:
            stopped = (step, exc)
            break
        paid += Decimal(raw.headers["x-fleetcost-cost-usd"])
        ids.append(raw.headers["x-fleetcost-call-id"])
        (_openai_step if wire == "openai" else _anthropic_step)(messages, step)
    assert stopped is not None, "the loop was never stopped"
    step, exc = stopped
    # Call k carries k-1 copies of the same tool call: the one carrying the
    # REPEATS-th copy is refused, so REPEATS calls went through.
    assert step == REPEATS
    err = exc.body if wire == "openai" else exc.body["error"]
    assert err["type"] == "loop_detected" and "the same tool call 4 times" in err["message"]
    deadline = time.monotonic() + 30  # the ledger writer flushes in batches
    while True:
        rows = [r for r in stack.ledger(0) if r["session_id"] == session]
        if len(rows) >= REPEATS + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(rows) >= REPEATS + 1
    assert sum(Decimal(r["cost_usd"]) for r in rows) == paid > 0
    assert sorted(r["outcome"] for r in rows)[-1] == "success"
    assert [r["outcome"] for r in rows].count("loop_detected") == 1


def test_step_cap_and_output_cap(stack: Stack, oai: openai.OpenAI) -> None:
    headers = {"X-Fleetcost-Session": "capped-1", "X-Fleetcost-Task": "capped"}
    for i in range(3):
        resp = oai.chat.completions.create(
            model="gpt-4o-mini", max_tokens=500, extra_headers=headers,
            messages=[{"role": "user", "content": f"Step {i}: tell me a long story"}])
        assert resp.usage.completion_tokens <= 20
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="gpt-4o-mini", extra_headers=headers,
                                    messages=[{"role": "user", "content": "one more"}])
    assert err.value.body["type"] == "loop_detected"
    assert "step cap of 3" in err.value.body["message"]


def test_growth_without_tool_results_is_a_loop(oai: openai.OpenAI) -> None:
    headers = {"X-Fleetcost-Session": "grow-1", "X-Fleetcost-Task": "growing"}
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Think about fares."}]
    for step in range(3):  # the first call sets the baseline, then two growing steps
        oai.chat.completions.create(model="gpt-4o-mini", max_tokens=20, messages=messages,
                                    extra_headers=headers)
        messages += [{"role": "assistant", "content": f"Thought {step}: more to consider."},
                     {"role": "user", "content": "Keep thinking."}]
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="gpt-4o-mini", max_tokens=20, messages=messages,
                                    extra_headers=headers)
    assert err.value.body["type"] == "loop_detected"
    assert "grew for 3 steps" in err.value.body["message"]


def test_wall_clock_cap(oai: openai.OpenAI) -> None:
    headers = {"X-Fleetcost-Session": "quick-1", "X-Fleetcost-Task": "quick"}
    msgs = [{"role": "user", "content": "hi"}]
    oai.chat.completions.create(model="gpt-4o-mini", max_tokens=5, messages=msgs,
                                extra_headers=headers)
    time.sleep(1.1)
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="gpt-4o-mini", max_tokens=5, messages=msgs,
                                    extra_headers=headers)
    assert "wall-clock cap of 1 s" in err.value.body["message"]


def test_input_cap_names_the_field(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(
            model="gpt-4o-mini", extra_headers={"X-Fleetcost-Task": "tiny"},
            messages=[{"role": "user", "content": "word " * 100}])
    assert err.value.body["param"] == "messages" and "input cap of 20" in err.value.body["message"]


def test_soft_limit_degrades_with_a_warning(stack: Stack, ant: anthropic.Anthropic) -> None:
    raw = ant.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=500, extra_headers={"X-Fleetcost-Agent": "degrader"},
        messages=[{"role": "user", "content": "Explain the refund policy at length"}])
    msg = raw.parse()
    assert raw.headers["x-fleetcost-model"] == "claude-haiku-4-5"
    assert "soft limit" in raw.headers["x-fleetcost-budget-warning"]
    assert msg.usage.output_tokens <= 40
    remaining = Decimal(raw.headers["x-fleetcost-budget-remaining-usd"])
    assert remaining == Decimal(1) - Decimal(raw.headers["x-fleetcost-cost-usd"])
    row = stack.call(raw.headers["x-fleetcost-call-id"])
    assert row["requested_model"] == "claude-sonnet-4-6" and row["model"] == "claude-haiku-4-5"


def test_degrade_at_the_hard_limit_then_refuse(oai: openai.OpenAI) -> None:
    headers = {"X-Fleetcost-Agent": "squeezed"}
    msgs = [{"role": "user", "content": "Plan my trip"}]
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=1000, messages=msgs, extra_headers=headers)
    assert raw.headers["x-fleetcost-model"] == "gpt-4o-mini"
    assert "cannot fit this call: degraded" in raw.headers["x-fleetcost-budget-warning"]
    assert raw.parse().usage.completion_tokens <= 50
    for _ in range(60):
        try:
            oai.chat.completions.create(model="gpt-4o", max_tokens=1000, messages=msgs,
                                        extra_headers=headers)
        except openai.RateLimitError as err:
            assert "agent:squeezed:total" in err.body["message"]
            return
    pytest.fail("degrade mode never refused once even the degraded call could not fit")


def test_summarize_mode_answers_once_then_refuses(oai: openai.OpenAI) -> None:
    headers = {"X-Fleetcost-Agent": "summarizer"}
    msgs = [{"role": "user", "content": "Summarise what we found so far"}]
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=1000, messages=msgs, extra_headers=headers)
    resp = raw.parse()
    assert resp.choices[0].finish_reason == "budget_exceeded"
    assert raw.headers["x-fleetcost-model"] == "gpt-4o-mini"
    assert resp.usage.completion_tokens <= 30
    for _ in range(40):  # each final answer spends; the budget runs out for good
        try:
            oai.chat.completions.create(model="gpt-4o", max_tokens=1000, messages=msgs,
                                        extra_headers=headers)
        except openai.RateLimitError as err:
            assert "last-words" in err.body["message"] and "total" in err.body["message"]
            return
    pytest.fail("summarize mode never refused once the budget was spent")


def test_summarize_mode_streamed(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(
            model="claude-sonnet-4-6", max_tokens=2000,
            messages=[{"role": "user", "content": "Wrap up the refund case"}],
            extra_headers={"X-Fleetcost-Agent": "summarizer-s"}) as stream:
        final = stream.get_final_message()
        assert stream.response.headers["x-fleetcost-model"] == "claude-haiku-4-5"
    assert final.stop_reason == "budget_exceeded"
    assert final.usage.output_tokens <= 256


def test_cache_hit_releases_everything(stack: Stack, oai: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini", "temperature": 0, "max_tokens": 50,
        "messages": [{"role": "user", "content": "Cached question about bags"}],
        "extra_headers": {"X-Fleetcost-Tags": "cached"}}
    first = oai.chat.completions.with_raw_response.create(**kwargs)
    second = oai.chat.completions.with_raw_response.create(**kwargs)
    assert second.headers["x-fleetcost-cache"] == "exact"
    assert Decimal(second.headers["x-fleetcost-budget-remaining-usd"]) == (
        Decimal("0.5") - Decimal(first.headers["x-fleetcost-cost-usd"]))
    budgets = httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()
    tag = next(b for b in budgets if b["name"] == "tag:cached:day")
    assert tag["buckets"][0]["reserved_usd"] == "0"
    assert Decimal(tag["buckets"][0]["spent_usd"]) == Decimal(first.headers["x-fleetcost-cost-usd"])


def test_admin_create_and_update(stack: Stack, oai: openai.OpenAI) -> None:
    url = stack.gateway + "/fleetcost/v1/budgets"
    made = httpx.post(url, json={"name": "tight", "scope": "agent", "match": "newbie",
                                 "limit_usd": "0.000001"})
    assert made.status_code == 201
    assert httpx.post(url, json={"name": "tight", "scope": "agent", "limit_usd": "1"}
                      ).status_code == 409
    bad = httpx.post(url, json={"scope": "planet", "limit_usd": "1"})
    assert bad.status_code == 400 and "scope" in bad.json()["error"]["message"]
    headers = {"X-Fleetcost-Agent": "newbie"}
    msgs = [{"role": "user", "content": "hello"}]
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="gpt-4o-mini", max_tokens=10, messages=msgs,
                                    extra_headers=headers)
    assert httpx.put(url + "/tight", json={"limit_usd": "1"}).status_code == 200
    oai.chat.completions.create(model="gpt-4o-mini", max_tokens=10, messages=msgs,
                                extra_headers=headers)
    listed = {b["name"]: b for b in httpx.get(url).json()}
    assert listed["tight"]["limit_usd"] == "1"
    assert httpx.put(url + "/nope", json={"limit_usd": "1"}).status_code == 404


def test_upstream_errors_release_the_hold(tmp_path: Path) -> None:
    config = '[[budgets]]\nscope = "agent"\nlimit_usd = "0.01"\n'
    with run_stack(tmp_path, emulator_args=("--faults", "500:1.0"), config=config) as stack:
        with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0
                           ) as client, pytest.raises(openai.InternalServerError) as err:
            client.chat.completions.create(
                model="gpt-4o-mini", max_tokens=100, extra_headers={"X-Fleetcost-Agent": "e"},
                messages=[{"role": "user", "content": "hi"}])
        row = stack.call(err.value.response.headers["x-fleetcost-call-id"])
        assert row["outcome"] == "error"
        listed = httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()
        bucket = listed[0]["buckets"][0]
        assert bucket["reserved_usd"] == "0" and bucket["spent_usd"] == "0"


def test_long_stream_keeps_its_hold_past_the_ttl(tmp_path: Path) -> None:
    """TTL 0.6 s: a stream still flowing after 1.2 s must still be held, not expired."""
    config = ('[storage]\nreservation_ttl_s = 0.6\n'
              '[[budgets]]\nscope = "agent"\nlimit_usd = "1"\n')
    with run_stack(tmp_path, emulator_args=("--latency", "realistic"), config=config) as stack, \
            openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0) as client:
        for attempt in range(8):
            started = time.monotonic()
            seen = None
            stream = client.chat.completions.create(
                model="gpt-4o", max_tokens=2000, stream=True,
                extra_headers={"X-Fleetcost-Agent": "long"},
                messages=[{"role": "user", "content": f"Tell the whole story, take {attempt}"}])
            for _ in stream:
                if seen is None and time.monotonic() - started > 1.2:
                    listed = httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()
                    seen = Decimal(listed[0]["buckets"][0]["reserved_usd"])
            if seen is not None:
                assert seen > 0, "the hold expired while its stream was still running"
                listed = httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()
                assert listed[0]["buckets"][0]["reserved_usd"] == "0"
                return
    pytest.fail("no stream lasted 1.2 s; lengthen the prompt")


def test_admin_budgets_survive_a_restart(tmp_path: Path) -> None:
    config = '[[budgets]]\nname = "base"\nscope = "tenant"\nlimit_usd = "1"\n'
    with run_stack(tmp_path, config=config) as stack:
        url = stack.gateway + "/fleetcost/v1/budgets"
        assert httpx.post(url, json={"name": "extra", "scope": "agent", "limit_usd": "0.5"}
                          ).status_code == 201
        assert httpx.put(url + "/base", json={"limit_usd": "2"}).status_code == 200
    with run_stack(tmp_path, config=config) as stack:
        listed = {b["name"]: b["limit_usd"]
                  for b in httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()}
    assert listed == {"base": "2", "extra": "0.5"}
