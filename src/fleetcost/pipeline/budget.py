"""Budget stage: reserve the worst case before the call, settle it after.

Before anything is sent upstream, the call's worst-case cost is reserved on
every budget it matches, in one atomic step (`BudgetLedger.reserve`): the
prompt's counted tokens at their upper error bound, plus `max_tokens` (or
the model's output cap), at the model's prices, with input billed at the
dearest rate it could be billed at (a cache write). If any budget would be
crossed nothing is held and the call is refused with 429 `budget_exceeded`
(or degraded, or summarised, as the budget's `action` says). Because the
hold is taken before the call and checked against spend plus every other
live hold, parallel calls cannot slip past a budget together.

The route stage runs after this one, so the price is first taken from the
model the call names (resolved through `[models]` as the router would), and
`rebudget` resizes the hold to the routed model's prices once the route is
chosen, before any byte goes upstream. A router that picks a dearer model
can then still be refused; one that picks a cheaper one frees the difference.

After the call, `settle_budget` (run by the account stage, which runs
exactly once per call however it ends: JSON, stream, client gone, upstream
error, cache hit) charges the exact cost and releases the rest. A process
that dies with holds open leaves them to expire after `reservation_ttl_s`.
"""

from __future__ import annotations

import logging
import math
import time
from decimal import Decimal

from fleetcost.errors import BudgetExceeded
from fleetcost.pipeline.budget_hold import BudgetHold
from fleetcost.pipeline.budget_plan import (
    degrade,
    preview_price,
    remaining_header,
    soft_crossed,
    summarize,
)
from fleetcost.pipeline.budget_rules import (
    Applied,
    applicable,
    now_utc,
    refusal_message,
    to_nano,
)
from fleetcost.pipeline.caps import prompt_count
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.storage.base import BudgetLedger
from fleetcost.types import CallRecord, Price

log = logging.getLogger("fleetcost.budget")
WARNING = b"x-fleetcost-budget-warning"
# A running call renews its hold after a third of the TTL has passed.
RENEW_FRACTION = 3


def _store(ctx: GatewayContext) -> BudgetLedger:
    assert ctx.budgets is not None  # GatewayContext refuses rules without a store
    return ctx.budgets


def worst_case(state: CallState, ctx: GatewayContext, price: Price) -> tuple[int, int]:
    """(nano-dollars, tokens) the call can cost at most at `price`."""
    assert state.request is not None
    prompt = prompt_count(state, ctx.token_memo).upper_bound
    output = state.request.max_tokens or price.max_output_tokens
    if output is None and price.context_window is not None:
        output = max(price.context_window - prompt, 0)
    if output is None:
        raise BudgetExceeded(f"model {price.model} has no output cap in the catalog and the "
                             "request sets no max_tokens, so its cost cannot be bounded")
    micro = prompt * _input_rate(state, price) + output * price.output
    return math.ceil(micro * 1000), prompt + output


def _input_rate(state: CallState, price: Price) -> Decimal:
    """The dearest rate a prompt token of this request can be billed at.

    Only a request that marks cache breakpoints (`cache_control`) can be
    billed a cache write; automatic prefix caching writes for free. Without
    one, every prompt token is at most the input rate (reads are cheaper).
    """
    rates = [price.input]
    if state.cache_marked:
        rates += [r for r in (price.cache_write_5m, price.cache_write_1h) if r is not None]
    return max(rates)


def reserve(state: CallState, ctx: GatewayContext, body: bytes) -> None:
    if not ctx.budget_rules or state.request is None:
        return
    # A byte scan of the raw body is the cheapest way to know, and errs towards yes.
    state.cache_marked = b"cache_control" in body
    now = time.time()
    applied = applicable(ctx.budget_rules, state.identity, now_utc(now))
    if not applied:
        return
    price = preview_price(state, ctx)
    if price is None:
        raise BudgetExceeded(f"model {state.request.model!r} has no price, so budget "
                             f"{applied[0].rule.name!r} cannot be enforced for it")
    state.budget = _hold(state, ctx, applied, price, now)
    crossed = soft_crossed(state.budget)
    if crossed is not None and not state.summarize and degrade(state, ctx, crossed):
        resize(state, ctx, preview_price(state, ctx))
        state.reply_headers.append((WARNING, (
            f"soft limit of budget {crossed.rule.name!r} passed: degraded").encode()))


