"""Admin JSON API under /fleetcost/v1/ (ledger listing for now).

Guarded by the admin key named in `[server].admin_key_env`; with no key set,
only loopback clients are answered, so a default install never exposes its
ledger to the network.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import orjson

from fleetcost.analytics.records import record_dict
from fleetcost.pipeline.state import Reply
from fleetcost.server.handlers import Handler
from fleetcost.server.io import Scope, decode_headers
from fleetcost.storage.base import CallQuery

if TYPE_CHECKING:
    from fleetcost.server.app import GatewayApp

JSON = (b"content-type", b"application/json")
PREFIX = "/fleetcost/v1/"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _error(status: int, message: str) -> Reply:
    return Reply(status, [JSON], orjson.dumps({"error": {"message": message}}))


def _authorised(app: GatewayApp, scope: Scope) -> bool:
    key = os.environ.get(app.ctx.settings.server.admin_key_env)
    if not key:
        client = scope.get("client") or ("",)
        return client[0] in LOOPBACK
    given = decode_headers(scope).get("authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), key.encode())


def authorised(app: GatewayApp, scope: Scope) -> bool:
    """The admin check, for admin routes that live in other modules."""
    return _authorised(app, scope)


def route_table(app: GatewayApp) -> dict[tuple[str, str], Handler]:
    async def calls(scope: Scope, body: bytes) -> Reply:
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        qs = parse_qs(scope.get("query_string", b"").decode())
        try:
            limit = int(qs["limit"][0]) if "limit" in qs else 100
        except ValueError:
            return _error(400, "limit must be an integer")
        q = CallQuery(since=qs.get("since", [None])[0], limit=limit, newest_first=True,
                      session_id=qs.get("session", [None])[0])
        rows = await asyncio.to_thread(app.stores.usage_log.query, q)
        return Reply(200, [JSON], orjson.dumps([record_dict(r) for r in rows]))

    async def invalidate(scope: Scope, body: bytes) -> Reply:
        """`POST /fleetcost/v1/cache/invalidate {"tag": "...", "tenant": "..."}`."""
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        try:
            req = orjson.loads(body)
            tag, tenant = req["tag"], req.get("tenant", "default")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error(400, 'body must be JSON {"tag": "...", "tenant": "..."}')
        if not isinstance(tag, str) or not isinstance(tenant, str) or not tag:
            return _error(400, "tag and tenant must be non-empty strings")
        removed = await asyncio.to_thread(app.stores.cache.invalidate, tenant, tag)
        if app.stores.semantic is not None:
            removed += await asyncio.to_thread(app.stores.semantic.invalidate, tenant, tag)
        return Reply(200, [JSON], orjson.dumps({"removed": removed}))

    async def shadow(scope: Scope, body: bytes) -> Reply:
        """`GET /fleetcost/v1/routing/shadow`: agreement of shadowed calls per task type."""
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        if app.shadow is None:
            return _error(404, "shadow evaluation is off: set [routing.shadow] sample_rate")
        table = await asyncio.to_thread(app.shadow.agreement_by_task)
        return Reply(200, [JSON], orjson.dumps({"by_task": {
            task: {"calls": n, "agreement": round(share, 4)} for task, (n, share) in table.items()
        }}))

    return {("GET", PREFIX + "calls"): calls,
            ("POST", PREFIX + "cache/invalidate"): invalidate,
            ("GET", PREFIX + "routing/shadow"): shadow}


def match_prefix(app: GatewayApp, scope: Scope) -> Handler | None:
    """`GET /fleetcost/v1/calls/{call_id}`: one call."""
    path: str = scope["path"]
    if scope["method"] != "GET" or not path.startswith(PREFIX + "calls/"):
        return None
    call_id = path[len(PREFIX + "calls/"):]

    async def one_call(scope: Scope, body: bytes) -> Reply:
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        rows = await asyncio.to_thread(app.stores.usage_log.query, CallQuery(call_id=call_id))
        if not rows:
            return _error(404, f"no call {call_id} in the ledger (it may still be in flight)")
        return Reply(200, [JSON], orjson.dumps(record_dict(rows[0])))

    return one_call
