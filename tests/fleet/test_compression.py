"""Compression measured on tau-bench: figures from the ledger, pairing kept."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from fleetcost.compress import compress, problems
from fleetcost.config import CompressConfig
from fleetcost.fleet import ledger
from fleetcost.fleet.compression import measure, render, scenario
from fleetcost.fleet.plan import plan_sessions
from fleetcost.fleet.trajectories import Conversation
from fleetcost.fleet.wire import WIRES, call_prefixes
from fleetcost.pipeline.compress import knobs

VARIANTS = (("none", "off", ""), ("summary", "summary", "[compress]\npayback_turns = 0\n"),
            ("window", "window", ""))
SESSIONS = 6


def test_per_policy_figures_are_ledger_sums(
    tmp_path: Path, conversations: list[Conversation]
) -> None:
    result = measure(conversations, SESSIONS, tmp_path, variants=VARIANTS, concurrency=4)
    rows = ledger.read_rows(tmp_path / "compress.db")
    assert result["ledger_rows"] == len(rows)
    by_name = {v["policy"]: v for v in result["variants"]}
    for name, _, _ in VARIANTS:
        own = [r for r in rows if r["session_id"].startswith(f"compress-{name}/")]
        shown = by_name[name]
        assert shown["errors"] == 0 and shown["pairing_failures"] == 0
        assert shown["input_tokens"] == sum(r["input_tokens"] for r in own)
        assert shown["cached_tokens"] == sum(r["cached_tokens"] for r in own)
        assert Decimal(shown["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in own)
        calls = [r for r in own if r["route_reason"] != "compress-summary"]
        assert shown["calls"] == len(calls)
        rewritten = [r for r in calls if ",saved=" in r["route_reason"]]
        assert shown["compressed_calls"] == len(rewritten)
    assert by_name["none"]["compressed_calls"] == 0
    assert by_name["summary"]["compressed_calls"] > 0
    # Same prompts but the rewritten ones, which are shorter (the summary calls apart).
    main = {name: sum(r["input_tokens"] for r in rows
                      if r["session_id"].startswith(f"compress-{name}/")
                      and r["route_reason"] != "compress-summary")
            for name in ("none", "summary")}
    assert main["summary"] < main["none"]
    assert "summary" in render(result)
    summaries = [r for r in rows if r["route_reason"] == "compress-summary"]
    parents = {r["call_id"]: r["session_id"] for r in rows}
    assert summaries and all(parents[s["parent_id"]] == s["session_id"] for s in summaries)


def test_every_compressed_request_keeps_its_tool_pairs(conversations: list[Conversation]) -> None:
    """The stage's own output, for every call of the measured sessions, both protocols."""
    cfg = knobs(CompressConfig())

    async def summarise(transcript: str) -> str:
        return "summary"

    checked = 0
    for session in plan_sessions(conversations, SESSIONS * 4, scenario("x", "on")):
        wire = WIRES[session.wire.kind]
        for prefix in call_prefixes(session.conversation.messages):
            body = wire.build(session.model, prefix, stream=False)
            for policies in (["trim", "dedupe", "summary"], ["window"], ["prune"]):
                out = asyncio.run(compress(wire.kind, body["messages"], session.model,
                                           policies, cfg, summarise))
                assert out.problems == () and problems(wire.kind, out.messages) == []
                checked += out.changed
    assert checked > 50
