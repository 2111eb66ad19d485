"""Public routes: the two chat protocols, models, health and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from fleetcost.errors import FleetcostError, NotFound
from fleetcost.pipeline import handle_chat
from fleetcost.pipeline.state import Reply, StreamReply
from fleetcost.providers import registry
from fleetcost.server.io import Scope, decode_headers

if TYPE_CHECKING:
    from fleetcost.server.app import GatewayApp

Handler = Callable[[Scope, bytes], Awaitable[Reply | StreamReply]]
JSON = (b"content-type", b"application/json")


def route_table(app: GatewayApp) -> dict[tuple[str, str], Handler]:
    openai = registry.get("openai")
    anthropic = registry.get("anthropic")
    ctx = app.ctx

    async def chat_completions(scope: Scope, body: bytes) -> Reply | StreamReply:
        return await handle_chat(ctx, openai, decode_headers(scope), body)

    async def messages(scope: Scope, body: bytes) -> Reply | StreamReply:
        return await handle_chat(ctx, anthropic, decode_headers(scope), body)

    async def models(scope: Scope, body: bytes) -> Reply:
        headers = decode_headers(scope)
        wants_anthropic = "anthropic-version" in headers or "x-api-key" in headers
        kind = "anthropic" if wants_anthropic else "openai"
        ids = sorted(
            set(ctx.settings.models)
            | {m for m in ctx.catalog.models()
               if (p := ctx.catalog.get(m)) is not None and p.provider == kind}
        )
        return Reply(200, [JSON], registry.get(kind).models_body(ids))

    async def healthz(scope: Scope, body: bytes) -> Reply:
        payload = {"status": "ok", "ledger_pending": app.writer.pending}
        return Reply(200, [JSON], orjson.dumps(payload))

    async def metrics(scope: Scope, body: bytes) -> Reply:
        return Reply(200, [(b"content-type", b"text/plain; version=0.0.4")],
                     app.metrics.render())

    return {
        ("POST", "/v1/chat/completions"): chat_completions,
        ("POST", "/chat/completions"): chat_completions,
        ("POST", "/v1/messages"): messages,
        ("GET", "/v1/models"): models,
        ("GET", "/healthz"): healthz,
        ("GET", "/metrics"): metrics,
    }


async def not_found(scope: Scope, body: bytes) -> Reply:
    err = NotFound(f"no route for {scope['method']} {scope['path']}")
    return Reply(404, [JSON], registry.get("openai").error_body(err))


def error(status: int, message: str) -> Reply:
    err = FleetcostError(message)
    err.status = status
    return Reply(status, [JSON], registry.get("openai").error_body(err))
