"""Batch jobs in the emulator: the part both providers' batch APIs share.

A batch is accepted at once and answered later, as the providers do: after
`batch_delay_seconds` every request in it is answered through the same
dialect, plan and prefix cache as a live call, so a batched request gets the
same answer and usage it would get live. Usage is reported in tokens; the
batch discount is applied by whoever prices it (the gateway's cost function
with `batch=True`), exactly as the providers bill it.

Item faults reuse the emulator's fault draws: a status fault (429, 500, ...)
makes that one request fail inside the batch (the batch itself succeeds), and
the batch-only `expire` kind makes it expire unprocessed, the way requests
left over when a completion window ends come back. Jobs live in memory: the
emulator stands in for the provider, whose state outlives our gateway's
restarts, and that is what a gateway restart test needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetcost.emulator.core import Emulator
from fleetcost.emulator.plan import Dialect
from fleetcost.emulator.settings import FAULT_STATUSES
from fleetcost.errors import FleetcostError

ItemKind = Literal["succeeded", "errored", "expired", "canceled"]
_FAULT_TYPES = {"429": "rate_limit_error", "529": "overloaded_error", "503": "overloaded_error"}


@dataclass(slots=True)
class ItemResult:
    custom_id: str
    kind: ItemKind
    status: int = 200
    body: bytes = b""
    request_id: str = ""


@dataclass(slots=True)
class Job:
    """One batch: its requests (custom_id, raw body) and, once ended, its results."""

    id: str
    dialect: Dialect
    requests: list[tuple[str, bytes]]
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "in_progress"
    results: list[ItemResult] = field(default_factory=list)
    ended_at: int | None = None
    cancel_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[ItemKind, int]:
        out: dict[ItemKind, int] = {"succeeded": 0, "errored": 0, "expired": 0, "canceled": 0}
        for r in self.results:
            out[r.kind] += 1
        return out


class BatchRunner:
    """Holds every job of one emulator run and answers them after the delay."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = 0

    def new_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self.emulator.settings.seed:04x}{time.time_ns():x}{self._serial:06x}"

    def start(self, job: Job, on_end: Callable[[Job], None] | None = None) -> None:
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job, on_end))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self, job: Job) -> None:
        """Requests not yet answered come back `canceled` when the job ends."""
        if job.status == "in_progress":
            job.status = "canceling"
            job.cancel_at = int(time.time())

    async def _run(self, job: Job, on_end: Callable[[Job], None] | None) -> None:
        await asyncio.sleep(self.emulator.settings.batch_delay_seconds)
        for custom_id, raw in job.requests:
            if job.status == "canceling":
                job.results.append(ItemResult(custom_id, "canceled"))
            else:
                job.results.append(self.answer(job.dialect, custom_id, raw))
        job.status = "ended"
        job.ended_at = int(time.time())
        if on_end is not None:
            on_end(job)

    def answer(self, dialect: Dialect, custom_id: str, raw: bytes) -> ItemResult:
        """One request of a batch, answered as the live endpoint would answer it."""
        emulator = self.emulator
        try:
            prepared = emulator.prepare(dialect, raw)
        except FleetcostError as exc:
            return ItemResult(custom_id, "errored", exc.status, dialect.error_body(exc))
        plan = prepared.plan
        fault = emulator.faults.draw(plan.digest) if emulator.faults.enabled else None
        kind = fault.kind if fault is not None else None
        if kind is not None:
            emulator.stats.faults[kind] += 1
        if kind == "expire":
            return ItemResult(custom_id, "expired")
        if kind in FAULT_STATUSES:
            error = FleetcostError(f"Injected fault: the emulator answered {kind}.")
            error.status = int(kind)
            error.error_type = _FAULT_TYPES.get(kind, "api_error")
            return ItemResult(custom_id, "errored", error.status, dialect.error_body(error))
        usage = emulator.bill(plan)
        body = dialect.render_json(plan, usage, int(time.time()))
        emulator.record(plan, usage)
        return ItemResult(custom_id, "succeeded", 200, body, plan.response_id)
