"""The compress stage end to end: official SDKs -> gateway -> emulator -> ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from fleetcost.fleet.trajectories import find_data_dir, load_conversations
from fleetcost.fleet.wire import anthropic_body, call_prefixes, openai_body
from tests.gateway.conftest import Stack, run_stack

CONFIG = """
[compress]
task_types = ["long-haul"]
policies = ["trim", "dedupe", "summary"]
min_input_tokens = 0
keep_last_turns = 2
block_turns = 2
trim_tool_tokens = 200
summary_max_tokens = 60
payback_turns = 0
"""
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("compress"), config=CONFIG) as s:
        yield s


@pytest.fixture(scope="module")
def prefixes() -> list[list[dict[str, Any]]]:
    """The prompts of the longest of the first recorded conversations, turn by turn."""
    import os

    conversations = load_conversations(find_data_dir(None, os.environ, REPO))
    longest = max(conversations[:20], key=lambda c: c.assistant_turns)
    return list(call_prefixes(longest.messages))


def _headers(session: str, task: str = "long-haul") -> dict[str, str]:
    return {"X-Fleetcost-Session": session, "X-Fleetcost-Task": task,
            "X-Fleetcost-Cache": "off"}


def _openai_turn(client: openai.OpenAI, prefix: list[dict[str, Any]], headers: dict[str, str]
                 ) -> dict[str, str]:
    body = openai_body("gpt-4o", prefix, stream=False)
    raw = client.chat.completions.with_raw_response.create(
        model=body["model"], messages=body["messages"], tools=body["tools"],
        extra_headers=headers)
    raw.parse()
    return dict(raw.headers)


def _summaries(stack: Stack, rows_expected: int, session: str) -> list[dict[str, Any]]:
    rows = stack.ledger(rows_expected)
    return [r for r in rows if r["session_id"] == session
            and r["route_reason"] == "compress-summary"]


def test_openai_compressed_with_summaries_in_the_ledger(
    cstack: Stack, prefixes: list[list[dict[str, Any]]]
) -> None:
    turns = prefixes[-4:]
    with openai.OpenAI(base_url=cstack.gateway + "/v1", api_key="k", max_retries=0) as client:
        seen = [_openai_turn(client, p, _headers("oai-s1")) for p in turns]
    notes = [h["x-fleetcost-compress"] for h in seen]
    assert all("saved=" in n and "summary:" in n for n in notes), notes
    rows = [cstack.call(h["x-fleetcost-call-id"]) for h in seen]
    for row, note in zip(rows, notes, strict=True):
        assert row["route_reason"].endswith(";compress=" + note)
        assert row["outcome"] == "success"
    summaries = _summaries(cstack, len(rows), "oai-s1")
    assert summaries, "summary calls are in the ledger"
    assert {s["parent_id"] for s in summaries} <= {r["call_id"] for r in rows}
    assert all(s["task_type"] == "long-haul" and s["model"] == "gpt-4o-mini"
               and s["cost_usd"] not in (None, "0") for s in summaries)
    # Blocks are summarised once: later turns reuse the summaries (the memo).
    blocks = max(int(n.split("summary:")[1].split(",")[0].split("+")[0]) for n in notes)
    assert len(summaries) == blocks
    # Compressed prompts are smaller than the same prompts sent as they are.
    with openai.OpenAI(base_url=cstack.gateway + "/v1", api_key="k", max_retries=0) as client:
        plain = _openai_turn(client, turns[-1], _headers("oai-s2", task="other"))
    assert "x-fleetcost-compress" not in plain
    assert cstack.call(plain["x-fleetcost-call-id"])["input_tokens"] > rows[-1]["input_tokens"]


def test_anthropic_compressed_and_streamed(
    cstack: Stack, prefixes: list[list[dict[str, Any]]]
) -> None:
    body = anthropic_body("claude-sonnet-4-6", prefixes[-1], stream=False)
    client = anthropic.Anthropic(base_url=cstack.gateway, api_key="k", max_retries=0)
    with client, client.messages.with_streaming_response.create(
        model=body["model"], max_tokens=body["max_tokens"], system=body["system"],
        messages=body["messages"], tools=body["tools"], stream=True,
        extra_headers=_headers("ant-s1"),
    ) as raw:
        headers = dict(raw.headers)
        events = list(raw.parse())
    assert events and "saved=" in headers["x-fleetcost-compress"]
    row = cstack.call(headers["x-fleetcost-call-id"])
    assert row["outcome"] == "success" and ";compress=" in row["route_reason"]
    summaries = _summaries(cstack, 1, "ant-s1")
    assert summaries and all(s["model"] == "claude-haiku-4-5" for s in summaries)


def test_header_turns_it_on_off_and_names_bad_policies(
    cstack: Stack, prefixes: list[list[dict[str, Any]]]
) -> None:
    with openai.OpenAI(base_url=cstack.gateway + "/v1", api_key="k", max_retries=0) as client:
        off = _openai_turn(client, prefixes[-1], {**_headers("h1"), "X-Fleetcost-Compress": "off"})
        assert "x-fleetcost-compress" not in off
        on = _openai_turn(client, prefixes[-1],
                          {**_headers("h2", task="other"), "X-Fleetcost-Compress": "trim"})
        assert on["x-fleetcost-compress"].startswith("trim:")
        with pytest.raises(openai.BadRequestError) as err:
            _openai_turn(client, prefixes[-1], {**_headers("h3"), "X-Fleetcost-Compress": "zip"})
    assert "X-Fleetcost-Compress" in str(err.value)


DEGRADE_CONFIG = """
[compress]
min_input_tokens = 0
policies = ["trim"]
trim_tool_tokens = 200

