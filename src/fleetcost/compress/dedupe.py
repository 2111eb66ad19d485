"""Dedupe: a tool output already in the conversation is not sent twice.

Agents re-read the same record (the same reservation fetched three times);
every copy after the first becomes a short pointer to the call that first
returned it. The first copy stays, so nothing is lost, and a message's
rewrite depends only on what came before it: the prefix stays stable.
Outputs shorter than `dedupe_min_chars` are left alone (the pointer would
not be much shorter).
"""

from __future__ import annotations

from fleetcost.compress.conv import Conv, Env
from fleetcost.pricing.tokens import count_text


async def dedupe(conv: Conv, env: Env) -> Conv:
    seen: dict[str, str] = {}
    units = list(conv.units)
    count = 0
    for index, unit in enumerate(units):
        for result in list(env.dialect.tool_results(unit)):
            if len(result.text) < env.knobs.dedupe_min_chars:
                continue
            first = seen.get(result.text)
            if first is None:
                seen[result.text] = result.call_id
                continue
            pointer = env.rules.dedupe_marker.format(first=first)
            if count_text(pointer, env.model).tokens >= count_text(result.text, env.model).tokens:
                continue
            unit = env.dialect.with_result_text(unit, result, pointer)
            count += 1
        units[index] = unit
    if not count:
        return conv
    return conv.did(f"dedupe:{count}", units=tuple(units))
