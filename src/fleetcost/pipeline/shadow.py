"""Shadow calls: a sample of cheap-routed calls is re-asked of the strong model.

Runs after the client has its answer (a background task), so it adds nothing
to the call's latency. The strong call is a ledger row of its own (its cost
is routing's overhead); the agreement of the two answers goes to the
`shadow_evals` table, per task type, to audit the routing policy.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.fallback import body_for
from fleetcost.pipeline.helpers import helper_call
from fleetcost.pipeline.state import CallState
from fleetcost.routing.base import Candidate, RoutePlan
from fleetcost.routing.shadow import sampled
from fleetcost.routing.similarity import similarity
from fleetcost.storage.shadow import ShadowRecord

log = logging.getLogger("fleetcost.shadow")


def wants_shadow(state: CallState, ctx: GatewayContext, plan: RoutePlan) -> bool:
    """Is this call (answered by the weak tier of a routed plan) in the shadow sample?"""
    return (plan.routed and ctx.shadow_sink is not None and plan.reference is not None
            and f"{state.deployment}/{state.upstream_model}" in plan.weak
            and sampled(state.call_id, ctx.settings.routing.shadow.sample_rate))


def maybe_shadow(state: CallState, ctx: GatewayContext, plan: RoutePlan, text: str) -> None:
    if not wants_shadow(state, ctx, plan) or plan.reference is None:
        return
    task = asyncio.get_running_loop().create_task(_shadow(state, ctx, plan.reference, text))
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)


async def _shadow(state: CallState, ctx: GatewayContext, candidate: Candidate,
                  text: str) -> None:
    # The reference passed the plan's constraints, the tenant's allow-list included.
    body = body_for(state, candidate.model, {"stream": False, "stream_options": None})
    answer = await helper_call(state, ctx, candidate, body, f"shadow of {state.call_id}")
    if answer is None or ctx.shadow_sink is None:
        return
    score = similarity(text, answer.text)
    record = ShadowRecord(
        call_id=state.call_id, shadow_call_id="", ts=datetime.now(UTC).isoformat(),
        tenant=state.identity.tenant, task_type=state.identity.task_type,
        weak_model=state.answered_model or state.upstream_model, strong_model=candidate.model,
        similarity=round(score, 4), agree=score >= ctx.settings.routing.shadow.agree_threshold,
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, ctx.shadow_sink, record)
    except Exception:  # an audit write must never disturb serving
        log.exception("shadow record for %s not written", state.call_id)