[[budgets]]
scope = "agent"
match = "thrifty"
limit_usd = "100"
soft_usd = "0"
window = "day"
"""


def test_a_budgets_degrade_plan_turns_compression_on(
    tmp_path: Path, prefixes: list[list[dict[str, Any]]]
) -> None:
    """Compression is off in config; past the soft limit the degrade plan asks for it."""
    with run_stack(tmp_path, config=DEGRADE_CONFIG) as stack, openai.OpenAI(
        base_url=stack.gateway + "/v1", api_key="k", max_retries=0
    ) as client:
        free = _openai_turn(client, prefixes[-1], {**_headers("d1"), "X-Fleetcost-Agent": "other"})
        degraded = _openai_turn(client, prefixes[-1],
                                {**_headers("d2"), "X-Fleetcost-Agent": "thrifty"})
        row = stack.call(degraded["x-fleetcost-call-id"])
    assert "x-fleetcost-compress" not in free
    assert degraded["x-fleetcost-compress"].startswith("trim:")
    assert ";compress=trim:" in row["route_reason"]


BUDGETED_CONFIG = CONFIG + """
[[budgets]]
scope = "agent"
match = "summed"
limit_usd = "100"
window = "day"
"""


def test_summary_calls_are_charged_to_the_requests_budgets(
    tmp_path: Path, prefixes: list[list[dict[str, Any]]]
) -> None:
    import math
    from decimal import Decimal

    import httpx

    with run_stack(tmp_path, config=BUDGETED_CONFIG) as stack, openai.OpenAI(
        base_url=stack.gateway + "/v1", api_key="k", max_retries=0
    ) as client:
        seen = [_openai_turn(client, p, {**_headers("b1"), "X-Fleetcost-Agent": "summed"})
                for p in prefixes[-3:]]
        calls = [stack.call(h["x-fleetcost-call-id"]) for h in seen]
        summaries = _summaries(stack, len(calls), "b1")
        budgets = httpx.get(stack.gateway + "/fleetcost/v1/budgets").json()
    assert summaries, "the turns were summarised"
    bucket = next(b for b in budgets if b["name"] == "agent:summed:day")["buckets"][0]
    charged = sum(math.ceil(Decimal(r["cost_usd"]) * 10**9) for r in calls + summaries)
    assert Decimal(bucket["spent_usd"]) * 10**9 == charged  # summaries included
    assert bucket["reserved_usd"] == "0"
