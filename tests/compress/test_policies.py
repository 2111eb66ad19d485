"""Each policy's own behaviour, on small hand-written conversations."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from fleetcost.compress import CacheRates, Knobs, compress
from fleetcost.compress.memo import SummaryMemo
from fleetcost.compress.payback import pays
from fleetcost.config import CompressConfig
from fleetcost.errors import BadRequest
from fleetcost.fleet.wire import to_anthropic
from fleetcost.pipeline.compress import cache_rates, chosen
from fleetcost.pipeline.state import CallState
from fleetcost.pricing.catalog import load_catalog
from fleetcost.providers import registry

ANTHROPIC_LIKE = CacheRates(Decimal("0.1"), Decimal("1.25"))


def chat(turns: int, tool_text: str = "result", user: str = "ok, go on") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": "policy"},
                                 {"role": "user", "content": "change my flight"}]
    for n in range(turns):
        out.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{n}", "type": "function",
             "function": {"name": "get", "arguments": "{}"}}]})
        out.append({"role": "tool", "tool_call_id": f"c{n}", "content": f"{tool_text} {n}"})
        out.append({"role": "assistant", "content": f"Here is step {n} of the plan."})
        out.append({"role": "user", "content": user})
    return out


def run(kind: str, messages: list[dict[str, Any]], policies: list[str], **kw: Any) -> Any:
    knobs = kw.pop("knobs", Knobs(keep_last_turns=2, block_turns=2, payback_turns=0))
    return asyncio.run(compress(kind, messages, kw.pop("model", "gpt-4o"), policies, knobs,
                                **kw))


def test_trim_keeps_start_and_end_with_a_marker() -> None:
    long = "START " + "filler " * 3000 + " END"
    out = run("openai", chat(2, tool_text=long), ["trim"],
              knobs=Knobs(trim_tool_tokens=100))
    tools = [m["content"] for m in out.messages if m["role"] == "tool"]
    assert all(t.startswith("START") and t.rstrip().endswith(("END 0", "END 1")) for t in tools)
    assert all("[fleetcost:" in t and "trimmed]" in t for t in tools)
    assert out.done == ("trim:2",) and out.saved_tokens > 5000


def test_dedupe_points_at_the_first_copy() -> None:
    messages = chat(3)
    for m in messages:
        if m["role"] == "tool":
            m["content"] = "the same reservation record " * 20
    out = run("openai", messages, ["dedupe"])
    tools = [m["content"] for m in out.messages if m["role"] == "tool"]
    assert tools[0].startswith("the same") and tools[1:] == [
        "[fleetcost: same output as tool call c0 above]"] * 2


def test_window_keeps_tool_results_and_corrections_only() -> None:
    messages = chat(6)
    messages[1 + 4 * 1 + 4]["content"] = "No, I meant the other flight."  # turn 1's user reply
    knobs = Knobs(keep_last_turns=2, block_turns=2, keep_tool_results=False, payback_turns=0)
    out = run("openai", messages, ["window"], knobs=knobs)
    texts = [m.get("content") for m in out.messages]
    assert "No, I meant the other flight." in texts
    assert out.messages[:2] == messages[:2] and out.messages[-4:] == messages[-4:]
    assert out.done and out.done[0].startswith("window:")


def test_summary_calls_the_model_once_per_block_across_turns() -> None:
    memo, calls = SummaryMemo(), []

    async def make(transcript: str) -> str:
        calls.append(transcript)
        return "They changed a flight."

    async def summarise(transcript: str) -> str | None:
        return await memo.get(transcript, lambda: make(transcript))

    knobs = Knobs(keep_last_turns=2, block_turns=4, payback_turns=0, summary_max_tokens=16)
    outs = [run("openai", chat(n), ["summary"], knobs=knobs, summarise=summarise)
            for n in range(4, 10)]
    # chat(n) has 2n turns; by chat(9), 16 lie before the window: four blocks, each once.
    assert len(calls) == len(set(calls)) == 4
    notes = [m["content"] for o in outs for m in o.messages[2:3] if o.changed]
    assert notes and all(n.startswith("[fleetcost: summary of earlier turns]") for n in notes)


def test_anthropic_keeps_cache_control_on_kept_blocks() -> None:
    _, messages = to_anthropic(chat(6))
    out = run("anthropic", messages, ["window"], model="claude-sonnet-4-6",
              knobs=Knobs(keep_last_turns=2, block_turns=2, keep_tool_results=False,
                          payback_turns=0))
    assert out.changed
    assert out.messages[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert out.messages[-1] == messages[-1]


def test_broken_input_is_left_to_the_provider() -> None:
    messages = chat(4)
    del messages[3]  # a tool result gone: the provider will reject it, not us
    out = run("openai", messages, ["window", "summary"])
    assert not out.changed and out.messages is messages and out.done == ("skipped:invalid-input",)


def test_a_cut_must_pay_for_the_cache_it_breaks() -> None:
    assert pays(1000, 100_000, CacheRates(), turns=4)  # no cache: always worth it
    assert not pays(1000, 3000, ANTHROPIC_LIKE, turns=4)
    assert pays(8000, 3000, ANTHROPIC_LIKE, turns=4)
    assert pays(1, 10**9, ANTHROPIC_LIKE, turns=0)  # payback_turns = 0: cut regardless
    # What the cut itself costs (summary calls) counts against it.
    assert not pays(8000, 3000, ANTHROPIC_LIKE, turns=4, overhead=Decimal(1000))
    knobs = Knobs(keep_last_turns=2, block_turns=2, payback_turns=4)
    blind = run("openai", chat(6), ["window"], knobs=knobs, rates=CacheRates())
    aware = run("openai", chat(6), ["window"], knobs=knobs, rates=ANTHROPIC_LIKE)
    assert blind.changed and not aware.changed


def test_cache_rates_come_from_the_catalog() -> None:
    catalog = load_catalog()
    sonnet = cache_rates(catalog.get("claude-sonnet-4-6"))
    assert (sonnet.read, sonnet.write) == (Decimal("0.1"), Decimal("1.25"))
    assert cache_rates(catalog.get("gpt-4o")).write == 1
    assert cache_rates(None) == CacheRates()
    with_haiku = cache_rates(catalog.get("claude-sonnet-4-6"), catalog.get("claude-haiku-4-5"))
    assert with_haiku.summary_input == Decimal(1) / Decimal(3)
    assert with_haiku.summary_output == Decimal(5) / Decimal(3)


def test_who_decides_whether_to_compress() -> None:
    state = CallState(adapter=registry.get("openai"), headers={})
    cfg = CompressConfig(task_types=["booking"], policies=["trim"])
    assert chosen(state, cfg) == ()
    state.identity.task_type = "booking"
    assert chosen(state, cfg) == ("trim",)
    state.headers["x-fleetcost-compress"] = "off"
    assert chosen(state, cfg) == ()
    state.headers["x-fleetcost-compress"] = "window,summary"
    assert chosen(state, cfg) == ("window", "summary")
    state.compress_policy = ("prune",)  # a budget's degrade plan wins
    assert chosen(state, cfg) == ("prune",)
    state.compress_policy = None
    state.headers["x-fleetcost-compress"] = "zip"
    with pytest.raises(BadRequest, match="X-Fleetcost-Compress"):
        chosen(state, cfg)
