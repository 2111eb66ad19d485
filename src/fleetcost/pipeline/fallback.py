"""Ordered fallbacks: try the plan's deployments until one answers.

A deployment is left for the next one on what another deployment may not
suffer: 429, 5xx (and 529), timeouts, refused connections, and a
context-length error (a fallback with a larger window may hold the prompt).
The failed deployment cools down (`[routing] cooldown_s`) so the next calls
start elsewhere. Only the last deployment of a plan gets the provider's
retries; earlier ones fail over at once. Other errors (a bad request) are the
client's to see and end the call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from fleetcost.errors import UpstreamError
from fleetcost.pipeline.call import RETRY_STATUSES, open_upstream
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.route import use
from fleetcost.pipeline.state import CallState
from fleetcost.pipeline.upstream import Response
from fleetcost.routing.base import Candidate

_CONTEXT_MARKERS = (b"context_length_exceeded", b"maximum context length",
                    b"prompt is too long", b"context window")


def context_length_error(exc: UpstreamError) -> bool:
    body = (exc.body or b"").lower()
    return exc.status in (400, 413) and any(m in body for m in _CONTEXT_MARKERS)


def body_for(state: CallState, model: str, extra: Mapping[str, Any] | None = None) -> bytes:
    assert state.request is not None
    body = state.adapter.upstream_body(state.request, model)
    if not extra:
        return body
    data = orjson.loads(body)
    for key, value in extra.items():
        if value is None:
            data.pop(key, None)  # None removes a field (stream_options off a stream)
        else:
            data[key] = value
    return orjson.dumps(data)


async def open_planned(state: CallState, ctx: GatewayContext, steps: Sequence[Candidate],
                       extra: Mapping[str, Any] | None = None) -> Response:
    """The first 200 among `steps`; raise the last error when none answers."""
    on_context = ctx.settings.routing.fallback_on_context_length
    for i, candidate in enumerate(steps):
        dep = use(state, ctx, candidate)
        last = i == len(steps) - 1
        try:
            resp = await open_upstream(state, ctx, dep, body_for(state, candidate.model, extra),
                                       retries=None if last else 0)
            ctx.router.affinity.remember(state.identity.session_id, candidate.key)
            return resp
        except UpstreamError as exc:
            worth = exc.status in RETRY_STATUSES or exc.status in (502, 504) or (
                on_context and context_length_error(exc))
            if worth:
                ctx.router.cooldowns.fail(candidate)
            if last or not worth:
                raise
            state.route_reason = (f"{state.route_reason}; {candidate.alias} failed "
                                  f"{exc.status}, fallback")[:200]
    raise UpstreamError("no deployment to call", status=502)
