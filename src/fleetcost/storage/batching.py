"""Collect items on the event loop, write them in batches on one worker thread.

Both the ledger writer and the request-body writer need the same shape: the
hot path only appends to a list; a batch goes to a worker thread when it
reaches `batch_size` items or `flush_ms` after its first item, whichever
comes first; `drain` at shutdown waits for the flush in progress and writes
the rest. What a failed write means differs (the ledger retries and spills,
a body is only lost to replay), so subclasses write the batches.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, *, batch_size: int, flush_ms: int, thread_name: str) -> None:
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000
        self._pending: list[T] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)

    def _add(self, item: T) -> None:
        self._pending.append(item)
        if len(self._pending) >= self._batch_size:
            self._kick()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_s, self._kick)

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_all())

    async def _flush_all(self) -> None:
        raise NotImplementedError

    async def _settle(self) -> None:
        """Stop the timer and wait for a flush already running (the start of `drain`)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None and not self._flushing.done():
            await self._flushing

    @property
    def pending(self) -> int:
        return len(self._pending)
