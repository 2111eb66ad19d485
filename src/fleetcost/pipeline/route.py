"""Route stage: which deployments answer this call, in which order, and why.

The router (`fleetcost.routing`) returns a plan: for a routed model name
(`[routing] models`, default `auto`) the policies pick a tier; any other name
is served as asked. Either way the plan lists the chosen model's deployments
and its fallbacks, already filtered by the tenant's data-residency allow-list,
the wire protocol, the context window and capabilities. `route_reason` is
short and explanatory: it lands in the ledger and in `X-Fleetcost-Route`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fleetcost.errors import BadRequest
from fleetcost.pipeline.context import Deployment, GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.pricing.tokens import count_messages
from fleetcost.routing.base import Candidate, RouteInput, RoutePlan
from fleetcost.routing.candidates import allowed

_TEXT_CAP = 20_000  # characters of the last user turn that policies read


def text_of(content: Any) -> tuple[str, bool]:
    """Text of a message's content and whether it holds an image."""
    if isinstance(content, str):
        return content, False
    parts, image = [], False
    for part in content if isinstance(content, list) else ():
        if isinstance(part, dict):
            if isinstance(part.get("text"), str):
                parts.append(part["text"])
            image = image or part.get("type") in ("image_url", "image", "input_image")
    return "\n".join(parts), image


def route_input(state: CallState) -> RouteInput:
    request = state.request
    assert request is not None
    text, images, chars = "", False, 0
    for message in request.messages:
        body, has_image = text_of(message.get("content"))
        chars += len(body) + 16
        images = images or has_image
        if message.get("role") == "user":
            text = body
    if isinstance(request.system, str):
        chars += len(request.system)
    elif request.system is not None:
        chars += sum(len(text_of([b])[0]) for b in request.system)

    def count() -> int:
        return count_messages(request.messages, request.model, tools=request.tools,
                              system=request.system).tokens

    return RouteInput(
        requested_model=request.model, tenant=state.identity.tenant,
        task_type=state.identity.task_type, text=text[-_TEXT_CAP:],
        chars=chars + (len(str(request.tools)) if request.tools else 0),
        max_output=request.max_tokens or 0, tools=bool(request.tools), images=images,
        response_format=request.body.get("response_format") is not None, count=count,
        state=state, opt=state.headers.get("x-fleetcost-route"),
        session=state.identity.session_id,
    )


def use(state: CallState, ctx: GatewayContext, candidate: Candidate) -> Deployment:
    """Point the call at one deployment of the plan (the first, or a fallback)."""
    state.deployment = candidate.provider
    state.upstream_model = candidate.model
    state.price = ctx.price(candidate.alias) or ctx.price(candidate.model)
    return ctx.deployments[candidate.provider]


async def route(state: CallState, ctx: GatewayContext) -> RoutePlan:
    assert state.request is not None
    plan = await ctx.router.plan(route_input(state), state.adapter.kind)
    if not plan.steps:
        requested = state.request.model
        alias = ctx.settings.models.get(requested)
        if alias is None:
            raise BadRequest(f"no provider of kind {state.adapter.kind} is configured",
                             param="model")
        provider = ctx.settings.providers[alias.provider]
        raise BadRequest(
            f"model {requested!r} is served by provider {alias.provider} over the "
            f"{provider.kind} protocol; send it to that protocol's endpoint", param="model")
    state.route_reason = plan.reason
    if plan.routed and plan.reference is not None:
        ref = plan.reference
        state.reference_price = ctx.price(ref.alias) or ctx.price(ref.model)
    use(state, ctx, plan.steps[0])
    return plan


def pin_first(state: CallState, ctx: GatewayContext, plan: RoutePlan, name: str) -> RoutePlan:
    """Put deployment `name` (the prefix-cache affinity's pick among an alias's
    interchangeable `deployments`) first in the plan, if the tenant may use it."""
    first = plan.steps[0]
    if name == first.provider:
        return plan
    chosen = Candidate(first.alias, name, first.model, ctx.settings.providers[name].region)
    if not allowed(ctx.settings, state.identity.tenant, chosen):
        use(state, ctx, first)  # residency beats cache affinity
        return plan
    use(state, ctx, chosen)
    rest = tuple(c for c in plan.steps if c.key != chosen.key)
    return dataclasses.replace(plan, steps=(chosen, *rest))
