"""The prefix tracker's pure parts: spans, cache rules, breakpoints, affinity, bounds."""

from __future__ import annotations

import orjson
import pytest

from fleetcost.pipeline.affinity import Affinity
from fleetcost.pipeline.breakpoints import add_breakpoints
from fleetcost.pipeline.prefix import PrefixTracker
from fleetcost.pipeline.span import differing_span
from fleetcost.pricing.prefix_rules import TrackerBounds, automatic_read, cache_rule
from fleetcost.providers import registry

POLICY = "You are the airline agent. " + " ".join(f"Rule {i} applies." for i in range(400))
TOOLS = [{"type": "function", "function": {"name": f"tool_{i}", "parameters": {}}}
         for i in range(3)]


@pytest.mark.parametrize(("old", "new", "kind"), [
    ("Now: 2026-11-23T14:42:12.1+00:00. Be kind.", "Now: 2026-11-23T14:42:13.9+00:00. Be kind.",
     "ISO timestamp"),
    ("req 5f0c2a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a ok", "req 7a1d9b2c-3e4f-4a5b-9c6d-7e8f9a0b1c2d ok",
     "UUID"),
    ("You are turn 41 of the plan.", "You are turn 42 of the plan.", "counter"),
    ("Today is 2026-11-23, be brief.", "Today is 2026-11-24, be brief.", "date"),
    ("Be brief and kind.", "Be thorough and kind.", "changed system prompt"),
])
def test_differing_span_names_the_shape(old: str, new: str, kind: str) -> None:
    span = differing_span(old, new, "changed system prompt")
    assert span.kind == kind
    assert not any(ch.isdigit() and ch != "9" for ch in span.snippet), "digits are redacted"


def test_automatic_rule_rounds_down_in_steps() -> None:
    rule = cache_rule("openai")
    assert rule is not None and not rule.explicit
    assert automatic_read(rule, 1023) == 0
    assert automatic_read(rule, 1024) == 1024
    assert automatic_read(rule, 1024 + 255) == 1152


def _request(kind: str, messages: list[dict], tools: list[dict] | None = None,
             system: str = POLICY) -> object:
    body: dict = {"model": "m", "messages": messages}
    if kind == "openai":
        body["messages"] = [{"role": "system", "content": system}, *messages]
        if tools:
            body["tools"] = tools
    else:
        body.update(system=system, max_tokens=10)
    return registry.get(kind).parse_request(orjson.dumps(body))


def _compare(tracker: PrefixTracker, kind: str, request: object, call: str):  # type: ignore[no-untyped-def]
    rule = cache_rule(kind)
    assert rule is not None
    return tracker.compare(("t", "s"), call, tracker.prompt(request), rule, 1024)


def test_tracker_extends_reorders_and_forgets() -> None:
    tracker = PrefixTracker(TrackerBounds(sessions=2, token_memo=100, stable_text_chars=10**6,
                                          affinity_entries=10))
    user = [{"role": "user", "content": "hello"}]
    assert _compare(tracker, "openai", _request("openai", user, TOOLS), "c1") is None
    grown = [*user, {"role": "assistant", "content": "hi"}, {"role": "user", "content": "more"}]
    ev = _compare(tracker, "openai", _request("openai", grown, TOOLS), "c2")
    assert ev is not None and ev.span_kind is None and ev.previous_call_id == "c1"
    assert ev.shared_tokens == ev.previous_tokens and ev.expected_cached_tokens >= 1024
    ev = _compare(tracker, "openai", _request("openai", grown, TOOLS[::-1]), "c3")
    assert ev is not None and ev.span_kind == "reordered tools" and ev.break_block == 0
    assert ev.expected_cached_tokens == 0 < ev.stable_cached_tokens
    for other in ("a", "b"):  # two more sessions push the first one out
        tracker.compare(("t", other), "x", tracker.prompt(_request("openai", user)),
                        cache_rule("openai"), 1024)  # type: ignore[arg-type]
    assert len(tracker) == 2
    assert _compare(tracker, "openai", _request("openai", grown, TOOLS), "c4") is None


