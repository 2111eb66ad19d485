"""Runs the stages for one chat call and shapes the reply.

Handlers in `server/` stay thin: they decode the transport and call
`handle_chat`, which returns either a whole `Reply` or a `StreamReply` whose
iterator accounts the call when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal

from fleetcost.errors import BudgetExceeded, FleetcostError, LoopDetected, UpstreamError
from fleetcost.pipeline.account import account, cost_header, cost_tail
from fleetcost.pipeline.budget import keep_alive, rebudget, release, reserve
from fleetcost.pipeline.budget_plan import mark_finished, mark_stream, remaining_header
from fleetcost.pipeline.cache import CachePlan, cache_version, entry_for, lookup
from fleetcost.pipeline.cache import plan as cache_plan
from fleetcost.pipeline.cascade import rehold, try_weak
from fleetcost.pipeline.compress import compress, mark_route
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.estimate import answer_usage, partial_usage
from fleetcost.pipeline.fallback import open_planned
from fleetcost.pipeline.guard import guard
from fleetcost.pipeline.identify import identify
from fleetcost.pipeline.offload import wants_batch
from fleetcost.pipeline.prefix_hook import before_call
from fleetcost.pipeline.route import pin_first, route
from fleetcost.pipeline.semantic import lookup_semantic, plan_semantic, store_semantic
from fleetcost.pipeline.shadow import maybe_shadow, wants_shadow
from fleetcost.pipeline.state import CallState, Reply, StreamReply
from fleetcost.pipeline.upstream import Response, UpstreamConnectionError
from fleetcost.pricing.cost import format_usd
from fleetcost.providers.base import Answer, StreamTap, WireAdapter
from fleetcost.routing.base import Candidate, RoutePlan
from fleetcost.storage.base import CacheEntry
from fleetcost.types import CallRecord, Usage

log = logging.getLogger("fleetcost.pipeline")

JSON = (b"content-type", b"application/json")
SSE = (b"content-type", b"text/event-stream; charset=utf-8")
# Upstream response headers worth passing on (request ids help users talk to providers).
FORWARDED = ("x-request-id", "request-id", "openai-processing-ms", "retry-after")


def error_reply(adapter: WireAdapter, error: FleetcostError) -> Reply:
    return Reply(error.status, [JSON], adapter.error_body(error))


def _headers(state: CallState, record: CallRecord | None) -> list[tuple[bytes, bytes]]:
    out = [
        (b"x-fleetcost-call-id", state.call_id.encode()),
        (b"x-fleetcost-model", (state.answered_model or state.upstream_model or "").encode()),
        (b"x-fleetcost-route", (state.route_reason or "").encode()),
        (b"x-fleetcost-cache", state.response_cache.encode()),
    ]
    if record is not None:
        out.append((b"x-fleetcost-cost-usd", cost_header(record)))
        if record.usage_source == "estimated":
            out.append((b"x-fleetcost-usage", b"estimated"))
    elif state.budget is not None and (room := remaining_header(state.budget)) is not None:
        out.append(room)  # a stream's headers leave before it settles: room as reserved
    out += state.reply_headers
    if state.compress_note:
        out.append((b"x-fleetcost-compress", state.compress_note.encode()))
    return out


async def handle_chat(
    ctx: GatewayContext, adapter: WireAdapter, headers: dict[str, str], body: bytes
) -> Reply | StreamReply:
    state = CallState(adapter=adapter, headers=headers)
    try:
        state.request = adapter.parse_request(body)
        identify(state)
        ctx.keep_body(state.call_id, adapter.kind, body)
        guard(state, ctx, body)
        reserve(state, ctx, body)
        if wants_batch(state):
            await route(state, ctx)
            mark_route(state)
            rebudget(state, ctx)
            assert state.upstream_model is not None
            return await ctx.batch.accept(
                state, adapter.upstream_body(state.request, state.upstream_model))
        cache = cache_plan(state, ctx.settings.cache)
        hit = lookup(ctx.cache, cache, ctx.cache_pending)
        if hit is not None:
            return _from_cache(state, ctx, hit)
        if ctx.semantic is not None:
            state.semantic = plan_semantic(state, ctx.settings.cache.semantic, cache,
                                           cache_version(state))
            if state.semantic is not None:
                hit = await lookup_semantic(ctx.semantic, state.semantic)
                if hit is not None:
                    return _from_cache(state, ctx, hit, "semantic")
        await compress(state, ctx)
        plan = await route(state, ctx)
        mark_route(state)
        first = ctx.deployments[plan.steps[0].provider]
        plan = pin_first(state, ctx, plan, before_call(state, ctx, first).name)
        rebudget(state, ctx)
    except (BudgetExceeded, LoopDetected) as exc:
        return _refused(state, ctx, exc)
    except FleetcostError as exc:
        release(state, ctx)
        return error_reply(adapter, exc)
    if cache.key is not None:
        state.response_cache = "miss"
    steps = plan.steps
    if plan.escalate:
        accepted = await try_weak(state, ctx, plan)
        if accepted is not None:
            return _accepted(state, ctx, plan, cache, *accepted)
        steps = plan.escalate
        try:
            rehold(state, ctx, steps)
        except BudgetExceeded as exc:
            return _refused(state, ctx, exc)
    if state.request.stream:
        return await _streamed(state, ctx, plan, steps, cache)
    return await _whole(state, ctx, plan, steps, cache)


def _accepted(state: CallState, ctx: GatewayContext, plan: RoutePlan, cache: CachePlan,
              raw: bytes, record: CallRecord, answer: Answer) -> Reply | StreamReply:
    """The cascade's weak answer passed its gate: send it as the provider sent it."""
    _store(state, ctx, cache, raw, record)
    maybe_shadow(state, ctx, plan, answer.text)
    if state.request is not None and state.request.stream:
        tail = cost_tail(record)
        return StreamReply(200, [SSE, (b"cache-control", b"no-cache"), *_headers(state, record)],
                           _replay(raw + tail))
    return Reply(200, [JSON, *_headers(state, record)], raw)


