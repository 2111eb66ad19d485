"""In-memory exact cache with a size bound (least recently used goes first)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from fleetcost.storage.base import CacheEntry


class MemoryCacheStore:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._hits: dict[str, int] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, entry: CacheEntry) -> None:
        with self._lock:
            self._entries[entry.key] = entry
            self._entries.move_to_end(entry.key)
            while len(self._entries) > self._max:
                old, _ = self._entries.popitem(last=False)
                self._hits.pop(old, None)

    def invalidate(self, tenant: str, tag: str) -> int:
        with self._lock:
            doomed = [k for k, e in self._entries.items() if e.tenant == tenant and tag in e.tags]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def hit(self, key: str) -> None:
        with self._lock:
            self._hits[key] = self._hits.get(key, 0) + 1

    def hits(self, key: str) -> int:
        with self._lock:
            return self._hits.get(key, 0)

    def close(self) -> None:
        pass