def test_breakpoints_added_where_cacheable_and_never_past_four() -> None:
    rule = cache_rule("anthropic")
    assert rule is not None and rule.explicit
    tracker = PrefixTracker()
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
             {"role": "user", "content": "c"}]
    request = _request("anthropic", turns)
    new, prompt = add_breakpoints(request, tracker.prompt(request), rule, 1024)  # type: ignore[arg-type]
    assert request.body["system"] == POLICY, "the client's body is not mutated"  # type: ignore[attr-defined]
    assert new.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert new.body["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in str(new.body["messages"][2])
    assert prompt.breakpoints == (0, 2)
    short = _request("anthropic", turns, system="Be brief.")
    same, _ = add_breakpoints(short, tracker.prompt(short), rule, 1024)  # type: ignore[arg-type]
    assert same is short, "a prefix below the minimum gets no marker"


def test_affinity_sticks_within_ttl_and_spreads_new_prefixes() -> None:
    table = Affinity(max_entries=2)
    assert table.choose("p1", ["a", "b"], 10, now=0) == ("a", False)
    assert table.choose("p2", ["a", "b"], 10, now=0) == ("b", False)
    assert table.choose("p1", ["a", "b"], 10, now=5) == ("a", True)
    assert table.choose("p1", ["a", "b"], 10, now=30)[1] is False, "expired"
    table.choose("p3", ["a", "b"], 10, now=30)
    assert len(table) == 2


def test_roi_flags_only_prefixes_whose_writes_are_not_paid_back() -> None:
    from decimal import Decimal

    from fleetcost.analytics.prefix_doctor import unpaid_writes
    from fleetcost.pricing.catalog import load_catalog
    from fleetcost.types import CallRecord

    model = "claude-sonnet-4-6"
    price = load_catalog().get(model)
    assert price is not None and price.cache_write_5m is not None and price.cache_read
    rows = [
        # Written once and never read: pays the write premium for nothing.
        CallRecord("a1", "t", model=model, session_id="s1", prefix_hash="A",
                   input_tokens=5000, cache_write_tokens=5000),
        # Written once, read twice: pays back.
        CallRecord("b1", "t", model=model, session_id="s2", prefix_hash="B",
                   input_tokens=5000, cache_write_tokens=5000),
        CallRecord("b2", "t", model=model, session_id="s2", prefix_hash="B",
                   input_tokens=5100, cached_tokens=5000),
        CallRecord("b3", "t", model=model, session_id="s2", prefix_hash="B",
                   input_tokens=5200, cached_tokens=5000),
    ]
    (finding,) = unpaid_writes(rows, {}, load_catalog().get)
    assert finding.kind == "cache_writes_unpaid"
    assert finding.evidence["sessions"] == ["s1"]
    assert finding.cost_usd == 5000 * (price.cache_write_5m - price.input) / Decimal(10**6)


def test_resent_history_reused_gives_the_same_prompt_as_rebuilding() -> None:
    """The session fast path (blocks of resent messages taken from the last prompt)
    must describe each tau-bench prompt exactly as a full rebuild does."""
    import os
    from pathlib import Path

    from fleetcost.fleet.plan import SCENARIOS, plan_sessions
    from fleetcost.fleet.trajectories import find_data_dir, load_conversations
    from fleetcost.pipeline.prompt_blocks import prompt_of

    repo = Path(__file__).resolve().parents[2]
    conversations = load_conversations(find_data_dir(None, os.environ, repo))
    reused = 0
    for session in plan_sessions(conversations, 4, SCENARIOS[0]):
        adapter = registry.get(session.wire.kind)
        previous, sent = None, 0
        for call in session.calls():
            request = adapter.parse_request(call.body)
            fast = prompt_of(request, {}, previous=previous)
            full = prompt_of(request, {})
            assert [(b.digest, b.tokens, b.ttl, b.region) for b in fast.blocks] == \
                [(b.digest, b.tokens, b.ttl, b.region) for b in full.blocks]
            assert (fast.ends, fast.breakpoints, fast.prefix_hash) == \
                (full.ends, full.breakpoints, full.prefix_hash)
            first = len(fast.blocks) - len(request.messages)
            if previous is not None:
                reused += fast.blocks[first] is previous.blocks[len(previous.blocks) - sent]
            previous, sent = fast, len(request.messages)
    assert reused > 10, "the fast path was taken"


def test_markers_the_gateway_added_are_not_carried_into_the_next_prompt() -> None:
    rule = cache_rule("anthropic")
    assert rule is not None
    tracker = PrefixTracker()
    key = ("t", "auto")
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
             {"role": "user", "content": "c"}]
    first = _request("anthropic", turns)
    _, marked = add_breakpoints(first, tracker.prompt(first, rule, key), rule, 1024)  # type: ignore[arg-type]
    tracker.compare(key, "c1", marked, rule, 1024)
    grown = _request("anthropic", [*turns, {"role": "assistant", "content": "d"},
                                   {"role": "user", "content": "e"}])
    again = tracker.prompt(grown, rule, key)
    assert again.breakpoints == ()
    assert again.ends == tracker.prompt(grown, rule).ends
