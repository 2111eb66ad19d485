"""Summary: whole blocks of old turns replaced by a cheap model's summary.

Only complete blocks of `block_turns` groups before the verbatim window are
summarised, counted from the head, each on its own (its summary depends on
nothing but its own turns). The caller caches summaries by the block's
content, so the next turn, which sees the same blocks, sends the same
summary text and the provider cache still hits; the rewrite only changes
when one more whole block is ready. Summaries go right after the head, in
block order. A block that holds a mid-conversation system message ends the
summarised run (instructions are never summarised away), and so does a
summary that could not be had: the rest is sent verbatim.
"""

from __future__ import annotations

from decimal import Decimal

from fleetcost.compress.conv import Conv, Env
from fleetcost.compress.payback import blocks_to_cut
from fleetcost.compress.units import render


async def summary(conv: Conv, env: Env) -> Conv:
    block = env.knobs.block_turns
    blocks = _worth_cutting(conv, env)
    notes: list[str] = []
    for number in range(blocks):
        units = conv.units[number * block:(number + 1) * block]
        transcript = "\n".join(render(m) for u in units for m in u.messages)
        text = await env.summarise(transcript)
        if text is None:
            break
        first = number * block + 1
        notes.append(f"Turns {first}-{first + block - 1}: {text.strip()}")
    if not notes:
        return conv
    done = len(notes) * block
    return conv.did(f"summary:{len(notes)}", units=conv.units[done:],
                    notes=(*conv.notes, *notes))


def _worth_cutting(conv: Conv, env: Env) -> int:
    knobs = env.knobs
    sizes = env.sizes(conv)
    eligible = env.older(conv) // knobs.block_turns
    pinned = next((i for i, u in enumerate(conv.units) if u.pinned), len(conv.units))
    eligible = min(eligible, pinned // knobs.block_turns)
    rates, block = env.rates, knobs.block_turns

    def calls(first: int, last: int) -> Decimal:
        """The summary calls: each block read once, a summary written per block."""
        read = sum(sizes[first * block:last * block])
        return read * rates.summary_input + (last - first) * knobs.summary_max_tokens \
            * rates.summary_output

    return blocks_to_cut(
        sizes, eligible, block, knobs.keep_last_turns, rates, knobs.payback_turns,
        lambda c, j: sum(sizes[c * block:j * block]),
        note_tokens=knobs.summary_max_tokens, overhead=calls,
    )
