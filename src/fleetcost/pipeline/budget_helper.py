"""Budgets for calls the gateway makes on a request's behalf.

A context summary, an LLM-router verdict, a verifier's check or a shadow
answer costs money like any call, and the budgets that cover the request
cover them too. Each is held before it goes out, on the same buckets as the
request's own hold, at a worst case that needs no tokenizer: a prompt has at
most as many tokens as bytes, and the answer at most its `max_tokens` (or the
model's output cap). It settles in `account()` like any call. A helper the
budget cannot fit is not sent: its caller already treats "no answer" as a
failed helper (no summary, the fallback tier, no shadow).
"""

from __future__ import annotations

import math
import time

import orjson

from fleetcost.pipeline.budget_hold import BudgetHold
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.types import Price

RENEW_FRACTION = 3


def _max_output(body: bytes, price: Price) -> int | None:
    try:
        asked = orjson.loads(body).get("max_tokens")
    except (orjson.JSONDecodeError, AttributeError):
        asked = None
    return asked if isinstance(asked, int) and asked > 0 else price.max_output_tokens


def hold_helper(parent: CallState, sub: CallState, ctx: GatewayContext, body: bytes,
                price: Price | None) -> bool:
    """Reserve the helper's worst case on the parent's budgets; False when it does not fit."""
    hold = parent.budget
    if hold is None or not hold.applied or ctx.budgets is None:
        return True
    if price is None:
        return False  # an unpriced helper cannot be bounded
    output = _max_output(body, price)
    if output is None:
        return False
    rates = [price.input] + [r for r in (price.cache_write_5m, price.cache_write_1h)
                             if r is not None]
    micro = len(body) * max(rates) + output * price.output
    nano, tokens = math.ceil(micro * 1000), len(body) + output
    now = time.time()
    ttl = ctx.settings.storage.reservation_ttl_s
    result = ctx.budgets.reserve(sub.call_id, [a.charge for a in hold.applied], nano, tokens,
                                 now, now + ttl, ctx.owner)
    if result.refused:
        return False
    sub.budget = BudgetHold(sub.call_id, list(hold.applied), nano, tokens, price, {},
                            renew_at=time.monotonic() + ttl / RENEW_FRACTION)
    return True