def _hold(state: CallState, ctx: GatewayContext, applied: list[Applied], price: Price,
          now: float) -> BudgetHold:
    nano, tokens = worst_case(state, ctx, price)
    stored = [a for a in applied if a.stored]
    refused = [a for a in applied if not a.stored and _over(a, nano, tokens)]
    hold_id = state.call_id
    used: dict[str, int] = {}
    if not refused and stored:
        result = _store(ctx).reserve(
            hold_id, [a.charge for a in stored], nano, tokens, now,
            now + ctx.settings.storage.reservation_ttl_s, ctx.owner)
        refused = [a for a in stored if a.charge.key in result.refused]
        used = {k: b.used_nano for k, b in result.balances.items()}
    if not refused:
        renew_at = time.monotonic() + ctx.settings.storage.reservation_ttl_s / RENEW_FRACTION
        return BudgetHold(hold_id, stored, nano, tokens, price, used, renew_at=renew_at)
    tightest = min(refused, key=lambda a: _room(a, used))
    action = tightest.rule.config.action
    if action == "degrade" and not state.compress and degrade(state, ctx, tightest):
        state.reply_headers.append((WARNING, (
            f"budget {tightest.rule.name!r} cannot fit this call: degraded").encode()))
        return _hold(state, ctx, applied, preview_price(state, ctx) or price, now)
    if action == "summarize" and not state.summarize and summarize(state, ctx, tightest):
        return _hold(state, ctx, applied, preview_price(state, ctx) or price, now)
    raise BudgetExceeded(refusal_message(tightest, nano))


def _over(a: Applied, nano: int, tokens: int) -> bool:
    c = a.charge
    return ((c.limit_nano is not None and nano > c.limit_nano)
            or (c.limit_tokens is not None and tokens > c.limit_tokens))


def _room(a: Applied, used: dict[str, int]) -> int:
    limit = a.charge.limit_nano
    return limit - used.get(a.charge.key, 0) if limit is not None else 2**62


def resize(state: CallState, ctx: GatewayContext, price: Price | None = None) -> None:
    """Re-price the hold (routed model, degraded request); refuse if it no longer fits."""
    hold = state.budget
    if hold is None:
        return
    price = price or hold.price
    nano, tokens = worst_case(state, ctx, price)
    if (nano, tokens) == (hold.nano, hold.tokens):
        return
    applied = hold.applied
    result = _store(ctx).resize(hold.hold_id, [a.charge for a in applied], nano, tokens,
                                time.time())
    if not result.ok:
        tightest = next(a for a in applied if a.charge.key in result.refused)
        raise BudgetExceeded(refusal_message(tightest, nano))
    hold.nano, hold.tokens, hold.price = nano, tokens, price
    hold.used_nano = {k: b.used_nano for k, b in result.balances.items()}


def rebudget(state: CallState, ctx: GatewayContext) -> None:
    """After routing: hold the routed model's worst case, not the requested one's."""
    hold = state.budget
    if hold is None or state.price is None or state.price == hold.price:
        return
    resize(state, ctx, state.price)


def keep_alive(hold: BudgetHold, ctx: GatewayContext) -> None:
    """A long stream renews its hold's expiry, so only a dead process's holds expire."""
    now = time.monotonic()
    if now < hold.renew_at or hold.settled or not hold.applied:
        return
    ttl = ctx.settings.storage.reservation_ttl_s
    hold.renew_at = now + ttl / RENEW_FRACTION
    _store(ctx).extend(hold.hold_id, time.time() + ttl)


def release(state: CallState, ctx: GatewayContext) -> None:
    hold = state.budget
    if hold is not None and not hold.settled:
        hold.settled = True
        if hold.applied:
            _store(ctx).release(hold.hold_id)


def settle_budget(state: CallState, ctx: GatewayContext, record: CallRecord) -> None:
    """Charge the exact cost (rounded up to the nano-dollar), release the rest."""
    hold = state.budget
    if hold is None or hold.settled:
        return
    hold.settled = True
    cost = record.cost_usd if record.cost_usd is not None else Decimal(0)
    nano = to_nano(cost)
    tokens = record.input_tokens + record.output_tokens
    if nano > hold.nano or tokens > hold.tokens:
        log.warning("call %s cost %s nano / %s tokens, over its hold of %s / %s",
                    state.call_id, nano, tokens, hold.nano, hold.tokens)
    if hold.applied:
        _store(ctx).settle(hold.hold_id, [a.charge for a in hold.applied], nano, tokens)
    for key in hold.used_nano:
        hold.used_nano[key] += nano - hold.nano
    header = remaining_header(hold)
    if header is not None:
        state.reply_headers.append(header)

