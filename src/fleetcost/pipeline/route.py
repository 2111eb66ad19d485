"""Route stage: which deployment and upstream model answer this call.

For now a route is resolved from configuration alone: a `[models.ALIAS]`
entry names its provider and upstream model; any other model goes to the
default provider of the client's protocol under its own name. Routing
policies (rules, classifiers, cascades) will plug in here and must keep
`route_reason` short and explanatory, because it lands in the ledger and in
`X-Fleetcost-Route`.
"""

from __future__ import annotations

from fleetcost.errors import BadRequest
from fleetcost.pipeline.context import Deployment, GatewayContext
from fleetcost.pipeline.state import CallState


def route(state: CallState, ctx: GatewayContext) -> Deployment:
    assert state.request is not None
    requested = state.request.model
    kind = state.adapter.kind
    alias = ctx.settings.models.get(requested)
    if alias is not None:
        dep = ctx.deployments[alias.provider]
        upstream_model = alias.model or requested
        reason = f"alias:{requested}"
        price = ctx.price(requested) or ctx.price(upstream_model)
    else:
        found = ctx.default_deployment(kind)
        if found is None:
            raise BadRequest(f"no provider of kind {kind} is configured", param="model")
        dep, upstream_model, reason = found, requested, "direct"
        price = ctx.price(requested)
    if dep.config.kind != kind:
        raise BadRequest(
            f"model {requested!r} is served by provider {dep.name} over the "
            f"{dep.config.kind} protocol; send it to that protocol's endpoint",
            param="model",
        )
    state.deployment = dep.name
    state.upstream_model = upstream_model
    state.price = price
    state.route_reason = reason
    return dep