def _refused(state: CallState, ctx: GatewayContext, exc: FleetcostError) -> Reply:
    """A guard or budget said no: nothing goes upstream; the refusal is in the ledger at $0."""
    release(state, ctx)
    state.budget = None
    state.outcome = "budget_exceeded" if isinstance(exc, BudgetExceeded) else "loop_detected"
    state.error = exc.message
    record = account(state, ctx)
    return Reply(exc.status, [JSON, *_headers(state, record)], state.adapter.error_body(exc))


def _from_cache(state: CallState, ctx: GatewayContext, hit: CacheEntry,
                kind: str = "exact") -> Reply | StreamReply:
    """Answer from a cache: nothing upstream, the original cost saved."""
    state.response_cache = kind
    state.saved_usd = Decimal(hit.cost_usd) if hit.cost_usd is not None else Decimal(0)
    state.answered_model = hit.model
    state.usage = Usage()
    if kind == "exact":  # the semantic cache counts its hits itself
        ctx.cache.hit(hit.key)
    record = account(state, ctx)
    if not hit.stream:
        return Reply(200, [JSON, *_headers(state, record)], hit.body)
    return StreamReply(200, [SSE, (b"cache-control", b"no-cache"), *_headers(state, record)],
                       _replay(hit.body + b": fleetcost-cost-usd=0\n\n"))


