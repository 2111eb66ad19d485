"""The degrade and summarize plans a budget applies instead of refusing.

Degrade (a budget's soft limit passed, or `action = "degrade"` at its hard
limit): switch to the first of the budget's `degrade_models` that speaks the
call's protocol and costs less, clamp `max_tokens` to `degrade_max_tokens`,
and ask the compress stage to shrink the context (`state.compress`). The
call proceeds with a warning header.

Summarize (`action = "summarize"` at the hard limit): one final cheap call
(the cheapest degrade model, `summarize_max_tokens` of output) that returns
the best answer available; its finish reason is rewritten to
`budget_exceeded` so the agent knows to stop. It is still reserved against
the budget: if even that call does not fit, the call is refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from fleetcost.pipeline.budget_hold import BudgetHold
from fleetcost.pipeline.budget_rules import Applied, from_nano
from fleetcost.pipeline.caps import clamp_max_tokens
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.types import Price

FINISH = "budget_exceeded"


def preview_price(state: CallState, ctx: GatewayContext) -> Price | None:
    """The price of the model the route stage will pick for the requested name."""
    assert state.request is not None
    requested = state.request.model
    routing = ctx.settings.routing
    if requested in routing.models and routing.strong is not None:
        requested = routing.strong  # a routed name: hold at the strong tier until routed
    alias = ctx.settings.models.get(requested)
    if alias is not None:
        return ctx.price(requested) or ctx.price(alias.model or requested)
    return ctx.price(requested)


def soft_crossed(hold: BudgetHold) -> Applied | None:
    for a in hold.applied:
        soft = a.rule.soft_nano
        if soft is not None and hold.used_nano.get(a.charge.key, 0) > soft:
            return a
    return None


def _cheaper(state: CallState, ctx: GatewayContext, models: list[str]) -> list[tuple[str, Price]]:
    assert state.request is not None
    current = preview_price(state, ctx)
    kind = state.adapter.kind
    found = []
    for model in models:
        alias = ctx.settings.models.get(model)
        price = ctx.price(model) or (ctx.price(alias.model) if alias and alias.model else None)
        provider_kind = (ctx.deployments[alias.provider].config.kind if alias
                         else price.provider if price else None)
        if price is None or provider_kind != kind or model == state.request.model:
            continue
        # One total order (input + output rate), so repeated degrading always ends.
        if current is None or price.input + price.output < current.input + current.output:
            found.append((model, price))
    return found


def _switch(state: CallState, model: str) -> None:
    req = state.request
    assert req is not None
    if state.requested_model is None:
        state.requested_model = req.model
    req.model = model
    req.body["model"] = model
    state.prompt_count = None  # counted again for the new model's tokenizer
    state.route_reason = "budget-degrade"


def degrade(state: CallState, ctx: GatewayContext, applied: Applied) -> bool:
    """Apply the budget's degrade plan; False when it has nothing to change."""
    cfg = applied.rule.config
    changed = False
    options = _cheaper(state, ctx, cfg.degrade_models)
    if options:
        _switch(state, options[0][0])
        changed = True
    req = state.request
    assert req is not None
    if cfg.degrade_max_tokens is not None and (req.max_tokens or 1 << 62) > cfg.degrade_max_tokens:
        clamp_max_tokens(state, cfg.degrade_max_tokens)
        changed = True
    if cfg.degrade_compress and not state.compress:
        state.compress = True
        changed = True
    return changed


def summarize(state: CallState, ctx: GatewayContext, applied: Applied) -> bool:
    cfg = applied.rule.config
    options = sorted(_cheaper(state, ctx, cfg.degrade_models), key=lambda o: o[1].output)
    if options:
        _switch(state, options[0][0])
    clamp_max_tokens(state, cfg.summarize_max_tokens)
    state.summarize = True
    return True


def remaining_header(hold: BudgetHold) -> tuple[bytes, bytes] | None:
    rooms = [a.charge.limit_nano - hold.used_nano.get(a.charge.key, 0)
             for a in hold.applied if a.charge.limit_nano is not None]
    if not rooms:
        return None
    return b"x-fleetcost-budget-remaining-usd", f"{from_nano(max(min(rooms), 0)):f}".encode()


def mark_finished(payload: bytes) -> bytes:
    """Rewrite a JSON answer's finish reason to `budget_exceeded` (either protocol)."""
    try:
        data: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if isinstance(data, dict):
        for choice in data.get("choices") or []:
            if isinstance(choice, dict):
                choice["finish_reason"] = FINISH
        if "stop_reason" in data:
            data["stop_reason"] = FINISH
    return orjson.dumps(data)


def mark_stream(chunk: bytes) -> bytes:
    """The same in SSE bytes: finish events carry the reason as a JSON string."""
    for field in (b'"finish_reason":', b'"stop_reason":'):
        start = 0
        while (i := chunk.find(field, start)) >= 0:
            j = i + len(field)
            while j < len(chunk) and chunk[j:j + 1] == b" ":
                j += 1
            if chunk[j:j + 1] == b'"':
                end = chunk.find(b'"', j + 1)
                chunk = chunk[:j] + b'"' + FINISH.encode() + chunk[end:]
            start = j
    return chunk
