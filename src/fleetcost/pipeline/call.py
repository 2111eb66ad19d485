"""Call stage: send the request upstream, with retries.

Retries cover what a provider documents as transient: 408, 409, 429, 5xx
(and Anthropic's 529 overloaded), timeouts and refused connections. The delay
grows exponentially with jitter and honours `retry-after` when the provider
sends one, up to a cap; past the cap the provider's answer is returned to the
client as is. A streamed call is retried only until its response starts:
once bytes have reached the client, a retry would duplicate them.
"""

from __future__ import annotations

import asyncio
import random

from fleetcost.errors import UpstreamError
from fleetcost.pipeline.context import Deployment, GatewayContext
from fleetcost.pipeline.state import CallState
from fleetcost.pipeline.upstream import Response, UpstreamConnectionError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER_S = 10.0


def _retry_after(resp: Response) -> float | None:
    value = resp.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def open_upstream(
    state: CallState, ctx: GatewayContext, dep: Deployment, body: bytes,
    retries: int | None = None,
) -> Response:
    """Return a response with status 200, or raise `UpstreamError` after retries.

    `retries` overrides the deployment's `max_retries` (0 when a fallback
    deployment waits: failing over beats retrying the same one).
    The returned response's body has not been read: the caller reads it
    (whole, or as a stream) and releases it.
    """
    cfg = dep.config
    headers = dep.adapter.upstream_headers(dep.api_key, state.headers)
    attempt = 0
    while True:
        attempt += 1
        state.attempts = attempt
        wait: float | None = None
        try:
            resp = await ctx.upstream.post(dep.url, headers, body, timeout=dep.timeout)
        except (UpstreamConnectionError, TimeoutError) as exc:
            error = UpstreamError(
                f"upstream {dep.name} unreachable: {type(exc).__name__}",
                status=504 if isinstance(exc, TimeoutError) else 502, retryable=True,
            )
        else:
            if resp.status == 200:
                return resp
            payload = await resp.read()
            resp.release()
            error = UpstreamError(
                f"upstream {dep.name} answered {resp.status}", status=resp.status,
                body=payload, retryable=resp.status in RETRY_STATUSES,
            )
            wait = _retry_after(resp)
        if not error.retryable or attempt > (cfg.max_retries if retries is None else retries):
            raise error
        if wait is not None and wait > MAX_RETRY_AFTER_S:
            raise error
        backoff = cfg.retry_backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random())
        await asyncio.sleep(max(backoff, wait or 0.0))
