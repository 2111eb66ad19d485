"""Prune: drop the least relevant old groups until the prompt fits a budget.

Relevance is word overlap with the verbatim window (the latest turns say
what the agent is doing now), divided by the square root of the group's
length so that long groups do not win by size alone. Groups go lowest score
first (the oldest first on ties) until the whole prompt is within
`prune_budget_tokens`; the window, the head and pinned system messages are
never dropped. What is relevant changes every turn, so this policy rewrites
the prefix every turn: it saves tokens and may still cost more with a
provider cache (the benchmark shows which).
"""

from __future__ import annotations

import math
import re

from fleetcost.compress.conv import Conv, Env
from fleetcost.compress.units import Unit, render

WORD = re.compile(r"[a-z0-9_]{3,}")


def _words(unit: Unit) -> set[str]:
    return set(WORD.findall(" ".join(render(m) for m in unit.messages).lower()))


async def prune(conv: Conv, env: Env) -> Conv:
    total = env.tokens(env.messages(conv))
    budget = env.knobs.prune_budget_tokens
    older = env.older(conv)
    if total <= budget or not older:
        return conv
    query: set[str] = set()
    for unit in conv.units[older:]:
        query |= _words(unit)
    scored = []
    for index, unit in enumerate(conv.units[:older]):
        if unit.pinned:
            continue
        words = _words(unit)
        scored.append((len(words & query) / math.sqrt(len(words) + 1), index))
    scored.sort()
    dropped: set[int] = set()
    for _, index in scored:
        if total <= budget:
            break
        total -= env.tokens(list(conv.units[index].messages)) - 3  # reply priming counted once
        dropped.add(index)
    if not dropped:
        return conv
    units = tuple(u for i, u in enumerate(conv.units) if i not in dropped)
    return conv.did(f"prune:{len(dropped)}", units=units)
