"""Batch offload routes under /fleetcost/v1/.

`GET batch-results/{id}`: the item accepted with that id (the 202's `id`),
`{id, object, status, model, provider, response, error, cost_usd, retry_of,
retried_as, answered_by}`; `response` is the provider's answer in the wire
protocol the call was made in. A dead letter that was retried reports its
latest attempt's outcome under `answered_by`. The id is the capability here
(64 random bits), as a provider's batch id is.

Admin (behind the admin key): `GET batch-dead-letters` lists failed and
expired items with the reason; `POST batch-dead-letters/{id}/retry` queues
one again under a new id (returned), which the original id then follows.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from fleetcost.batch.openai_compat import OpenAIBatchFront
from fleetcost.errors import FleetcostError, NotFound
from fleetcost.pipeline.state import Reply, new_call_id
from fleetcost.server.admin import PREFIX, _authorised, _error
from fleetcost.server.handlers import Handler
from fleetcost.server.io import Scope, decode_headers
from fleetcost.storage.batch_sqlite import SQLiteBatchStore, StoredItem

if TYPE_CHECKING:
    from fleetcost.server.app import GatewayApp

JSON = (b"content-type", b"application/json")
_MAX_CHAIN = 20


def _view(item: StoredItem) -> dict[str, Any]:
    return {"id": item.item_id, "object": "fleetcost.batch_result", "status": item.state,
            "model": item.model, "provider": item.provider,
            "response": orjson.Fragment(item.result) if item.result else None,
            "error": item.error, "cost_usd": item.cost_usd, "retry_of": item.retry_of}


def result_view(store: SQLiteBatchStore, item_id: str) -> dict[str, Any] | None:
    item = store.get(item_id)
    if item is None:
        return None
    view = _view(item)
    view["retried_as"] = store.retried_as(item_id)
    latest, hops = view["retried_as"], 0
    while latest is not None and hops < _MAX_CHAIN:
        found = store.get(latest)
        if found is None:
            break
        view.update({k: v for k, v in _view(found).items()
                     if k in ("status", "response", "error", "cost_usd")})
        view["answered_by"] = latest
        latest, hops = store.retried_as(latest), hops + 1
    return view


def match(app: GatewayApp, scope: Scope) -> Handler | None:
    store = app.batch_store
    path: str = scope["path"]
    if app.batch is not None and path.startswith(("/v1/files", "/v1/batches")):
        return _openai_front(OpenAIBatchFront(app.batch), scope["method"],
                             path.strip("/").split("/")[1:])
    if store is None or not path.startswith(PREFIX + "batch-"):
        return None
    rest = path[len(PREFIX):].split("/")
    method = scope["method"]
    if method == "GET" and len(rest) == 2 and rest[0] == "batch-results":
        return _results(store, rest[1])
    if rest[0] != "batch-dead-letters":
        return None
    if method == "GET" and len(rest) == 1:
        async def listing(scope: Scope, body: bytes) -> Reply:
            if not _authorised(app, scope):
                return _error(401, "admin API: missing or wrong admin key")
            rows = await asyncio.to_thread(store.dead_letters)
            return Reply(200, [JSON], orjson.dumps(rows))
        return listing
    if method == "POST" and len(rest) == 3 and rest[2] == "retry":
        async def retry(scope: Scope, body: bytes) -> Reply:
            if not _authorised(app, scope):
                return _error(401, "admin API: missing or wrong admin key")
            if app.batch is None:
                return _error(409, "batch offload is disabled; a retry cannot be queued")
            try:
                fresh = await app.batch.retry(rest[1], new_call_id())
            except FleetcostError as exc:  # no room in a budget: the dead letter stays
                return _error(exc.status, exc.message)
            if fresh is None:
                return _error(404, f"{rest[1]} is not a dead letter waiting for a retry")
            return Reply(200, [JSON], orjson.dumps(
                {"id": rest[1], "retried_as": fresh.item_id, "status": "queued"}))
        return retry
    return None


def _openai_front(front: OpenAIBatchFront, method: str, parts: list[str]) -> Handler | None:
    """`/v1/files[/{id}[/content]]` and `/v1/batches[/{id}]` for SDK batch users."""
    kind, rest = parts[0], parts[1:]

    async def handle(scope: Scope, body: bytes) -> Reply:
        headers = decode_headers(scope)
        try:
            if kind == "files" and method == "POST" and not rest:
                out: Any = await front.upload(headers.get("content-type", ""), body)
            elif kind == "files" and method == "GET" and len(rest) == 1:
                out = await front.file_meta(rest[0])
            elif kind == "files" and method == "GET" and rest[1:] == ["content"]:
                content = await front.file_content(rest[0])
                return Reply(200, [(b"content-type", b"application/octet-stream")], content)
            elif kind == "batches" and method == "POST" and not rest:
                out = await front.create(headers, body)
            elif kind == "batches" and method == "GET" and len(rest) == 1:
                out = await front.get(rest[0])
            else:
                raise NotFound(f"no route for {method} {scope['path']}")
        except FleetcostError as exc:
            return Reply(exc.status, [JSON], front.adapter.error_body(exc))
        return Reply(200, [JSON], orjson.dumps(out))
    return handle


def _results(store: SQLiteBatchStore, item_id: str) -> Handler:
    async def results(scope: Scope, body: bytes) -> Reply:
        view = await asyncio.to_thread(result_view, store, item_id)
        if view is None:
            return _error(404, f"no batch item {item_id}")
        return Reply(200, [JSON], orjson.dumps(view))
    return results
