"""OpenAI's Files and Batch APIs, as documented.

A batch reads an uploaded `purpose=batch` JSONL file, one request per line
(`custom_id`, `method`, `url`, `body`), all for the batch's `endpoint` and
one model, custom ids unique. An invalid file fails the whole batch with
per-line `errors`; otherwise the batch is `in_progress` until the emulator's
delay passes, then writes an output file (lines `{id, custom_id, response:
{status_code, request_id, body}, error}`) and, if any request failed or
expired, an error file. Expired requests come back with error code
`batch_expired` and the batch's status is `expired`, as when a completion
window closes with work left; otherwise it is `completed`. Cancelling turns
unanswered requests into `batch_cancelled` errors and the batch `cancelled`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from fleetcost.emulator.batches import BatchRunner, ItemResult, Job
from fleetcost.emulator.plan import Dialect
from fleetcost.errors import BadRequest, FleetcostError, NotFound
from fleetcost.providers.multipart import parse_form

Answer = tuple[int, bytes]
ENDPOINTS = ("/v1/chat/completions",)
WINDOWS = ("24h",)


class OpenAIBatches:
    def __init__(self, runner: BatchRunner, dialect: Dialect) -> None:
        self.runner = runner
        self.dialect = dialect
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}

    def _file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = self.runner.new_id("file-")
        meta = {"id": file_id, "object": "file", "bytes": len(content),
                "created_at": int(time.time()), "filename": filename, "purpose": purpose,
                "status": "processed", "expires_at": None, "status_details": None}
        self.files[file_id] = meta
        self.contents[file_id] = content
        return meta

    def upload(self, content_type: str, body: bytes) -> Answer:
        form = parse_form(content_type, body)
        purpose = form.get("purpose")
        upload = form.get("file")
        if purpose is None or purpose.data.decode() not in ("batch", "assistants", "fine-tune",
                                                            "vision", "user_data", "evals"):
            raise BadRequest("'purpose' must be one of batch, assistants, fine-tune, ...",
                             param="purpose")
        if upload is None or upload.filename is None:
            raise BadRequest("'file' is required.", param="file")
        meta = self._file(upload.data, upload.filename, purpose.data.decode())
        return 200, orjson.dumps(meta)

    def file_meta(self, file_id: str) -> Answer:
        return 200, orjson.dumps(self._known_file(file_id))

    def file_content(self, file_id: str) -> Answer:
        self._known_file(file_id)
        return 200, self.contents[file_id]

    def _known_file(self, file_id: str) -> dict[str, Any]:
        meta = self.files.get(file_id)
        if meta is None:
            raise NotFound(f"No such File object: {file_id}", param="id")
        return meta

    def create(self, body: bytes) -> Answer:
        data = _object(body)
        endpoint = data.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise BadRequest(f"'endpoint' must be one of {', '.join(ENDPOINTS)}.",
                             param="endpoint")
        if data.get("completion_window") not in WINDOWS:
            raise BadRequest("'completion_window' must be '24h'.", param="completion_window")
        file_id = data.get("input_file_id")
        if not isinstance(file_id, str) or file_id not in self.files:
            raise BadRequest(f"No such File object: {file_id}", param="input_file_id")
        if self.files[file_id]["purpose"] != "batch":
            raise BadRequest("The input file must be uploaded with purpose 'batch'.",
                             param="input_file_id")
        requests, errors = _lines(self.contents[file_id], endpoint)
        job = Job(self.runner.new_id("batch_"), self.dialect, requests)
        job.extra = {"endpoint": endpoint, "input_file_id": file_id,
                     "metadata": data.get("metadata"), "errors": errors}
        if errors:
            job.status, job.ended_at = "failed", int(time.time())
            self.runner.jobs[job.id] = job
        else:
            self.runner.start(job, self._finish)
        return 200, orjson.dumps(self.render(job))

    def _finish(self, job: Job) -> None:
        out: list[bytes] = []
        err: list[bytes] = []
        for i, r in enumerate(job.results):
            line = _output_line(f"batch_req_{job.id[6:]}_{i:06d}", r)
            (out if r.kind == "succeeded" else err).append(line)
        if out:
            job.extra["output_file_id"] = self._file(b"".join(out), "batch_output.jsonl",
                                                     "batch_output")["id"]
        if err:
            job.extra["error_file_id"] = self._file(b"".join(err), "batch_errors.jsonl",
                                                    "batch_output")["id"]

    def get(self, batch_id: str) -> Answer:
        return 200, orjson.dumps(self.render(self._job(batch_id)))

    def cancel(self, batch_id: str) -> Answer:
        job = self._job(batch_id)
        self.runner.cancel(job)
        return 200, orjson.dumps(self.render(job))

    def _job(self, batch_id: str) -> Job:
        job = self.runner.jobs.get(batch_id)
        if job is None or job.dialect is not self.dialect:
            raise NotFound(f"No batch found with id '{batch_id}'.", param="batch_id")
        return job

    def render(self, job: Job) -> dict[str, Any]:
        counts = job.counts()
        done = job.status == "ended"
        failed = counts["errored"] + counts["expired"] + counts["canceled"]
        return {
            "id": job.id, "object": "batch", "endpoint": job.extra["endpoint"],
            "errors": ({"object": "list", "data": job.extra["errors"]}
                       if job.extra["errors"] else None),
            "input_file_id": job.extra["input_file_id"], "completion_window": "24h",
            "status": _status(job), "output_file_id": job.extra.get("output_file_id"),
            "error_file_id": job.extra.get("error_file_id"), "created_at": job.created_at,
            "in_progress_at": job.created_at, "expires_at": job.created_at + 86400,
            "finalizing_at": job.ended_at if done else None,
            "completed_at": job.ended_at if _status(job) == "completed" else None,
            "failed_at": job.ended_at if job.status == "failed" else None,
            "expired_at": job.ended_at if _status(job) == "expired" else None,
            "cancelling_at": job.cancel_at,
            "cancelled_at": job.ended_at if _status(job) == "cancelled" else None,
            "request_counts": {"total": len(job.requests),
                               "completed": counts["succeeded"], "failed": failed},
            "metadata": job.extra.get("metadata"),
        }


def _status(job: Job) -> str:
    if job.status in ("failed", "in_progress"):
        return job.status
    if job.status == "canceling":
        return "cancelling"
    counts = job.counts()
    if job.cancel_at is not None:
        return "cancelled"
    return "expired" if counts["expired"] else "completed"


def _output_line(line_id: str, r: ItemResult) -> bytes:
    if r.kind in ("expired", "canceled"):
        code = "batch_expired" if r.kind == "expired" else "batch_cancelled"
        message = ("This request could not be executed before the completion window expired."
                   if r.kind == "expired" else "This request was cancelled.")
        line: dict[str, Any] = {"id": line_id, "custom_id": r.custom_id, "response": None,
                                "error": {"code": code, "message": message}}
    else:
        line = {"id": line_id, "custom_id": r.custom_id,
                "response": {"status_code": r.status, "request_id": r.request_id or line_id,
                             "body": orjson.Fragment(r.body)},
                "error": None}
    return orjson.dumps(line) + b"\n"


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _lines(content: bytes, endpoint: str) -> tuple[list[tuple[str, bytes]], list[dict[str, Any]]]:
    """(custom_id, body) per line, or the validation errors that fail the batch."""
    requests: list[tuple[str, bytes]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[Any] = set()
    for n, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = _object(raw)
            custom_id, body = _line(line, endpoint, seen)
        except FleetcostError as exc:
            errors.append({"code": "invalid_request", "message": exc.message,
                           "param": exc.param, "line": n})
            continue
        seen.add(custom_id)
        models.add(body.get("model"))
        requests.append((custom_id, orjson.dumps(body)))
    if len(models) > 1:
        errors.append({"code": "mismatched_model", "message":
                       "The batch input file contains requests for more than one model.",
                       "param": "body.model", "line": None})
    if not requests and not errors:
        errors.append({"code": "empty_file", "message": "The batch input file is empty.",
                       "param": None, "line": None})
    return requests, errors


def _line(line: dict[str, Any], endpoint: str, seen: set[str]) -> tuple[str, dict[str, Any]]:
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise BadRequest("'custom_id' must be a non-empty string.", param="custom_id")
    if custom_id in seen:
        raise BadRequest(f"Duplicate custom_id {custom_id!r}.", param="custom_id")
    if line.get("method") != "POST":
        raise BadRequest("'method' must be POST.", param="method")
    if line.get("url") != endpoint:
        raise BadRequest(f"'url' must match the batch endpoint {endpoint}.", param="url")
    body = line.get("body")
    if not isinstance(body, dict):
        raise BadRequest("'body' must be a JSON object.", param="body")
    if body.get("stream"):
        raise BadRequest("Streaming is not supported in batches.", param="body.stream")
    return custom_id, body
