"""Cascade: the weak model answers first; a gate accepts it or escalates.

The weak answer is buffered whole before anything reaches the client, for
JSON and for streams alike (a streamed weak answer is read through the
protocol's tap, so its usage is exact, then replayed as the very SSE stream
the provider sent). When the gate accepts, the client gets that answer and
one ledger row. When it rejects, the weak call becomes its own ledger row
(`outcome = escalated`, `escalated = 1`, its cost, and `saved_usd` minus that
cost) and the request goes on to the strong chain as a normal call, whose
row carries the call id the client sees. Either way the client receives one
well-formed answer in its own protocol.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from fleetcost.errors import FleetcostError
from fleetcost.pipeline.account import account
from fleetcost.pipeline.budget import rebudget, reserve
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.estimate import answer_usage, partial_usage
from fleetcost.pipeline.fallback import body_for, open_planned
from fleetcost.pipeline.helpers import OVERHEAD, ask_model, helper_call
from fleetcost.pipeline.route import text_of, use
from fleetcost.pipeline.state import CallState, new_call_id
from fleetcost.pipeline.upstream import Response, UpstreamConnectionError
from fleetcost.providers.base import Answer
from fleetcost.routing.base import Candidate, RoutePlan
from fleetcost.routing.gates import GateInput, Verdict, run_gates
from fleetcost.routing.llm_router import parse_verdict
from fleetcost.types import CallRecord

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["accept", "escalate"]}},
    "required": ["verdict"],
    "additionalProperties": False,
}


VERIFIER_INSTRUCTION = (
    "Judge whether the answer is correct, complete and responsive to the question. "
    'Reply JSON {"verdict": "accept"} or {"verdict": "escalate"} only.'
)


async def _buffer(state: CallState, resp: Response) -> tuple[bytes, Answer]:
    """Read the weak answer whole; for a stream, through the tap (exact usage)."""
    request = state.request
    assert request is not None
    done = False
    try:
        if not request.stream:
            payload = await resp.read()
            done = True
            parsed = state.adapter.parse_response(payload)
            answer = state.adapter.answer(payload, False)
            state.usage, state.answered_model = parsed.usage, parsed.model
            if not parsed.usage_reported:
                state.usage = answer_usage(state, answer)
            return payload, answer
        tap = state.adapter.stream_tap(request)
        parts = []
        async for chunk in resp.content.iter_any():
            parts.append(tap.feed(chunk))
            if state.ttft_ms is None and tap.first_token:
                state.ttft_ms = round((time.perf_counter() - state.started) * 1000, 3)
        parts.append(tap.finish())
        done = True
    finally:
        if done:
            resp.release()
        else:
            resp.close()
    raw = b"".join(parts)
    state.usage, state.answered_model = tap.usage, tap.model or state.upstream_model
    if tap.finish_reason is None or tap.error:
        raise UpstreamConnectionError(f"weak stream incomplete: {tap.error or 'cut'}")
    if not tap.usage_final:
        state.usage = partial_usage(state, tap)
    return raw, state.adapter.answer(raw, True)


def _answered(state: CallState, steps: tuple[Candidate, ...]) -> Candidate:
    return next(c for c in steps
                if c.provider == state.deployment and c.model == state.upstream_model)


def _gate_input(state: CallState, ctx: GatewayContext, candidate: Candidate,
                answer: Answer) -> GateInput:
    request = state.request
    assert request is not None
    cfg = ctx.settings.routing.cascade
    choice = request.body.get("tool_choice")
    question = next((text_of(m.get("content"))[0] for m in reversed(request.messages)
                     if m.get("role") == "user"), "")

    async def second_sample() -> Answer | None:
        body = body_for(state, candidate.model, {
            "stream": False, "stream_options": None, "temperature": cfg.agreement_temperature})
        return await helper_call(state, ctx, candidate, body,
                                 f"cascade agreement sample for {state.call_id}")

    async def verify(answer: Answer) -> bool | None:
        if cfg.verifier_model is None:
            return None
        prompt = (VERIFIER_INSTRUCTION + f"\n\nQuestion:\n{question[-4000:]}\n\n"
                  f"Answer:\n{answer.text[-4000:]}")
        try:
            text = await asyncio.wait_for(ask_model(
                ctx, state, cfg.verifier_model, prompt, VERDICT_SCHEMA,
                f"cascade verifier for {state.call_id}"), cfg.verifier_timeout_s)
        except (TimeoutError, FleetcostError):
            return None
        return None if text is None else parse_verdict(text)

    fmt = request.body.get("response_format")
    return GateInput(
        answer=answer, response_format=fmt if isinstance(fmt, dict) else None,
        tool_required=choice == "required" or (
            isinstance(choice, dict) and choice.get("type") in ("function", "any", "tool")),
        second_sample=second_sample, verify=verify,
    )


def _escalate(state: CallState, ctx: GatewayContext, plan: RoutePlan, why: str) -> None:
    """Record the weak call as escalated; the strong call goes on under a new call id.

    The weak row keeps the request's call id and its budget hold, which it
    settles with the weak cost; the strong call takes a fresh id (the one the
    client sees) and a fresh hold (`rehold`), so a budget is charged both costs.
    """
    final_id = new_call_id()
    weak = dataclasses.replace(
        state, outcome="escalated", escalated=True, reference_price=OVERHEAD, reply_headers=[],
        # The final call's id last and never cut: it links the two ledger rows.
        route_reason=f"{plan.reason}; escalated ({why})"[:160] + f" as {final_id}")
    account(weak, ctx)
    state.call_id, state.budget = final_id, None
    state.usage = state.answered_model = state.ttft_ms = state.error = None
    state.usage_estimated = False
    state.outcome = "success"
    state.route_reason = f"{plan.reason}; escalated: {why}"[:200]


def rehold(state: CallState, ctx: GatewayContext, steps: tuple[Candidate, ...]) -> None:
    """A budget hold for the strong call, at its price; raises `BudgetExceeded`."""
    if not steps:
        return
    use(state, ctx, steps[0])
    reserve(state, ctx, b"cache_control" if state.cache_marked else b"")
    rebudget(state, ctx)


async def try_weak(state: CallState, ctx: GatewayContext,
                   plan: RoutePlan) -> tuple[bytes, CallRecord, Answer] | None:
    """The accepted weak answer (raw JSON or SSE) and its record; None: escalate."""
    cfg = ctx.settings.routing.cascade
    extra = state.adapter.logprob_request if "logprobs" in cfg.gates else None
    try:
        resp = await open_planned(state, ctx, plan.steps, extra)
        raw, answer = await _buffer(state, resp)
    except (FleetcostError, UpstreamConnectionError, TimeoutError) as exc:
        state.error = str(exc)[:300]
        _escalate(state, ctx, plan, "weak call failed")
        return None
    verdict: Verdict = await run_gates(
        _gate_input(state, ctx, _answered(state, plan.steps), answer), cfg)
    if not verdict.accept:
        _escalate(state, ctx, plan, verdict.reason)
        return None
    state.route_reason = f"{plan.reason}; accepted: {verdict.reason}"[:200]
    return raw, account(state, ctx), answer
