"""Summaries by block content, so a block is summarised once.

The key is a digest of the summary model, the prompt and the block's
transcript: the same block always gets the same summary text, which is what
keeps a compressed prefix byte-identical from one turn to the next (and the
provider's prefix cache hitting). Concurrent calls that need the same block
share one summary call instead of racing to make two. A failed summary is
not kept, so a later call tries again. Entries live in the gateway process,
least recently used dropped first.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable


def block_key(model: str, prompt: str, transcript: str) -> str:
    digest = hashlib.sha256()
    for part in (model, prompt, transcript):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


class SummaryMemo:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._done: OrderedDict[str, str] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str | None]] = {}
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._done)

    async def get(self, key: str, make: Callable[[], Awaitable[str | None]]) -> str | None:
        found = self._done.get(key)
        if found is not None:
            self._done.move_to_end(key)
            self.hits += 1
            return found
        pending = self._pending.get(key)
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            text = await make()
        except BaseException:
            future.set_result(None)
            raise
        else:
            future.set_result(text)
            if text:
                self._done[key] = text
                if len(self._done) > self._max:
                    self._done.popitem(last=False)
            return text
        finally:
            del self._pending[key]
