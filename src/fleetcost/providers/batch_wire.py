"""The providers' batch APIs, one class per wire protocol.

OpenAI: requests go into a JSONL file (`custom_id, method, url, body` per
line) uploaded with `purpose=batch`, then `POST /v1/batches` names it; the
batch is polled until `completed`, `failed`, `expired` or `cancelled`, and
results come from its output and error files. Anthropic: one `POST
/v1/messages/batches` with `requests: [{custom_id, params}]`, polled until
`processing_status` is `ended`, results from `results_url` as JSONL.

The core owns the HTTP client: a wire gets a `Send` function (method, path,
headers, body) -> (status, body) and speaks its protocol through it, so
these classes hold no connection and no state.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol

import orjson

from fleetcost.errors import UpstreamError

Send = Callable[[str, str, Mapping[str, str], bytes], Awaitable[tuple[int, bytes]]]
Kind = Literal["succeeded", "errored", "expired", "canceled"]


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """One request's fate: `body` is the provider's response (success) or error body."""

    custom_id: str
    kind: Kind
    body: bytes | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Poll:
    ended: bool
    status: str


class BatchWire(Protocol):
    async def submit(self, send: Send, headers: Mapping[str, str],
                     items: Sequence[tuple[str, bytes]]) -> str: ...

    async def poll(self, send: Send, headers: Mapping[str, str], batch_id: str) -> Poll: ...

    async def results(self, send: Send, headers: Mapping[str, str],
                      batch_id: str) -> list[ItemOutcome]: ...


async def _json(send: Send, method: str, path: str, headers: Mapping[str, str],
                body: bytes = b"") -> dict[str, Any]:
    status, payload = await send(method, path, headers, body)
    if status != 200:
        raise UpstreamError(f"batch API {method} {path} answered {status}", status=status,
                            body=payload, retryable=status in (408, 429, 500, 502, 503, 529))
    data = orjson.loads(payload)
    if not isinstance(data, dict):
        raise UpstreamError(f"batch API {method} {path}: not a JSON object")
    return data


def _lines(payload: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in payload.splitlines() if line.strip()]


class OpenAIBatchWire:
    endpoint = "/v1/chat/completions"
    ended = frozenset({"completed", "failed", "expired", "cancelled"})

    async def submit(self, send: Send, headers: Mapping[str, str],
                     items: Sequence[tuple[str, bytes]]) -> str:
        lines = b"".join(
            orjson.dumps({"custom_id": cid, "method": "POST", "url": self.endpoint,
                          "body": orjson.Fragment(body)}) + b"\n"
            for cid, body in items)
        boundary = secrets.token_hex(16)
        form = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
                f'batch\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="fleetcost-batch.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n'
                ).encode() + lines + f"\r\n--{boundary}--\r\n".encode()
        upload = {**headers, "content-type": f"multipart/form-data; boundary={boundary}"}
        file = await _json(send, "POST", "/v1/files", upload, form)
        create = orjson.dumps({"input_file_id": file["id"], "endpoint": self.endpoint,
                               "completion_window": "24h"})
        batch = await _json(send, "POST", "/v1/batches", headers, create)
        return str(batch["id"])

    async def poll(self, send: Send, headers: Mapping[str, str], batch_id: str) -> Poll:
        batch = await _json(send, "GET", f"/v1/batches/{batch_id}", headers)
        return Poll(batch.get("status") in self.ended, str(batch.get("status")))

    async def results(self, send: Send, headers: Mapping[str, str],
                      batch_id: str) -> list[ItemOutcome]:
        batch = await _json(send, "GET", f"/v1/batches/{batch_id}", headers)
        out: list[ItemOutcome] = []
        if batch.get("status") == "failed":
            errors = (batch.get("errors") or {}).get("data") or []
            reason = "; ".join(str(e.get("message")) for e in errors) or "batch failed"
            raise UpstreamError(f"batch {batch_id} failed validation: {reason}", status=400)
        for key in ("output_file_id", "error_file_id"):
            if batch.get(key):
                status, payload = await send("GET", f"/v1/files/{batch[key]}/content",
                                             headers, b"")
                if status != 200:
                    raise UpstreamError(f"batch file {batch[key]} answered {status}",
                                        status=status, retryable=True)
                out.extend(_openai_outcome(line) for line in _lines(payload))
        return out


def _openai_outcome(line: dict[str, Any]) -> ItemOutcome:
    cid = str(line.get("custom_id"))
    error = line.get("error")
    response = line.get("response")
    if error:
        code = str(error.get("code") or "")
        kind: Kind = ("expired" if code == "batch_expired"
                      else "canceled" if code == "batch_cancelled" else "errored")
        return ItemOutcome(cid, kind, None, f"{code}: {error.get('message')}")
    body = orjson.dumps(response.get("body")) if isinstance(response, dict) else None
    status = response.get("status_code") if isinstance(response, dict) else None
    if status == 200:
        return ItemOutcome(cid, "succeeded", body)
    return ItemOutcome(cid, "errored", body, f"status {status}")


class AnthropicBatchWire:
    async def submit(self, send: Send, headers: Mapping[str, str],
                     items: Sequence[tuple[str, bytes]]) -> str:
        body = orjson.dumps({"requests": [
            {"custom_id": cid, "params": orjson.Fragment(params)} for cid, params in items]})
        batch = await _json(send, "POST", "/v1/messages/batches", headers, body)
        return str(batch["id"])

    async def poll(self, send: Send, headers: Mapping[str, str], batch_id: str) -> Poll:
        batch = await _json(send, "GET", f"/v1/messages/batches/{batch_id}", headers)
        status = str(batch.get("processing_status"))
        return Poll(status == "ended", status)

    async def results(self, send: Send, headers: Mapping[str, str],
                      batch_id: str) -> list[ItemOutcome]:
        status, payload = await send("GET", f"/v1/messages/batches/{batch_id}/results",
                                     headers, b"")
        if status != 200:
            raise UpstreamError(f"batch results {batch_id} answered {status}", status=status,
                                retryable=True)
        return [_anthropic_outcome(line) for line in _lines(payload)]


def _anthropic_outcome(line: dict[str, Any]) -> ItemOutcome:
    cid = str(line.get("custom_id"))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        return ItemOutcome(cid, "succeeded", orjson.dumps(result.get("message")))
    if kind in ("expired", "canceled"):
        return ItemOutcome(cid, kind, None, kind)
    error = result.get("error")
    inner = error.get("error", {}) if isinstance(error, dict) else {}
    return ItemOutcome(cid, "errored", orjson.dumps(error),
                       f"{inner.get('type')}: {inner.get('message')}")


WIRES: Mapping[str, BatchWire] = MappingProxyType({
    "openai": OpenAIBatchWire(),
    "anthropic": AnthropicBatchWire(),
})
