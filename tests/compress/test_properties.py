"""Every policy, on generated conversations, keeps the protocols' invariants.

For both wire shapes and every policy (alone and chained): every tool call
keeps its result, the system prompt and the head stay byte-identical, the
last turns are sent verbatim, the prompt never grows, and compressing the
next turn's prompt reproduces this turn's output as its prefix unless a new
block was cut (the property that keeps provider prefix caches hitting).
"""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetcost.compress import POLICIES, CacheRates, Knobs, compress, problems
from fleetcost.compress.units import DIALECTS
from fleetcost.fleet.wire import to_anthropic
from tests.compress.convgen import conversation, turn

KNOBS = Knobs(keep_last_turns=2, block_turns=3, trim_tool_tokens=40, dedupe_min_chars=40,
              prune_budget_tokens=300)
CHAINS = [[name] for name in POLICIES] + [["trim", "dedupe", "summary"],
                                          ["dedupe", "window", "prune"]]
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-6"}
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


async def fake_summary(transcript: str) -> str | None:
    """Stands in for the provider: a short, deterministic text per block."""
    return f"summary of {len(transcript)} characters"


def shaped(kind: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if kind == "openai":
        return messages
    return to_anthropic(messages)[1]


# No provider cache (every cut pays), and a cache like Anthropic's (cuts must pay back).
RATES = (CacheRates(), CacheRates(Decimal("0.1"), Decimal("1.25")))


def run(kind: str, messages: list[dict[str, Any]], chain: list[str],
        rates: CacheRates = RATES[0]) -> Any:
    return asyncio.run(compress(kind, messages, MODELS[kind], chain, KNOBS, fake_summary,
                                rates=rates))


def blob(value: Any) -> bytes:
    return orjson.dumps(value)


@pytest.mark.parametrize("chain", CHAINS, ids="+".join)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@SETTINGS
@given(messages=conversation())
def test_invariants(kind: str, chain: list[str], messages: list[dict[str, Any]]) -> None:
    original = shaped(kind, messages)
    frozen = copy.deepcopy(original)
    out = run(kind, original, chain)
    assert original == frozen, "the client's messages are never mutated"
    assert problems(kind, out.messages) == []
    assert out.problems == ()
    assert out.tokens_after <= out.tokens_before
    head, units = DIALECTS[kind].split(original)
    new_head, new_units = DIALECTS[kind].split(out.messages)
    _same_head(kind, head, new_head)
    kept = [blob(m) for u in units[-KNOBS.keep_last_turns:] for m in u.messages]
    if kept and not {"trim", "dedupe"} & set(chain):
        # The last turns go verbatim (trim and dedupe may rewrite tool outputs anywhere).
        assert [blob(m) for m in out.messages[-len(kept):]] == kept
    assert len(new_units) <= len(units) + 1


@pytest.mark.parametrize("chain", [c for c in CHAINS if "prune" not in c], ids="+".join)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@SETTINGS
@given(messages=conversation(min_turns=1), extra=st.data(), rates=st.sampled_from(RATES))
def test_prefix_stable_until_a_block_is_cut(
    kind: str, chain: list[str], messages: list[dict[str, Any]], extra: st.DataObject,
    rates: CacheRates,
) -> None:
    # prune is left out: it chooses by relevance to the latest turn, so it moves by design.
    grown = messages + extra.draw(turn(999))
    now, later = shaped(kind, messages), shaped(kind, grown)
    if kind == "anthropic":
        # Anthropic agents move the last breakpoint every turn; compare without it.
        now, later = _unmarked(now), _unmarked(later)
    first, second = run(kind, now, chain, rates), run(kind, later, chain, rates)
    blocks = [
        max(0, len(DIALECTS[kind].split(m)[1]) - KNOBS.keep_last_turns) // KNOBS.block_turns
        for m in (now, later)
    ]
    if blocks[0] == blocks[1] or not ({"window", "summary"} & set(chain)):
        a, b = [blob(m) for m in first.messages], [blob(m) for m in second.messages]
        if kind == "anthropic" and len(a) <= len(b):
            # The last user turn may gain blocks next turn (tool results merge into it).
            assert b[:len(a) - 1] == a[:-1]
        else:
            assert b[:len(a)] == a


def _same_head(kind: str, head: list[Any], new_head: list[Any]) -> None:
    """System messages and the task statement stay; summary notes may follow them."""
    if kind == "openai":
        assert [blob(m) for m in new_head[:len(head)]] == [blob(m) for m in head]
        return
    (before,), (after,) = head, new_head
    content = before["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    assert after == before or after["content"][:len(blocks)] == blocks


def _unmarked(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(messages)
    for message in out:
        for block in message["content"] if isinstance(message["content"], list) else ():
            block.pop("cache_control", None)
    return out