async def _replay(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _store(state: CallState, ctx: GatewayContext, cache: CachePlan, body: bytes,
           record: CallRecord) -> None:
    """Write the answer to the caches off the response path."""
    if not cache.write or cache.key is None or state.outcome != "success":
        return
    cost = format_usd(record.cost_usd) if record.cost_usd is not None else None
    store_semantic(state, ctx, body, cost)
    entry = entry_for(state, cache, body, ctx.settings.cache.ttl_s, cost)
    ctx.cache_pending[entry.key] = entry
    future = asyncio.get_running_loop().run_in_executor(None, ctx.cache.put, entry)

    def written(done: asyncio.Future[None]) -> None:
        if ctx.cache_pending.get(entry.key) is entry:
            del ctx.cache_pending[entry.key]
        if not done.cancelled() and done.exception() is not None:
            log.error("cache write failed: %s", done.exception())

    future.add_done_callback(written)


def _failed(state: CallState, ctx: GatewayContext, exc: UpstreamError) -> Reply:
    state.outcome = "error"
    state.error = exc.message
    record = account(state, ctx)
    body = exc.body or state.adapter.error_body(exc)
    return Reply(exc.status, [JSON, *_headers(state, record)], body)


async def _whole(
    state: CallState, ctx: GatewayContext, plan: RoutePlan, steps: tuple[Candidate, ...],
    cache: CachePlan,
) -> Reply:
    try:
        resp = await open_planned(state, ctx, steps)
        try:
            payload = await resp.read()
        except (UpstreamConnectionError, TimeoutError) as exc:
            raise UpstreamError(f"upstream {state.deployment} response cut: "
                                f"{type(exc).__name__}", status=502) from exc
        finally:
            resp.release()
        parsed = state.adapter.parse_response(payload)
    except UpstreamError as exc:
        return _failed(state, ctx, exc)
    state.usage = parsed.usage
    if not parsed.usage_reported:
        state.usage = answer_usage(state, state.adapter.answer(payload, False))
    state.answered_model = parsed.model
    record = account(state, ctx)
    _store(state, ctx, cache, payload, record)
    if wants_shadow(state, ctx, plan):
        maybe_shadow(state, ctx, plan, state.adapter.answer(payload, False).text)
    if state.summarize:
        payload = mark_finished(payload)
    extra = [(k.encode(), v.encode()) for k in FORWARDED if (v := resp.headers.get(k))]
    return Reply(200, [JSON, *_headers(state, record), *extra], payload)


async def _streamed(
    state: CallState, ctx: GatewayContext, plan: RoutePlan, steps: tuple[Candidate, ...],
    cache: CachePlan,
) -> Reply | StreamReply:
    assert state.request is not None
    try:
        resp = await open_planned(state, ctx, steps)
    except UpstreamError as exc:
        return _failed(state, ctx, exc)
    tap = state.adapter.stream_tap(state.request)
    headers = [SSE, (b"cache-control", b"no-cache"), *_headers(state, None)]
    return StreamReply(200, headers, _relay(state, ctx, resp, tap, cache, plan))


async def _relay(
    state: CallState, ctx: GatewayContext, resp: Response, tap: StreamTap, cache: CachePlan,
    plan: RoutePlan,
) -> AsyncIterator[bytes]:
    """Forward the upstream stream through the tap; account once at the end.

    The cost of a finished stream is appended as an SSE comment line
    (`: fleetcost-cost-usd=...`), which SSE clients ignore, because the HTTP
    headers left before the cost was known.
    """
    completed = False
    shadow = wants_shadow(state, ctx, plan)
    keep = shadow or (cache.write and cache.key is not None)
    kept: list[bytes] | None = [] if keep else None
    try:
        async for chunk in resp.content.iter_any():
            out = tap.feed(chunk)
            if state.budget is not None:
                keep_alive(state.budget, ctx)
            if state.summarize and out:
                out = mark_stream(out)
            if state.ttft_ms is None and tap.first_token:
                state.ttft_ms = round((time.perf_counter() - state.started) * 1000, 3)
            if out:
                if kept is not None:
                    kept.append(out)
                yield out
        tail = tap.finish()
        if state.summarize and tail:
            tail = mark_stream(tail)
        if tail:
            if kept is not None:
                kept.append(tail)
            yield tail
        if tap.finish_reason is None:
            state.outcome, state.error = "error", "upstream stream ended before completion"
        completed = True
    except (GeneratorExit, asyncio.CancelledError):
        state.outcome = "cancelled"
        raise
    except (UpstreamConnectionError, TimeoutError) as exc:
        state.outcome, state.error = "error", f"upstream stream cut: {type(exc).__name__}"
    finally:
        if completed:
            resp.release()
        else:
            resp.close()
        state.answered_model = tap.model or state.upstream_model
        # A stream that finished without its usage event (some hosts never
        # send it) is estimated like one cut short, and flagged as such.
        complete = state.outcome == "success" and tap.usage is not None and tap.usage_final
        state.usage = tap.usage if complete else partial_usage(state, tap)
        record = account(state, ctx)
        if kept is not None:
            _store(state, ctx, cache, b"".join(kept), record)
            if shadow and completed:
                maybe_shadow(state, ctx, plan, state.adapter.answer(b"".join(kept), True).text)
    if completed:
        yield cost_tail(record)
