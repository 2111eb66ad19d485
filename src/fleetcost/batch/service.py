"""Batch offload: accept, collect, submit, poll, settle.

`accept` is the `BatchIntake` the pipeline hands batch calls to: it runs the
reservation hook, writes the item durably and answers 202 with the item's id
(which is also its ledger `call_id`). A background loop then, every
`poll_s`: submits each provider/model queue that is full (`max_items`) or old
enough (`flush_s`) as one provider batch, and advances every open job
(re-sending one whose submission a crash interrupted, polling the others,
settling those that ended). All state is in SQLite, so a gateway killed at
any point resumes where it stopped when it starts on the same ledger.

Budgets: `BatchHooks.reserve` is called at acceptance with the call's state
(its request, price and identity) before anything is stored, and may raise
`BudgetExceeded` to refuse the call with a 429; `BatchHooks.settle` receives
each finished item's hold with its ledger cost after the commit, and again
after a crash until the batch store has noted it (`settle_budgets`).
They do nothing until the budget stage fills them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from fleetcost.batch.faults import BUDGET_CHARGED, LEDGER_COMMITTED, crash_point
from fleetcost.batch.settle import settle
from fleetcost.config import BatchConfig
from fleetcost.errors import FleetcostError, UpstreamError
from fleetcost.pipeline.budget_rules import to_nano
from fleetcost.pipeline.context import Deployment, GatewayContext
from fleetcost.pipeline.state import CallState, Reply
from fleetcost.pipeline.upstream import UpstreamConnectionError
from fleetcost.providers.batch_wire import WIRES, BatchWire, ItemOutcome
from fleetcost.storage.batch_sqlite import Settled, SQLiteBatchStore, StoredItem, StoredJob

log = logging.getLogger("fleetcost.batch")
JSON = (b"content-type", b"application/json")
RESULTS_PATH = "/fleetcost/v1/batch-results/"


async def no_reservation(state: CallState) -> str | None:
    """Until budgets exist: every batch call is accepted, nothing is held."""
    return None


def no_settlement(hold: str, nano: int, tokens: int) -> None:
    """Until budgets exist: nothing to settle."""


def no_rereservation(item: StoredItem, new_id: str) -> str | None:
    """Until budgets exist: a retried dead letter is queued without a hold."""
    return None


@dataclass
class BatchHooks:
    """`reserve` may refuse (raise) or return a reference to its hold, kept with the
    item so that `settle` gets it back with the item's ledger cost (nano-dollars) and
    tokens, even after a restart; `settle` must be idempotent per hold, as it is
    replayed after a crash. `rereserve` holds a retried dead letter's worst case
    under the retry's id, or refuses (raises)."""

    reserve: Callable[[CallState], Awaitable[str | None]] = no_reservation
    settle: Callable[[str, int, int], None] = no_settlement
    rereserve: Callable[[StoredItem, str], str | None] = no_rereservation


def batch_item(state: CallState, upstream_body: bytes) -> StoredItem:
    """A routed call as a queued batch item: its id is the call's ledger id."""
    assert state.deployment is not None and state.upstream_model is not None
    ident = state.identity
    return StoredItem(
        item_id=state.call_id, ts=state.ts, state="queued", provider=state.deployment,
        wire=state.adapter.kind, model=state.upstream_model,
        requested_model=state.request.model if state.request else None,
        route_reason=state.route_reason,
        identity={"tenant": ident.tenant, "agent_id": ident.agent_id,
                  "session_id": ident.session_id, "task_type": ident.task_type,
                  "parent_id": ident.parent_id, "team": ident.team,
                  "tags": list(ident.tags)},
        body=upstream_body)


