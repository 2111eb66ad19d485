"""Budgets for batch calls: the hold taken at acceptance lives until settlement.

The pipeline's budget stage reserves a batch call's worst case (at the live
price, so a batch call is never under-reserved) before it is queued; a live
call settles in the account stage a moment later, but a batch item settles
when its provider batch ends, minutes to hours later and possibly in
another process. So `reserve` extends the hold to the provider's completion
window and returns what settling needs (hold id and the charged buckets) as
JSON, stored with the item; `settle` charges the exact batch cost to those
buckets (the store charges the named buckets even if the hold expired), at
most once per hold id (`settle_once`), because the poller replays it after a
crash. `rereserve` holds a retried dead letter's worst case again, under the
retry's own id, on the budgets that apply to it now, or refuses.
"""

from __future__ import annotations

import dataclasses
import time

import orjson

from fleetcost.batch.service import BatchHooks
from fleetcost.errors import BudgetExceeded
from fleetcost.pipeline.budget import worst_case
from fleetcost.pipeline.budget_rules import applicable, from_nano, now_utc
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.providers import registry
from fleetcost.storage.base import BudgetCharge
from fleetcost.storage.batch_sqlite import StoredItem
from fleetcost.types import Identity

# Both providers promise results within 24 hours; an hour of slack for polling.
BATCH_WINDOW_S = 25 * 3600.0
# Queued batch items' holds belong to no process: a gateway that stops releases
# its own holds, but the batch it queued still settles later (after a restart).
BATCH_OWNER = "batch-queue"


def budget_hooks(ctx: GatewayContext) -> BatchHooks:
    budgets = ctx.budgets
    if budgets is None:
        return BatchHooks()

    async def reserve(state: CallState) -> str | None:
        hold = state.budget
        if hold is None or not hold.applied:
            return None
        budgets.extend(hold.hold_id, time.time() + BATCH_WINDOW_S, owner=BATCH_OWNER)
        hold.settled = True  # settled by the batch poller, never by this request
        return _hold_ref(hold.hold_id, [a.charge for a in hold.applied])

    def settle(hold: str, nano: int, tokens: int) -> None:
        data = orjson.loads(hold)
        charges = [BudgetCharge(**c) for c in data["charges"]]
        budgets.settle_once(data["hold_id"], charges, nano, tokens)

    def rereserve(item: StoredItem, new_id: str) -> str | None:
        charges = _charges_for_retry(ctx, item)
        if not charges:
            return None
        nano, tokens = _worst_case(ctx, item)
        now = time.time()
        result = budgets.reserve(new_id, charges, nano, tokens, now, now + BATCH_WINDOW_S,
                                 BATCH_OWNER)
        if not result.ok:
            raise BudgetExceeded(
                f"budget bucket {result.refused[0]!r} has no room for the retry's worst "
                f"case ({from_nano(nano)} USD); the dead letter stays as it is")
        return _hold_ref(new_id, charges)

    return BatchHooks(reserve=reserve, settle=settle, rereserve=rereserve)


def _hold_ref(hold_id: str, charges: list[BudgetCharge]) -> str:
    return orjson.dumps({"hold_id": hold_id,
                         "charges": [dataclasses.asdict(c) for c in charges]}).decode()


def _charges_for_retry(ctx: GatewayContext, item: StoredItem) -> list[BudgetCharge]:
    """A retry is a new call: the budgets (and windows, and limits) that apply to its
    identity now, not those of the day the original was accepted."""
    known = {f.name for f in dataclasses.fields(Identity)}
    values = {k: v for k, v in item.identity.items() if k in known and v is not None}
    values["tags"] = tuple(values.get("tags", ()))
    applied = applicable(ctx.budget_rules, Identity(**values), now_utc(time.time()))
    return [a.charge for a in applied if a.stored]


def _worst_case(ctx: GatewayContext, item: StoredItem) -> tuple[int, int]:
    """The retry's worst case, as at acceptance: its body at the routed model's price."""
    adapter = registry.get(item.wire)
    state = CallState(adapter=adapter, headers={})
    state.request = adapter.parse_request(item.body)
    state.cache_marked = b"cache_control" in item.body
    price = ctx.price(item.model) or ctx.price(item.requested_model or item.model)
    if price is None:
        raise BudgetExceeded(f"model {item.model!r} has no price, so the retry's budget "
                             "cannot be enforced")
    return worst_case(state, ctx, price)
