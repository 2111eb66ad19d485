"""The one batched ledger writer.

Handlers never wait for the database: they hand the finished record to
`submit`, which appends to an in-memory batch. The batch is flushed to the
`UsageLog` in a worker thread when it reaches `batch_size` records or
`flush_ms` after its first record, whichever comes first. `drain` (called on
shutdown) flushes everything still pending, so a clean stop loses nothing and
a crash loses at most the records of the last interval.

A failed flush is retried with backoff, records kept in order; they are
dropped only at shutdown after the final attempt fails, and then they are
written as JSON lines to a spill file so they can be re-imported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import orjson

from fleetcost.storage.base import UsageLog
from fleetcost.storage.batching import Batcher
from fleetcost.types import CallRecord

log = logging.getLogger("fleetcost.ledger")


class LedgerWriter(Batcher[CallRecord]):
    def __init__(
        self, store: UsageLog, *, batch_size: int = 256, flush_ms: int = 50,
        spill_path: Path | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, flush_ms=flush_ms, thread_name="ledger")
        self._store = store
        self._spill_path = spill_path
        self.written = 0

    def submit(self, record: CallRecord) -> None:
        self._add(record)

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.05
        while self._pending:
            batch = self._pending[: max(self._batch_size * 4, 1024)]
            try:
                await loop.run_in_executor(self._executor, self._store.append, batch)
            except Exception:
                log.exception("ledger write failed; %d records kept for retry", len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            del self._pending[: len(batch)]
            self.written += len(batch)

    async def drain(self) -> None:
        """Flush everything pending; on persistent failure spill to a file."""
        await self._settle()
        if self._pending:
            try:
                await asyncio.wait_for(self._flush_all(), timeout=30)
            except TimeoutError:
                self._spill()
        self._executor.shutdown(wait=True)

    def _spill(self) -> None:
        path = self._spill_path or Path("fleetcost-ledger-spill.jsonl")
        with path.open("ab") as fh:
            for rec in self._pending:
                fh.write(orjson.dumps(dataclasses.asdict(rec), default=str) + b"\n")
        log.error("ledger unreachable at shutdown: %d records spilled to %s",
                  len(self._pending), path)
        self._pending.clear()
