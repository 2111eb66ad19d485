"""Batch offload at the door: `X-Fleetcost-Latency: batch` (or metadata
`latency: batch`) asks for the provider's batch price instead of an answer now.

Such a call runs identify and route like any other, then is handed to the
app's `BatchIntake`, which persists it and answers 202 with the item's id;
the answer arrives later at `GET /fleetcost/v1/batch-results/{id}` and the
call lands in the ledger then, at the batch price, under the same id. The
null intake refuses batch calls (offload needs the SQLite store), so a
gateway without one never pretends to have queued something.
"""

from __future__ import annotations

from typing import Protocol

from fleetcost.errors import BadRequest
from fleetcost.pipeline.state import CallState, Reply


def wants_batch(state: CallState) -> bool:
    value = state.headers.get("x-fleetcost-latency")
    if value is None and state.request is not None:
        value = state.request.metadata.get("latency")
    if value is None:
        return False
    if value != "batch":
        raise BadRequest(f"X-Fleetcost-Latency must be 'batch', not {value!r}",
                         param="X-Fleetcost-Latency")
    if state.request is not None and state.request.stream:
        raise BadRequest("a batch call cannot stream; drop stream or X-Fleetcost-Latency",
                         param="stream")
    return True


class BatchIntake(Protocol):
    async def accept(self, state: CallState, upstream_body: bytes) -> Reply: ...


class NoBatch:
    async def accept(self, state: CallState, upstream_body: bytes) -> Reply:
        raise BadRequest("batch offload needs storage.kind = \"sqlite\" and [batch] enabled",
                         param="X-Fleetcost-Latency")
