"""Budgets for batch calls: the hold taken at acceptance lives until settlement.

The pipeline's budget stage reserves a batch call's worst case (at the live
price, so a batch call is never under-reserved) before it is queued; a live
call settles in the account stage a moment later, but a batch item settles
when its provider batch ends, minutes to hours later and possibly in
another process. So `reserve` extends the hold to the provider's completion
window and returns what settling needs (hold id and the charged buckets) as
JSON, stored with the item; `settle` charges the exact batch cost to those
buckets (the store charges the named buckets even if the hold expired).
"""

from __future__ import annotations

import dataclasses
import time

import orjson

from fleetcost.batch.service import BatchHooks
from fleetcost.pipeline.budget_rules import to_nano
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.storage.base import BudgetCharge
from fleetcost.types import CallRecord

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
        return orjson.dumps({
            "hold_id": hold.hold_id,
            "charges": [dataclasses.asdict(a.charge) for a in hold.applied],
        }).decode()

    def settle(record: CallRecord, hold: str | None) -> None:
        if hold is None:
            return
        data = orjson.loads(hold)
        charges = [BudgetCharge(**c) for c in data["charges"]]
        nano = to_nano(record.cost_usd) if record.cost_usd is not None else 0
        tokens = record.input_tokens + record.output_tokens
        budgets.settle(data["hold_id"], charges, nano, tokens)

    return BatchHooks(reserve=reserve, settle=settle)
