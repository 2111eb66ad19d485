"""Window: keep the last turns verbatim; from older ones keep what matters.

Older groups are dropped unless they hold tool results (facts the agent
fetched; their calls come with them, so pairs stay whole) or a user
correction (the user saying what they really meant), each behind its knob.
The cut moves in steps of `block_turns` groups counted from the head, not
one group per turn: between two steps the kept prefix is the same from call
to call, so the provider cache keeps serving it.
"""

from __future__ import annotations

from fleetcost.compress.conv import Conv, Env
from fleetcost.compress.payback import blocks_to_cut
from fleetcost.compress.units import Unit


def _keeps(unit: Unit, env: Env) -> bool:
    if unit.pinned:
        return True
    if env.knobs.keep_tool_results and any(True for _ in env.dialect.tool_results(unit)):
        return True
    return env.knobs.keep_corrections and any(
        env.rules.is_correction(env.dialect.user_text(m)) for m in unit.messages
    )


async def window(conv: Conv, env: Env) -> Conv:
    block, knobs = env.knobs.block_turns, env.knobs
    sizes = env.sizes(conv)
    keeps = [_keeps(u, env) for u in conv.units]

    def gone(first: int, last: int) -> int:
        span = range(first * block, last * block)
        return sum(sizes[i] for i in span if not keeps[i])

    cut = block * blocks_to_cut(sizes, env.older(conv) // block, block, knobs.keep_last_turns,
                                env.rates, knobs.payback_turns, gone)
    if not cut:
        return conv
    kept = [u for u in conv.units[:cut] if _keeps(u, env)]
    dropped = cut - len(kept)
    if not dropped:
        return conv
    return conv.did(f"window:{dropped}", units=(*kept, *conv.units[cut:]))
