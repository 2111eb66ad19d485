"""Trim: cut oversized tool outputs down to a token limit, with a marker.

The start and the end of an output are kept (two thirds and one third of the
room): a listing's first rows and a log's last lines are usually what the
model needs. Trimming is a pure function of the output, applied to every
turn including the latest, so a trimmed message is the same every time it
is sent and the provider's prefix cache keeps hitting.
"""

from __future__ import annotations

from fleetcost.compress.conv import Conv, Env
from fleetcost.pricing.tokens import count_text


def cut(text: str, limit: int, model: str, marker: str) -> str | None:
    """`text` trimmed to about `limit` tokens, or None when it already fits."""
    total = count_text(text, model).tokens
    if total <= limit:
        return None
    keep = len(text) * limit // total
    head = keep * 2 // 3
    tail = keep - head
    note = marker.format(cut=total - limit, total=total)
    short = text[:head] + note + (text[-tail:] if tail else "")
    # Just over the limit, the marker can outweigh what it replaces.
    return short if count_text(short, model).tokens < total else None


async def trim(conv: Conv, env: Env) -> Conv:
    units = list(conv.units)
    count = 0
    for index, unit in enumerate(units):
        for result in list(env.dialect.tool_results(unit)):
            short = cut(result.text, env.knobs.trim_tool_tokens, env.model, env.rules.trim_marker)
            if short is not None:
                unit = env.dialect.with_result_text(unit, result, short)
                count += 1
        units[index] = unit
    if not count:
        return conv
    return conv.did(f"trim:{count}", units=tuple(units))
