"""The dashboard: one static page in the gateway, drawing from the admin JSON API.

No build step and no framework: the page is a single HTML file whose script
fetches `/fleetcost/v1/report`, `/series`, `/sessions`, `/alerts`, `/session_calls`
(and `/budgets` when budgets exist) and draws tables and SVG charts. Every
figure on it is a figure of those endpoints, computed by the same functions
as `fleetcost report --json`, so the two never disagree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import orjson

from fleetcost.analytics.records import record_dict
from fleetcost.analytics.report import sessions_view
from fleetcost.pipeline.state import Reply
from fleetcost.pricing.cost import format_usd
from fleetcost.server.handlers import Handler
from fleetcost.server.io import Scope
from fleetcost.storage.base import REPORT_KEYS, CallQuery, LedgerReader

if TYPE_CHECKING:
    from fleetcost.server.app import GatewayApp

JSON = (b"content-type", b"application/json")
HTML = (b"content-type", b"text/html; charset=utf-8")
ReaderFactory = Callable[[], LedgerReader]


def _page() -> bytes:
    return resources.files("fleetcost.server").joinpath("static/dashboard.html").read_bytes()


def _error(status: int, message: str) -> Reply:
    return Reply(status, [JSON], orjson.dumps({"error": {"message": message}}))


def _query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}


def _session_calls(reader: ReaderFactory, authorised: Callable[[Scope], bool]) -> Handler:
    async def session_calls(scope: Scope, body: bytes) -> Reply:
        """`GET /fleetcost/v1/session_calls?session=ID&limit=500`: the drill-down, with the
        sub-agent calls rolled up into the session (`"subagent": true`), newest first."""
        if not authorised(scope):
            return _error(401, "admin API: missing or wrong admin key")
        qs = _query(scope)
        session = qs.get("session")
        try:
            limit = int(qs.get("limit", "500"))
        except ValueError:
            return _error(400, "limit must be an integer")
        if not session or limit < 1:
            return _error(400, "session is required and limit must be positive")

        def run() -> list[dict[str, object]]:
            r = reader()
            try:
                return [{**record_dict(c), "subagent": sub}
                        for c, sub in r.session_calls(session, limit)]
            finally:
                r.close()
        return Reply(200, [JSON], orjson.dumps({"session": session,
                                                "calls": await asyncio.to_thread(run)}))
    return session_calls


def route_table(app: GatewayApp, reader: ReaderFactory,
                authorised: Callable[[Scope], bool]) -> dict[tuple[str, str], Handler]:
    page = _page()

    async def dashboard(scope: Scope, body: bytes) -> Reply:
        # The page itself holds no data; its API calls carry the admin key.
        return Reply(200, [HTML, (b"cache-control", b"no-store")], page)

    async def series(scope: Scope, body: bytes) -> Reply:
        """`GET /fleetcost/v1/series?by=model&bucket=day`: spend per time bucket and group."""
        if not authorised(scope):
            return _error(401, "admin API: missing or wrong admin key")
        qs = _query(scope)
        by, bucket = qs.get("by", "model"), qs.get("bucket", "day")
        if by not in REPORT_KEYS or bucket not in ("day", "hour"):
            return _error(400, f"by must be one of {', '.join(REPORT_KEYS)}; bucket day or hour")
        q = CallQuery(since=qs.get("since"), until=qs.get("until"))

        def run() -> list[dict[str, object]]:
            r = reader()
            try:
                return [{"t": t, "key": k, "cost_usd": format_usd(v)}
                        for t, k, v in r.series(by, bucket, q)]
            finally:
                r.close()
        return Reply(200, [JSON], orjson.dumps({"by": by, "bucket": bucket,
                                                "points": await asyncio.to_thread(run)}))

    async def sessions(scope: Scope, body: bytes) -> Reply:
        """`GET /fleetcost/v1/sessions`: session-cost distribution, histogram, top sessions."""
        if not authorised(scope):
            return _error(401, "admin API: missing or wrong admin key")
        qs = _query(scope)
        q = CallQuery(since=qs.get("since"), until=qs.get("until"))

        def run() -> dict[str, object]:
            r = reader()
            try:
                return sessions_view(r, q)
            finally:
                r.close()
        return Reply(200, [JSON], orjson.dumps(await asyncio.to_thread(run)))

    return {("GET", "/dashboard"): dashboard,
            ("GET", "/fleetcost/v1/series"): series,
            ("GET", "/fleetcost/v1/sessions"): sessions,
            ("GET", "/fleetcost/v1/session_calls"): _session_calls(reader, authorised)}