@dataclass
class BatchService:
    ctx: GatewayContext
    store: SQLiteBatchStore
    config: BatchConfig
    hooks: BatchHooks = field(default_factory=BatchHooks)
    _task: asyncio.Task[None] | None = None

    async def accept(self, state: CallState, upstream_body: bytes) -> Reply:
        assert state.deployment is not None and state.upstream_model is not None
        hold = await self.hooks.reserve(state)
        item = batch_item(state, upstream_body)
        item.hold = hold
        await asyncio.to_thread(self.store.enqueue, item)
        body = orjson.dumps({
            "id": item.item_id, "object": "fleetcost.batch_item", "status": "queued",
            "model": item.model, "provider": item.provider,
            "result_url": RESULTS_PATH + item.item_id})
        return Reply(202, [JSON, (b"x-fleetcost-call-id", item.item_id.encode()),
                           (b"x-fleetcost-model", item.model.encode()),
                           (b"x-fleetcost-route", f"{state.route_reason}+batch".encode())],
                     body)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("batch poller tick failed; retrying next tick")
            await asyncio.sleep(self.config.poll_s)

    async def tick(self) -> None:
        """One round: settle budgets a crash left owing, submit due queues, then
        advance every open job."""
        await self.settle_budgets()
        cutoff = (datetime.now(UTC) - timedelta(seconds=self.config.flush_s)).isoformat(
            timespec="microseconds")
        for provider, model, count, oldest in await asyncio.to_thread(self.store.queued_groups):
            if count < self.config.max_items and oldest > cutoff:
                continue
            while count > 0:
                job_id = "fcjob_" + secrets.token_hex(12)
                items = await asyncio.to_thread(self.store.claim, job_id, provider, model,
                                                self.config.max_items)
                count -= len(items) or count
                await self._advance(StoredJob(job_id, provider, model, "submitting", None))
        for job in await asyncio.to_thread(self.store.open_jobs):
            await self._advance(job)

    async def _advance(self, job: StoredJob) -> None:
        dep = self.ctx.deployments.get(job.provider)
        if dep is None:
            log.error("batch job %s: provider %s is no longer configured", job.job_id,
                      job.provider)
            return
        wire = WIRES[dep.config.kind]
        send = self._sender(dep)
        headers = dep.adapter.upstream_headers(dep.api_key, {})
        try:
            if job.state == "submitting":
                await self._submit(job, wire, send, headers)
                return
            assert job.upstream_id is not None
            poll = await wire.poll(send, headers, job.upstream_id)
            if not poll.ended:
                return
            outcomes = await wire.results(send, headers, job.upstream_id)
        except (UpstreamConnectionError, TimeoutError) as exc:
            log.warning("batch job %s: upstream unreachable (%s); retrying", job.job_id, exc)
            return
        except UpstreamError as exc:
            if exc.retryable:
                log.warning("batch job %s: %s; retrying", job.job_id, exc.message)
                return
            await self._finish(job, {}, f"provider refused the batch: {exc.message}")
            return
        await self._finish(job, {o.custom_id: o for o in outcomes}, None)

    async def _submit(self, job: StoredJob, wire: BatchWire, send: Send,
                      headers: Mapping[str, str]) -> None:
        items = await asyncio.to_thread(self.store.items_of, job.job_id)
        if not items:
            await self._finish(job, {}, None)
            return
        upstream_id = await wire.submit(send, headers, [(i.item_id, i.body) for i in items])
        await asyncio.to_thread(self.store.submitted, job.job_id, upstream_id)
        log.info("batch job %s: %d items submitted as %s", job.job_id, len(items),
                 upstream_id)

    async def _finish(self, job: StoredJob, outcomes: dict[str, ItemOutcome],
                      refused: str | None) -> None:
        items = await asyncio.to_thread(self.store.items_of, job.job_id)
        settled: list[Settled] = []
        for item in items:
            outcome = outcomes.get(item.item_id)
            if refused is not None:
                outcome = ItemOutcome(item.item_id, "errored", None, refused)
            settled.append(settle(self.ctx, item, outcome))
        await asyncio.to_thread(self.store.finish, job.job_id, settled)
        crash_point(LEDGER_COMMITTED)
        await self.settle_budgets()
        await self._notify(job, settled)

    async def settle_budgets(self) -> int:
        """Charge every ended item's ledger cost to its hold's budgets, exactly once.

        Runs after each job's commit and at every tick, so a charge a crash cut
        off is made on the next tick after the restart. The budget store is
        told first and refuses a hold id it already settled; only then is the
        item noted as settled here, so a crash between the two repeats a no-op.
        """
        owed = await asyncio.to_thread(self.store.unsettled)
        # Off the event loop: one budget transaction per item (~60 us), 10k items a job.
        await asyncio.to_thread(self._charge, owed)
        if owed:
            crash_point(BUDGET_CHARGED)
            await asyncio.to_thread(self.store.mark_settled, [o[0] for o in owed])
        return len(owed)

    def _charge(self, owed: list[tuple[str, str, str | None, int]]) -> None:
        for _, hold, cost, tokens in owed:
            self.hooks.settle(hold, to_nano(Decimal(cost)) if cost else 0, tokens)

    async def retry(self, item_id: str, new_id: str) -> StoredItem | None:
        """Queue a dead letter again, reserved again first (may raise `BudgetExceeded`);
        None if it is not a dead letter waiting for a retry."""
        old = await asyncio.to_thread(self.store.pending_dead_letter, item_id)
        if old is None:
            return None
        hold = self.hooks.rereserve(old, new_id)
        fresh = await asyncio.to_thread(self.store.retry, item_id, new_id, hold)
        if fresh is None and hold is not None and self.ctx.budgets is not None:
            self.ctx.budgets.release(new_id)  # another retry of it won the race
        return fresh

    def _sender(self, dep: Deployment) -> Send:
        base = dep.config.base_url.rstrip("/").removesuffix("/v1")

        async def send(method: str, path: str, headers: Mapping[str, str],
                       body: bytes) -> tuple[int, bytes]:
            return await self.ctx.upstream.request(method, base + path, headers, body,
                                                   timeout=dep.timeout)
        return send

    async def _notify(self, job: StoredJob, settled: list[Settled]) -> None:
        """The optional webhook: best effort, once, after the results are committed."""
        url = self.config.webhook_url
        if not url:
            return
        payload = orjson.dumps({
            "object": "fleetcost.batch_job", "job_id": job.job_id, "provider": job.provider,
            "model": job.model,
            "items": [{"id": s.item_id, "status": s.state, "result_url": RESULTS_PATH
                       + s.item_id} for s in settled]})
        try:
            status, _ = await self.ctx.upstream.request(
                "POST", url, {"content-type": "application/json"}, payload,
                timeout=self.ctx.deployments[job.provider].timeout)
        except (UpstreamConnectionError, TimeoutError, FleetcostError) as exc:
            log.warning("batch webhook %s failed: %s", url, exc)
            return
        if status >= 300:
            log.warning("batch webhook %s answered %d", url, status)


Send = Callable[[str, str, Mapping[str, str], bytes], Awaitable[tuple[int, bytes]]]
