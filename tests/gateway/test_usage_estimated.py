"""A provider that reports no usage: the call is estimated, priced and flagged, never free.

The emulator runs with `--omit-usage` (like OpenAI-compatible hosts that leave
`usage` out of answers and ignore `stream_options.include_usage`), while its
`/emulator/stats` still counts what it really served, so each ledger row's
estimate is checked against the true counts of that very call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from fleetcost.cli.main import main
from fleetcost.pricing.catalog import load_catalog
from fleetcost.pricing.cost import cost
from fleetcost.types import Usage
from tests.gateway.conftest import Stack, run_stack
from tests.gateway.test_sdk_e2e import TOOLS

QUESTION = ("My checked bag did not arrive on flight 212 from Lisbon. It is a large blue "
            "suitcase with a red ribbon. What should I do, and how long does a claim take?")
BUDGET = """
[[budgets]]
scope = "agent"
match = "*"
limit_usd = "5"
window = "day"
"""


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("nousage"), ("--omit-usage",), BUDGET) as s:
        yield s


def served(stack: Stack) -> dict[str, int]:
    return stack.emulator_stats()["totals"]


def true_usage(before: dict[str, int], after: dict[str, int]) -> tuple[int, int]:
    assert after["requests"] == before["requests"] + 1
    return (after["input_tokens"] - before["input_tokens"],
            after["output_tokens"] - before["output_tokens"])


def check_row(stack: Stack, call_id: str, truth: tuple[int, int], in_tol: float,
              out_tol: float) -> dict:
    row = stack.call(call_id)
    assert row["usage_source"] == "estimated"
    assert row["outcome"] == "success"
    true_in, true_out = truth
    assert true_in > 0 and true_out > 0
    assert abs(row["input_tokens"] - true_in) <= in_tol * true_in, (row, truth)
    assert abs(row["output_tokens"] - true_out) <= out_tol * true_out, (row, truth)
    price = load_catalog().get(row["model"])
    assert price is not None
    expected = cost(Usage(row["input_tokens"], row["output_tokens"]), price)
    assert Decimal(row["cost_usd"]) == expected > 0
    return row


def test_openai_json_without_usage_is_estimated(bare: Stack) -> None:
    oai = openai.OpenAI(base_url=bare.gateway + "/v1", api_key="sk-test", max_retries=0)
    before = served(bare)
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}])
    resp = raw.parse()
    assert resp.usage is None  # the client sees the host's answer as it was
    assert raw.headers["x-fleetcost-usage"] == "estimated"
    row = check_row(bare, raw.headers["x-fleetcost-call-id"], true_usage(before, served(bare)),
                    0.10, 0.10)
    assert Decimal(raw.headers["x-fleetcost-cost-usd"]) == Decimal(row["cost_usd"])


def test_openai_tool_call_counts_its_arguments(bare: Stack) -> None:
    oai = openai.OpenAI(base_url=bare.gateway + "/v1", api_key="sk-test", max_retries=0)
    before = served(bare)
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Find reservation QX7P2L."}],
        tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_reservation"}})
    assert raw.parse().choices[0].message.tool_calls
    check_row(bare, raw.headers["x-fleetcost-call-id"], true_usage(before, served(bare)),
              0.10, 0.5)


def test_openai_stream_without_usage_chunk_is_estimated(bare: Stack) -> None:
    oai = openai.OpenAI(base_url=bare.gateway + "/v1", api_key="sk-test", max_retries=0)
    before = served(bare)
    with oai.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}], stream=True,
        stream_options={"include_usage": True},
    ) as raw:
        call_id = raw.headers["x-fleetcost-call-id"]
        chunks = list(raw.parse())
    assert chunks and all(c.usage is None for c in chunks)
    # Streams estimate output from the characters relayed (about 4 per token).
    check_row(bare, call_id, true_usage(before, served(bare)), 0.10, 0.35)


def test_stream_tail_notes_the_estimate(bare: Stack) -> None:
    body = {"model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "Is my flight on time?"}]}
    with httpx.stream("POST", bare.gateway + "/v1/chat/completions", json=body) as r:
        text = r.read().decode()
    note = text.index(": fleetcost-usage=estimated\n\n")
    assert note < text.index(": fleetcost-cost-usd=")
    row = bare.call(r.headers["x-fleetcost-call-id"])
    assert f": fleetcost-cost-usd={row['cost_usd']}\n\n" in text


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_without_usage_is_estimated(bare: Stack, stream: bool) -> None:
    ant = anthropic.Anthropic(base_url=bare.gateway, api_key="sk-ant-test", max_retries=0)
    before = served(bare)
    args = {"model": "claude-sonnet-4-6", "max_tokens": 400,
            "messages": [{"role": "user", "content": QUESTION}]}
    if stream:
        with ant.messages.with_streaming_response.create(stream=True, **args) as raw:
            call_id = raw.headers["x-fleetcost-call-id"]
            assert list(raw.parse())
        out_tol = 0.35
    else:
        raw = ant.messages.with_raw_response.create(**args)
        call_id = raw.headers["x-fleetcost-call-id"]
        assert raw.headers["x-fleetcost-usage"] == "estimated"
        out_tol = 0.25
    # No Claude tokenizer offline: both sides are calibrated estimates.
    check_row(bare, call_id, true_usage(before, served(bare)), 0.25, out_tol)


def test_reported_usage_stays_provider(stack: Stack) -> None:
    oai = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk-test", max_retries=0)
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}])
    assert "x-fleetcost-usage" not in raw.headers
    row = stack.call(raw.headers["x-fleetcost-call-id"])
    assert row["usage_source"] == "provider"
    assert row["output_tokens"] == raw.parse().usage.completion_tokens


def test_emulator_omits_usage_per_request(stack: Stack) -> None:
    """The per-request switch, straight to the emulator: same answer, no usage."""
    oai = openai.OpenAI(base_url=stack.emulator + "/v1", api_key="sk-test", max_retries=0)
    args = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": QUESTION}]}
    full = oai.chat.completions.create(**args)
    bare = oai.chat.completions.create(**args, extra_headers={"X-Emulator-Usage": "omit"})
    assert full.usage is not None and bare.usage is None
    assert bare.choices[0].message.content == full.choices[0].message.content


def test_doctor_shows_estimated_spend(bare: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """The doctor names the spend that is only an estimate (this call's and earlier tests')."""
    r = httpx.post(bare.gateway + "/v1/chat/completions", json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": QUESTION}]})
    bare.call(r.headers["x-fleetcost-call-id"])
    rows = [r for r in bare.ledger(1) if r["usage_source"] == "estimated"
            and r["outcome"] == "success"]
    assert rows
    assert main(["doctor", "--db", str(bare.db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    found = [f for f in report["findings"] if f["kind"] == "estimated_usage"]
    assert sum(f["calls"] for f in found) == len(rows)
    assert sum(Decimal(f["cost_usd"]) for f in found) == sum(Decimal(r["cost_usd"]) for r in rows)


def test_budget_settles_on_the_estimate(bare: Stack) -> None:
    agent = {"X-Fleetcost-Agent": "estimated-bot"}
    ids = []
    for stream in (False, True):
        body = {"model": "gpt-4o-mini", "stream": stream,
                "messages": [{"role": "user", "content": QUESTION}]}
        with httpx.stream("POST", bare.gateway + "/v1/chat/completions", json=body,
                          headers=agent) as r:
            r.read()
            ids.append(r.headers["x-fleetcost-call-id"])
    rows = [bare.call(i) for i in ids]
    assert all(r["usage_source"] == "estimated" for r in rows)
    spent = sum(Decimal(r["cost_usd"]) for r in rows)
    assert spent > 0
    budgets = httpx.get(bare.gateway + "/fleetcost/v1/budgets").json()
    buckets = {(b["name"], k["member"]): k for b in budgets for k in b["buckets"]}
    bucket = buckets[("agent:*:day", "estimated-bot")]
    assert Decimal(bucket["spent_usd"]) == spent and Decimal(bucket["reserved_usd"]) == 0
