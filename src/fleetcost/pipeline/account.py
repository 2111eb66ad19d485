"""Account stage: usage -> exact cost -> ledger record.

Runs exactly once per call that reached the route stage, whatever happened
next (success, upstream error, client gone mid-stream), so the ledger never
misses a call. The cost comes from the provider's own usage fields and the
catalog through the one pure `cost` function; a model with no price gets an
empty cost (reported as unpriced), never $0.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from fleetcost.pipeline.budget import settle_budget
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.prefix_hook import record_fields
from fleetcost.pipeline.state import CallState
from fleetcost.pricing.cost import cost, format_usd
from fleetcost.types import CallRecord, Price, Usage

log = logging.getLogger("fleetcost.account")
# Calls the guard or budget stage refused: recorded, never billed.
REFUSED = frozenset({"budget_exceeded", "loop_detected"})


def cache_status(usage: Usage, price: Price | None) -> str:
    """The provider prefix cache's verdict: hit, write, miss or none (not cacheable)."""
    if usage.cached_tokens:
        return "hit"
    if usage.cache_write_tokens:
        return "write"
    minimum = price.min_cacheable_tokens if price is not None else None
    if minimum is not None and usage.input_tokens >= minimum:
        return "miss"
    return "none"


def account(state: CallState, ctx: GatewayContext) -> CallRecord:
    usage = state.usage or Usage()
    price = state.price
    amount: Decimal | None = cost(usage, price) if price is not None else None
    if state.response_cache in ("exact", "semantic") or state.outcome in REFUSED:
        amount = Decimal(0)  # answered from our cache, or refused: nothing was billed
    elif price is None and state.upstream_model:
        log.warning("model %s has no price: call %s recorded as unpriced",
                    state.upstream_model, state.call_id)
    saved = state.saved_usd
    if state.reference_price is not None and amount is not None:
        saved = cost(usage, state.reference_price) - amount
    ident = state.identity
    record = CallRecord(
        call_id=state.call_id,
        ts=state.ts,
        tenant=ident.tenant,
        agent_id=ident.agent_id,
        session_id=ident.session_id,
        parent_id=ident.parent_id,
        task_type=ident.task_type,
        requested_model=state.requested_model or (state.request.model if state.request else None),
        model=state.answered_model or state.upstream_model,
        provider=state.deployment,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_status=cache_status(usage, price),
        response_cache=state.response_cache,
        cost_usd=amount,
        saved_usd=saved,
        latency_ms=round((time.perf_counter() - state.started) * 1000, 3),
        ttft_ms=state.ttft_ms,
        escalated=state.escalated,
        outcome=state.outcome,
        route_reason=state.route_reason,
        error=state.error,
        output_cap=state.request.max_tokens if state.request else None,
        usage_source="estimated" if state.usage_estimated else "provider",
    )
    record_fields(state, usage, record)
    ctx.emit(record)
    settle_budget(state, ctx, record)
    return record


def cost_header(record: CallRecord) -> bytes:
    return format_usd(record.cost_usd).encode() if record.cost_usd is not None else b"unpriced"


def cost_tail(record: CallRecord) -> bytes:
    """The SSE comments closing a stream: the cost, preceded by a note when it
    is priced from estimated usage (the stream's headers left before that was known)."""
    note = b": fleetcost-usage=estimated\n\n" if record.usage_source == "estimated" else b""
    return note + b": fleetcost-cost-usd=" + cost_header(record) + b"\n\n"
