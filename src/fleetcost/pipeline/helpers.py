"""Calls the gateway makes on a request's behalf, and the router's wiring.

The LLM router, the verifier, the agreement gate's second sample and shadow
evaluation all call a model that is not the answer the client gets. Each such
call still costs money, so each gets its own ledger row (same tenant, agent
and session as the request; `route_reason` names what it was for) whose
`saved_usd` is minus its cost: routing's overhead is counted against routing's
saving, never hidden.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from fleetcost.errors import ConfigError, FleetcostError
from fleetcost.pipeline.account import account
from fleetcost.pipeline.budget_helper import hold_helper
from fleetcost.pipeline.call import open_upstream
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.route import use
from fleetcost.pipeline.state import CallState
from fleetcost.pipeline.upstream import UpstreamConnectionError
from fleetcost.providers.base import Answer
from fleetcost.routing.base import Candidate, RouteInput, RouteRefused
from fleetcost.routing.candidates import allowed, chain
from fleetcost.routing.router import Router, build_policies
from fleetcost.types import Price

ZERO = Decimal(0)
# Helper calls save nothing themselves: priced against zero, their saving is -cost.
OVERHEAD = Price(model="routing-overhead", provider="fleetcost", input=ZERO, output=ZERO)


def sub_state(state: CallState, reason: str) -> CallState:
    sub = CallState(adapter=state.adapter, headers=state.headers)
    sub.request = state.request
    sub.identity = state.identity
    sub.route_reason = reason[:200]
    sub.reference_price = OVERHEAD
    return sub


async def helper_call(state: CallState, ctx: GatewayContext, candidate: Candidate,
                      body: bytes, reason: str) -> Answer | None:
    """One non-streamed call; None when it failed. Always leaves a ledger row."""
    sub = sub_state(state, reason)
    dep = use(sub, ctx, candidate)
    sub.adapter = dep.adapter
    if not hold_helper(state, sub, ctx, body, sub.price):
        return None  # the request's budgets cannot fit it: treated as a failed helper
    try:
        resp = await open_upstream(sub, ctx, dep, body, retries=0)
        try:
            payload = await resp.read()
        finally:
            resp.release()
        parsed = dep.adapter.parse_response(payload)
    except (FleetcostError, UpstreamConnectionError, TimeoutError) as exc:
        sub.outcome, sub.error = "error", str(exc)[:500]
        account(sub, ctx)
        return None
    except asyncio.CancelledError:
        sub.outcome, sub.error = "cancelled", "helper call timed out"
        account(sub, ctx)
        raise
    sub.usage, sub.answered_model = parsed.usage, parsed.model
    account(sub, ctx)
    return dep.adapter.answer(payload, False)


def helper_candidate(ctx: GatewayContext, state: CallState, model: str) -> Candidate:
    """Where a helper model runs: its alias or the client's protocol, within the allow-list."""
    settings = ctx.settings
    found = [c for c in chain(settings, model, state.adapter.kind)
             if allowed(settings, state.identity.tenant, c)]
    if not found:
        raise RouteRefused(f"helper model {model!r} is outside tenant "
                           f"{state.identity.tenant!r}'s allow-list")
    return found[0]


async def ask_model(ctx: GatewayContext, state: CallState, model: str, prompt: str,
                    schema: dict[str, Any] | None, reason: str) -> str | None:
    candidate = helper_candidate(ctx, state, model)
    adapter = ctx.deployments[candidate.provider].adapter
    body = adapter.prompt_body(candidate.model, prompt, 64, schema)
    answer = await helper_call(state, ctx, candidate, body, reason)
    return None if answer is None else answer.text


def build_router(ctx: GatewayContext) -> Router:
    async def ask(request: RouteInput, model: str, prompt: str, schema: dict[str, Any]) -> str:
        state = request.state
        assert isinstance(state, CallState)
        text = await ask_model(ctx, state, model, prompt, schema,
                               f"llm-router for {state.call_id}")
        if text is None:
            raise RuntimeError(f"router model {model} failed")
        return text

    def window(model: str) -> int | None:
        price = ctx.price(model)
        return price.context_window if price is not None else None

    try:
        policies = build_policies(ctx.settings, ask)
    except ValueError as exc:
        raise ConfigError(f"config: {exc}") from exc
    return Router(ctx.settings, policies, window)
