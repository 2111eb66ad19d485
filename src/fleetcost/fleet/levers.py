"""Caching levers of the demo: request rewrites per scenario, and the before/after table.

Some scenarios change what the agents send, the way real fleets get it
wrong or right: `timestamp` puts the wall clock at the top of the system
prompt (a common way to bust the provider's prefix cache: every call
differs from the first token on), `temperature0` makes calls deterministic
(what lets the exact response cache answer them), and `repeat_every = N`
sends every Nth call twice, as agents do when they retry after a lost
reply or two workers ask the same thing.

A lever row compares two scenarios that differ only in that lever; every
figure in it is summed from the gateway's ledger rows of the two replays
(cost, cached prompt tokens, and `saved_usd` the gateway recorded for
cache hits), never from what the client counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from fleetcost.fleet.plan import Call, Scenario
from fleetcost.fleet.table import money


def stamp_system(body: dict[str, Any]) -> None:
    """Prefix the system prompt with the current time (OpenAI or Anthropic shape)."""
    stamp = f"Current time: {datetime.now(UTC).isoformat()}\n\n"
    system = body.get("system")
    if isinstance(system, list) and system:
        system[0] = {**system[0], "text": stamp + system[0].get("text", "")}
        return
    messages = body.get("messages") or []
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": stamp + str(messages[0].get("content") or "")}


def deterministic(body: dict[str, Any]) -> None:
    body["temperature"] = 0


REWRITES = {"timestamp": stamp_system, "temperature0": deterministic}


def _rewritten(scenario: Scenario, call: Call) -> Call:
    if not scenario.rewrites:
        return call
    body = orjson.loads(call.body)
    for name in scenario.rewrites:
        REWRITES[name](body)
    return Call(call.path, orjson.dumps(body), call.stream)


def expand(scenario: Scenario, index: int, call: Call) -> Iterator[Call]:
    """The call(s) an agent sends for recorded call `index`, built when sent."""
    yield _rewritten(scenario, call)
    every = scenario.repeat_every
    if every and index % every == every - 1:
        yield _rewritten(scenario, call)


@dataclass(frozen=True, slots=True)
class _Sums:
    calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)
    saved: Decimal = Decimal(0)
    cache_hits: int = 0


def _sums(rows: Sequence[Mapping[str, Any]]) -> _Sums:
    cost = saved = Decimal(0)
    inputs = cached = hits = 0
    for row in rows:
        cost += Decimal(str(row.get("cost_usd") or 0))
        saved += Decimal(str(row.get("saved_usd") or 0))
        inputs += int(row.get("input_tokens") or 0)
        cached += int(row.get("cached_tokens") or 0)
        hits += row.get("response_cache") in ("exact", "semantic")
    return _Sums(len(rows), inputs, cached, cost, saved, hits)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def lever_rows(rows_by_scenario: Mapping[str, Sequence[Mapping[str, Any]]],
               scenarios: Sequence[Scenario]) -> list[dict[str, Any]]:
    """One row per lever whose off and on scenarios both ran."""
    out = []
    for scenario in scenarios:
        if scenario.compare is None or scenario.lever is None:
            continue
        off_name, on_name = scenario.compare
        if off_name not in rows_by_scenario or on_name not in rows_by_scenario:
            continue
        off, on = _sums(rows_by_scenario[off_name]), _sums(rows_by_scenario[on_name])
        saving = off.cost - on.cost
        out.append({
            "lever": scenario.lever, "off": off_name, "on": on_name,
            "calls": on.calls,
            "cost_off_usd": money(off.cost), "cost_on_usd": money(on.cost),
            "saving_usd": money(saving),
            "saving_share": _share_decimal(saving, off.cost),
            "cached_prompt_share_off": _share(off.cached_tokens, off.input_tokens),
            "cached_prompt_share_on": _share(on.cached_tokens, on.input_tokens),
            "response_cache_hits": on.cache_hits,
            "ledger_saved_usd": money(on.saved),
        })
    return out


def _share_decimal(part: Decimal, whole: Decimal) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def render_levers(rows: Sequence[Mapping[str, Any]]) -> str:
    header = ("lever", "off -> on", "cost off", "cost on", "saving", "cached prompt",
              "cache hits", "ledger saved_usd")
    lines = [header] + [(
        r["lever"], f"{r['off']} -> {r['on']}", f"${r['cost_off_usd']}", f"${r['cost_on_usd']}",
        f"${r['saving_usd']} ({r['saving_share']})",
        f"{r['cached_prompt_share_off']} -> {r['cached_prompt_share_on']}",
        str(r["response_cache_hits"]), f"${r['ledger_saved_usd']}",
    ) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)
