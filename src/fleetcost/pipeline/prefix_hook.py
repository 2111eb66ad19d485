"""The prefix cache's hook on the request path, between route and call.

One call does the three things that need the prompt's block digests:
cache affinity (pick the deployment that holds this prefix), automatic
breakpoints (when configured, for explicit-cache protocols) and the
per-session comparison the prefix doctor reads. It fills `prefix_hash` and
`system_tokens` for the ledger and leaves a `PrefixEvidence` on the call's
state; `record_fields` hands both to the account stage.
"""

from __future__ import annotations

import logging
import time

from fleetcost.pipeline.breakpoints import add_breakpoints
from fleetcost.pipeline.context import Deployment, GatewayContext
from fleetcost.pipeline.prompt_blocks import Prompt
from fleetcost.pipeline.state import CallState
from fleetcost.pricing.prefix_rules import CacheRule, cache_rule
from fleetcost.types import CallRecord, Usage

log = logging.getLogger("fleetcost.prefix")


def before_call(state: CallState, ctx: GatewayContext, dep: Deployment) -> Deployment:
    assert state.request is not None
    rule = cache_rule(state.adapter.kind)
    session = state.identity.session_id
    key = (state.identity.tenant, session) if session else None
    try:
        prompt = ctx.prefix.prompt(state.request, rule, key)
    except Exception:
        # Diagnostics must never fail a call the adapter accepted: log the bug, go on.
        log.exception("prefix tracking failed on call %s; skipped", state.call_id)
        return dep
    state.prefix_hash, state.system_tokens = prompt.prefix_hash, prompt.system_tokens
    dep = _stick(state, ctx, dep, prompt, rule)
    if rule is None:
        return dep
    minimum = state.price.min_cacheable_tokens if state.price is not None else None
    if rule.explicit and ctx.settings.cache.anthropic_breakpoints.auto:
        state.request, prompt = add_breakpoints(state.request, prompt, rule, minimum)
    if key is not None:
        state.prefix_evidence = ctx.prefix.compare(key, state.call_id, prompt, rule, minimum)
    return dep


def _stick(state: CallState, ctx: GatewayContext, dep: Deployment, prompt: Prompt,
           rule: CacheRule | None) -> Deployment:
    """Among an alias's interchangeable deployments, the one warm with this prefix."""
    assert state.request is not None
    alias = ctx.settings.models.get(state.request.model)
    if alias is None or not alias.deployments:
        return dep
    names = [n for n in dict.fromkeys([alias.provider, *alias.deployments])
             if ctx.deployments[n].config.kind == dep.config.kind]
    if len(names) < 2:
        return dep
    key = None
    if prompt.prefix_hash is not None:
        key = f"{state.identity.tenant}\0{state.upstream_model}\0{prompt.prefix_hash}"
    ttl = 300.0
    if rule is not None:
        ttl = rule.ttl_1h_s if any(b.ttl == "1h" for b in prompt.blocks) else rule.ttl_s
    name, held = ctx.affinity.choose(key, names, ttl, time.monotonic())
    state.deployment = name
    if held:
        state.route_reason = f"{state.route_reason or ''}+affinity"
    return ctx.deployments[name]


def record_fields(state: CallState, usage: Usage, record: CallRecord) -> None:
    """Copy the hook's findings onto the ledger record."""
    record.prefix_hash = state.prefix_hash
    record.system_tokens = state.system_tokens
    evidence = state.prefix_evidence
    if evidence is not None:
        evidence.cache_write_1h_tokens = usage.cache_write_1h_tokens
        record.extra["prefix"] = evidence
