"""Anthropic's Message Batches API, as documented.

`POST /v1/messages/batches` takes `requests: [{custom_id, params}]` (custom
ids unique, 1-64 characters of letters, digits, `-` and `_`); each `params`
is a Messages request, validated when it is processed, so a bad one comes
back `errored` while the rest succeed. A batch is `in_progress`, then
`canceling` if asked, then `ended`; `request_counts` splits its requests into
processing, succeeded, errored, canceled and expired. Once ended it carries a
`results_url` serving JSONL lines `{custom_id, result: {type, message |
error}}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from fleetcost.emulator.batches import BatchRunner, ItemResult, Job
from fleetcost.emulator.plan import Dialect
from fleetcost.errors import BadRequest, NotFound

Answer = tuple[int, bytes]
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 100_000


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace(
        "+00:00", "Z")


class AnthropicBatches:
    def __init__(self, runner: BatchRunner, dialect: Dialect) -> None:
        self.runner = runner
        self.dialect = dialect

    def create(self, body: bytes, base_url: str) -> Answer:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadRequest("The request body is not valid JSON.") from None
        items = data.get("requests") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise BadRequest("requests: a non-empty list is required", param="requests")
        if len(items) > MAX_REQUESTS:
            raise BadRequest(f"requests: at most {MAX_REQUESTS} per batch", param="requests")
        requests: list[tuple[str, bytes]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            params = item.get("params") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                raise BadRequest(f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$",
                                 param=f"requests.{i}.custom_id")
            if custom_id in seen:
                raise BadRequest(f"requests.{i}.custom_id: duplicate {custom_id!r}",
                                 param=f"requests.{i}.custom_id")
            if not isinstance(params, dict):
                raise BadRequest(f"requests.{i}.params: an object is required",
                                 param=f"requests.{i}.params")
            if params.get("stream"):
                raise BadRequest(f"requests.{i}.params.stream: not supported in batches",
                                 param=f"requests.{i}.params.stream")
            seen.add(custom_id)
            requests.append((custom_id, orjson.dumps(params)))
        job = Job(self.runner.new_id("msgbatch_"), self.dialect, requests)
        job.extra["base_url"] = base_url
        self.runner.start(job)
        return 200, orjson.dumps(self.render(job))

    def get(self, batch_id: str) -> Answer:
        return 200, orjson.dumps(self.render(self._job(batch_id)))

    def cancel(self, batch_id: str) -> Answer:
        job = self._job(batch_id)
        self.runner.cancel(job)
        return 200, orjson.dumps(self.render(job))

    def results(self, batch_id: str) -> Answer:
        job = self._job(batch_id)
        if job.status != "ended":
            raise BadRequest(f"Message batch {batch_id} has not ended; results are not "
                             "available yet.")
        return 200, b"".join(_result_line(r) for r in job.results)

    def _job(self, batch_id: str) -> Job:
        job = self.runner.jobs.get(batch_id)
        if job is None or job.dialect is not self.dialect:
            raise NotFound(f"No message batch found with id '{batch_id}'.")
        return job

    def render(self, job: Job) -> dict[str, Any]:
        counts = job.counts()
        ended = job.status == "ended"
        processing = 0 if ended else len(job.requests)
        return {
            "id": job.id, "type": "message_batch", "processing_status": job.status,
            "request_counts": {"processing": processing, "succeeded": counts["succeeded"],
                               "errored": counts["errored"], "canceled": counts["canceled"],
                               "expired": counts["expired"]},
            "ended_at": _iso(job.ended_at), "created_at": _iso(job.created_at),
            "expires_at": _iso(job.created_at + 86400), "archived_at": None,
            "cancel_initiated_at": _iso(job.cancel_at),
            "results_url": (f"{job.extra['base_url']}/v1/messages/batches/{job.id}/results"
                            if ended else None),
        }


def _result_line(r: ItemResult) -> bytes:
    result: dict[str, Any] = {"type": r.kind}
    if r.kind == "succeeded":
        result["message"] = orjson.Fragment(r.body)
    elif r.kind == "errored":
        result["error"] = orjson.Fragment(r.body)
    return orjson.dumps({"custom_id": r.custom_id, "result": result}) + b"\n"
