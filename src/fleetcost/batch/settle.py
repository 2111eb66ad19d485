"""A finished batch item -> its ledger record, at the batch price.

The record carries the attribution of the original request (stored with the
item), `batch = 1`, the cost through the one cost function with
`batch=True`, and as `saved_usd` what the same usage would have cost live:
the evidence for what offloading saved. Items that failed, expired or were
cancelled were not billed by the provider and land with cost 0 and the
reason in `error`, so every accepted call is in the ledger exactly once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from fleetcost.errors import FleetcostError
from fleetcost.pipeline.account import cache_status
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pricing.cost import cost
from fleetcost.providers import registry
from fleetcost.providers.batch_wire import ItemOutcome
from fleetcost.storage.batch_sqlite import Settled, StoredItem
from fleetcost.types import CallOutcome, CallRecord, Usage

log = logging.getLogger("fleetcost.batch")
_OUTCOMES: dict[str, CallOutcome] = {"succeeded": "success", "errored": "error",
                                     "expired": "error", "canceled": "cancelled"}


def settle(ctx: GatewayContext, item: StoredItem, outcome: ItemOutcome | None) -> Settled:
    """`outcome` None: the provider returned nothing for this item (counted as errored)."""
    kind = outcome.kind if outcome is not None else "errored"
    error = outcome.error if outcome is not None else "missing from the batch's results"
    usage, model = Usage(), item.model
    if outcome is not None and kind == "succeeded" and outcome.body is not None:
        try:
            parsed = registry.get(item.wire).parse_response(outcome.body)
            usage, model = parsed.usage, parsed.model or item.model
        except FleetcostError as exc:
            kind, error = "errored", f"unreadable result: {exc.message}"
    price = ctx.price(item.requested_model or item.model) or ctx.price(item.model)
    amount = saved = None
    if price is not None:
        amount = cost(usage, price, batch=True)
        saved = cost(usage, price) - amount
    elif kind == "succeeded":
        log.warning("model %s has no price: batch item %s recorded as unpriced",
                    item.model, item.item_id)
    ident = item.identity
    queued = datetime.fromisoformat(item.ts)
    record = CallRecord(
        call_id=item.item_id, ts=item.ts, tenant=ident.get("tenant") or "default",
        agent_id=ident.get("agent_id"), session_id=ident.get("session_id"),
        parent_id=ident.get("parent_id"), task_type=ident.get("task_type"),
        requested_model=item.requested_model, model=model, provider=item.provider,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens, cache_write_tokens=usage.cache_write_tokens,
        cache_status=cache_status(usage, price), response_cache="bypass",
        cost_usd=amount, saved_usd=saved or Decimal(0),
        latency_ms=round((datetime.now(UTC) - queued).total_seconds() * 1000, 3),
        outcome=_OUTCOMES[kind], route_reason=f"{item.route_reason or 'direct'}+batch",
        batch=True, error=None if kind == "succeeded" else error,
    )
    result = outcome.body if outcome is not None else None
    return Settled(item.item_id, kind, result, record.error, record)
