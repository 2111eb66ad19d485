"""OpenAI's Files and Batch APIs served by fleetcost itself.

An SDK user who already batches (`client.files.create(purpose="batch")`,
`client.batches.create(...)`) points the SDK at fleetcost and changes
nothing else. Each line of the uploaded file becomes one batch item, exactly
as if it had been sent with `X-Fleetcost-Latency: batch`: identified (from
the batch request's `X-Fleetcost-*` headers or the line's metadata), routed,
reserved, queued, then collected with other items of its provider and model
into provider batches, and accounted once each in the ledger. The batch the
client sees is a view of its items: `in_progress` until every item has
ended, then `completed`, with output and error files rendered from the
results in OpenAI's line format (`{id, custom_id, response: {status_code,
request_id, body}, error}`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime
from typing import Any

import orjson

from fleetcost.batch.service import BatchService, batch_item
from fleetcost.errors import BadRequest, FleetcostError, NotFound
from fleetcost.pipeline.budget import rebudget, release, reserve
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.identify import identify
from fleetcost.pipeline.route import route
from fleetcost.pipeline.state import CallState
from fleetcost.providers import registry
from fleetcost.providers.multipart import parse_form
from fleetcost.storage.batch_sqlite import TERMINAL, StoredItem

ENDPOINT = "/v1/chat/completions"
_OUT, _ERR = "file-fcout-", "file-fcerr-"


def _epoch(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp())


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


class OpenAIBatchFront:
    def __init__(self, service: BatchService) -> None:
        self.service = service
        self.store = service.store
        self.adapter = registry.get("openai")

    async def upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        form = parse_form(content_type, body)
        purpose, upload = form.get("purpose"), form.get("file")
        if purpose is None or purpose.data != b"batch":
            raise BadRequest("fleetcost accepts files with purpose 'batch' only.",
                             param="purpose")
        if upload is None or upload.filename is None:
            raise BadRequest("'file' is required.", param="file")
        file_id = "file-fc" + secrets.token_hex(12)
        ts = await asyncio.to_thread(self.store.put_file, file_id, upload.filename, "batch",
                                     upload.data)
        return _file(file_id, ts, upload.filename, "batch", len(upload.data))

    async def file_meta(self, file_id: str) -> dict[str, Any]:
        if file_id.startswith((_OUT, _ERR)):
            content = await self.file_content(file_id)
            return _file(file_id, "", file_id + ".jsonl", "batch_output", len(content))
        found = await asyncio.to_thread(self.store.get_file, file_id)
        if found is None:
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        ts, name, purpose, content = found
        return _file(file_id, ts, name, purpose, len(content))

    async def file_content(self, file_id: str) -> bytes:
        for prefix, wanted in ((_OUT, True), (_ERR, False)):
            if file_id.startswith(prefix):
                found = await asyncio.to_thread(self.store.group, file_id[len(prefix):])
                if found is None:
                    break
                return b"".join(_line(i) for i in found[1]
                                if (i.state == "succeeded") == wanted)
        found_file = await asyncio.to_thread(self.store.get_file, file_id)
        if found_file is None:
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        return found_file[3]

    async def create(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        data = _object(body)
        if data.get("endpoint") != ENDPOINT:
            raise BadRequest(f"'endpoint' must be {ENDPOINT}.", param="endpoint")
        if data.get("completion_window") != "24h":
            raise BadRequest("'completion_window' must be '24h'.", param="completion_window")
        file_id = data.get("input_file_id")
        found = await asyncio.to_thread(self.store.get_file, str(file_id))
        if found is None:
            raise BadRequest(f"No such File object: {file_id}", param="input_file_id")
        group_id = "batch_fc" + secrets.token_hex(12)
        states: list[CallState] = []
        try:
            items = [await self._item(headers, group_id, n, raw, states)
                     for n, raw in enumerate(found[3].splitlines(), start=1) if raw.strip()]
            if not items:
                raise BadRequest("The batch input file is empty.", param="input_file_id")
            metadata = orjson.dumps(data.get("metadata"))
            await asyncio.to_thread(self.store.create_group, group_id, str(file_id),
                                    ENDPOINT, metadata, items)
        except BaseException:
            for state in states:  # all or nothing: free what the accepted lines held
                if state.budget is not None:
                    state.budget.settled = False  # the hook left it to the poller
            release_all(states, self.service.ctx)
            raise
        return await self.get(group_id)

    async def _item(self, headers: dict[str, str], group_id: str, n: int,
                    raw: bytes, states: list[CallState]) -> StoredItem:
        try:
            line = _object(raw)
            custom_id = line.get("custom_id")
            if not isinstance(custom_id, str) or not custom_id:
                raise BadRequest("'custom_id' must be a non-empty string.", param="custom_id")
            if line.get("method") != "POST" or line.get("url") != ENDPOINT:
                raise BadRequest(f"each line must be a POST to {ENDPOINT}.", param="url")
            state = CallState(adapter=self.adapter, headers=headers)
            body = orjson.dumps(line.get("body"))
            state.request = self.adapter.parse_request(body)
            if state.request.stream:
                raise BadRequest("Streaming is not supported in batches.", param="body.stream")
            identify(state)
            reserve(state, self.service.ctx, body)
            states.append(state)
            await route(state, self.service.ctx)
            rebudget(state, self.service.ctx)
            hold = await self.service.hooks.reserve(state)
        except FleetcostError as exc:
            exc.message = f"line {n}: {exc.message}"
            raise
        assert state.upstream_model is not None
        item = batch_item(state, self.adapter.upstream_body(state.request,
                                                            state.upstream_model))
        item.group_id, item.custom_id, item.hold = group_id, custom_id, hold
        return item

    async def get(self, group_id: str) -> dict[str, Any]:
        found = await asyncio.to_thread(self.store.group, group_id)
        if found is None:
            raise NotFound(f"No batch found with id '{group_id}'.", param="batch_id")
        (ts, input_file_id, endpoint, metadata), items = found
        done = sum(i.state in TERMINAL for i in items)
        ok = sum(i.state == "succeeded" for i in items)
        ended = done == len(items)
        return {
            "id": group_id, "object": "batch", "endpoint": endpoint, "errors": None,
            "input_file_id": input_file_id, "completion_window": "24h",
            "status": "completed" if ended else "in_progress",
            "output_file_id": _OUT + group_id if ended and ok else None,
            "error_file_id": _ERR + group_id if ended and ok < len(items) else None,
            "created_at": _epoch(ts), "in_progress_at": _epoch(ts),
            "expires_at": _epoch(ts) + 86400, "finalizing_at": None,
            "completed_at": int(time.time()) if ended else None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": len(items), "completed": ok, "failed": done - ok},
            "metadata": orjson.loads(metadata) if metadata else None,
        }


def release_all(states: list[CallState], ctx: GatewayContext) -> None:
    for state in states:
        release(state, ctx)


def _file(file_id: str, ts: str, name: str, purpose: str, size: int) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": size,
            "created_at": _epoch(ts) if ts else int(time.time()), "filename": name,
            "purpose": purpose, "status": "processed", "expires_at": None,
            "status_details": None}


def _line(item: StoredItem) -> bytes:
    line: dict[str, Any] = {"id": "batch_req_" + item.item_id, "custom_id": item.custom_id,
                            "response": None, "error": None}
    if item.result is not None:
        status = 200 if item.state == "succeeded" else 500
        line["response"] = {"status_code": status, "request_id": item.item_id,
                            "body": orjson.Fragment(item.result)}
    else:
        code = "batch_expired" if item.state == "expired" else f"batch_{item.state}"
        line["error"] = {"code": code, "message": item.error or item.state}
    return orjson.dumps(line) + b"\n"
