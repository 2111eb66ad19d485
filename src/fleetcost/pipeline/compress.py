"""Compress stage: send a long conversation shorter, before it is routed.

Whether a call is compressed, first to decide: an earlier stage's choice of
policies (`state.compress_policy`; `()` forces it off), a budget's degrade
plan (`state.compress = True`: the configured policies), the
client's `X-Fleetcost-Compress: on|off|POLICY,...` header, then `[compress]`
(`enabled`, or the call's task type in `task_types`). The policies live in
`fleetcost.compress`; this stage feeds them, supplies the summariser and
records what happened.

A summary is a real model call through the gateway's own upstream leg, so
it is priced, retried and written to the ledger like any call: same tenant,
agent, session and task as the call it serves, `parent_id` = that call and
`route_reason = compress-summary` (overhead the session's cost includes).
If it fails, its block is sent verbatim; compression never fails a call.

Evidence: `state.compress_note` (what each policy did and the tokens saved)
becomes a `;compress=...` suffix of `route_reason` and the response header
`X-Fleetcost-Compress`.
"""

from __future__ import annotations

import dataclasses

import orjson

from fleetcost.compress import POLICIES, CacheRates, Knobs, Outcome
from fleetcost.compress import compress as run_policies
from fleetcost.compress.conv import Summarise
from fleetcost.compress.memo import block_key
from fleetcost.compress.rules import rules
from fleetcost.compress.units import DIALECTS
from fleetcost.config import CompressConfig
from fleetcost.errors import BadRequest, FleetcostError
from fleetcost.pipeline.account import account
from fleetcost.pipeline.budget_helper import hold_helper
from fleetcost.pipeline.call import open_upstream
from fleetcost.pipeline.context import Deployment, GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.pipeline.upstream import UpstreamConnectionError
from fleetcost.types import Price

HEADER = "x-fleetcost-compress"
SUMMARY_REASON = "compress-summary"
Target = tuple[Deployment, str, Price | None]


def chosen(state: CallState, cfg: CompressConfig) -> tuple[str, ...]:
    """The policies to run for this call; empty when compression is off."""
    if state.compress_policy is not None:
        return tuple(state.compress_policy)
    if state.compress:  # a budget's degrade plan asked for it
        return tuple(cfg.policies)
    value = state.headers.get(HEADER, "").strip().lower()
    if value == "off":
        return ()
    if value == "on":
        return tuple(cfg.policies)
    if value:
        names = tuple(p.strip() for p in value.split(",") if p.strip())
        unknown = [n for n in names if n not in POLICIES]
        if unknown:
            raise BadRequest(
                f"X-Fleetcost-Compress names unknown policies {unknown}; use on, off or "
                f"a comma list of {', '.join(POLICIES)}", param="X-Fleetcost-Compress")
        return names
    if cfg.enabled or (state.identity.task_type or "") in cfg.task_types:
        return tuple(cfg.policies)
    return ()


def knobs(cfg: CompressConfig) -> Knobs:
    return Knobs(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(Knobs)})


async def compress(state: CallState, ctx: GatewayContext) -> None:
    cfg = ctx.settings.compress
    policies = chosen(state, cfg)
    request = state.request
    if not policies or request is None:
        return
    target = summary_target(state, ctx, cfg) if "summary" in policies else None
    outcome = await run_policies(
        state.adapter.kind, request.messages, request.model, policies, knobs(cfg),
        _summariser(state, ctx, cfg, target), min_tokens=cfg.min_input_tokens,
        rates=cache_rates(_price(ctx, request.model), target[2] if target else None),
    )
    if outcome.changed:
        messages = outcome.messages
        state.request = dataclasses.replace(
            request, body={**request.body, "messages": messages}, messages=messages)
    state.compress_note = note(outcome)


def cache_rates(price: Price | None, summary: Price | None = None) -> CacheRates:
    """The model's cache prices and the summary model's prices, as fractions of
    the model's input price (unknown model: no cache, summaries free)."""
    if price is None or not price.input:
        return CacheRates()
    read = price.cache_read if price.cache_read is not None else price.input
    write = price.cache_write_5m if price.cache_write_5m is not None else price.input
    rates = CacheRates(read / price.input, write / price.input)
    if summary is None:
        return rates
    return dataclasses.replace(rates, summary_input=summary.input / price.input,
                               summary_output=summary.output / price.input)


def _price(ctx: GatewayContext, model: str) -> Price | None:
    """The requested model's price; route has not run yet, so resolve an alias here."""
    alias = ctx.settings.models.get(model)
    upstream = alias.model if alias is not None and alias.model else None
    return ctx.price(model) or (ctx.price(upstream) if upstream else None)


def note(outcome: Outcome) -> str:
    what = "+".join(outcome.done) or "none"
    return f"{what},saved={outcome.saved_tokens}" if outcome.changed else what


def mark_route(state: CallState) -> None:
    """Append the compression note to the route reason (run after route)."""
    if state.compress_note:
        state.route_reason = f"{state.route_reason or ''};compress={state.compress_note}"


def summary_target(state: CallState, ctx: GatewayContext, cfg: CompressConfig) -> Target | None:
    """The first summary model served over the client's own protocol."""
    kind = state.adapter.kind
    for name in cfg.summary_models:
        alias = ctx.settings.models.get(name)
        if alias is not None:
            dep: Deployment | None = ctx.deployments[alias.provider]
            upstream = alias.model or name
            price = ctx.price(name) or ctx.price(upstream)
        else:
            price = ctx.price(name)
            if price is None or price.provider != kind:
                continue
            dep, upstream = ctx.default_deployment(kind), name
        if dep is not None and dep.config.kind == kind:
            return dep, upstream, price
    return None


def _summariser(state: CallState, ctx: GatewayContext, cfg: CompressConfig,
                target: Target | None) -> Summarise:
    dialect = DIALECTS[state.adapter.kind]
    prompt = rules().summary_prompt

    async def summarise(transcript: str) -> str | None:
        if target is None:
            return None
        model = target[1]
        body = dialect.summary_body(model, prompt, transcript, cfg.summary_max_tokens)
        return await ctx.summaries.get(
            block_key(model, prompt, transcript),
            lambda: _summary_call(state, ctx, target, orjson.dumps(body)),
        )

    return summarise


async def _summary_call(
    parent: CallState, ctx: GatewayContext, target: Target, body: bytes
) -> str | None:
    dep, model, price = target
    sub = CallState(adapter=dep.adapter, headers=parent.headers)
    sub.identity = dataclasses.replace(parent.identity, parent_id=parent.call_id)
    sub.deployment, sub.upstream_model, sub.price = dep.name, model, price
    sub.route_reason = SUMMARY_REASON
    if not hold_helper(parent, sub, ctx, body, price):
        return None  # the request's budgets cannot fit a summary: send it uncompressed
    try:
        sub.request = dep.adapter.parse_request(body)
        resp = await open_upstream(sub, ctx, dep, dep.adapter.upstream_body(sub.request, model))
        try:
            payload = await resp.read()
        finally:
            resp.release()
        parsed = dep.adapter.parse_response(payload)
        text = DIALECTS[dep.adapter.kind].answer_text(payload).strip()
    except (FleetcostError, UpstreamConnectionError, TimeoutError, orjson.JSONDecodeError,
            AttributeError, TypeError) as exc:
        sub.outcome, sub.error = "error", f"compress summary failed: {exc}"
        account(sub, ctx)
        return None
    sub.usage, sub.answered_model = parsed.usage, parsed.model
    account(sub, ctx)
    return text or None
