"""The providers' prompt caches, as billing sees them.

Both caches store prefix digests (see `prompt`) with an expiry time; neither
stores text. They differ in who decides what is cached:

OpenAI caches automatically. Every prompt of 1,024+ tokens leaves its
prefixes at 1,024, 1,152, 1,280, ... tokens behind; a later prompt reads the
longest of them it shares, so `cached_tokens` moves in 128-token steps. An
entry lives `ttl` seconds after its last use.

Anthropic caches only at breakpoints (`cache_control` on a tool, system block
or message block). A request first looks for the longest cached prefix ending
at one of its breakpoints or at any of the 20 blocks before each (Anthropic's
lookback, which lets a breakpoint that moved forward with the conversation
still hit last turn's entry). That prefix is read. Every breakpoint beyond it
whose prefix reaches the model's minimum is written, and the tokens between
consecutive written breakpoints are billed at that breakpoint's TTL (5m or
1h); a breakpoint below the minimum is not cached and its tokens fall to the
next breakpoint that is. Reads refresh the entry's TTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LOOKBACK_BLOCKS = 20


class TTLStore:
    """digest -> (expiry, ttl); expired entries read as absent and are swept lazily."""

    def __init__(self, max_entries: int) -> None:
        self._entries: dict[bytes, tuple[float, float]] = {}
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def alive(self, key: bytes, now: float) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry[0] <= now:
            del self._entries[key]
            return False
        return True

    def touch(self, key: bytes, now: float, ttl: float) -> None:
        """Insert or refresh; a refresh never shortens a longer TTL still running."""
        old = self._entries.pop(key, None)
        if old is not None and old[0] > now:
            ttl = max(ttl, old[1])
        self._entries[key] = (now + ttl, ttl)
        if len(self._entries) > self._max:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        live = {k: v for k, v in self._entries.items() if v[0] > now}
        if len(live) > self._max // 2:
            # Still full of live entries: keep the most recently used half.
            live = dict(list(live.items())[len(live) - self._max // 2 :])
        self._entries = live

    def clear(self) -> None:
        self._entries.clear()


def openai_cached(store: TTLStore, keys: Sequence[bytes], now: float, ttl: float) -> int:
    """Tokens read from OpenAI's automatic cache; leaves this prompt's prefixes behind."""
    hit = 0
    for i, key in enumerate(keys):
        if not store.alive(key, now):
            break
        hit = i + 1
    for key in keys:
        store.touch(key, now, ttl)
    return 1024 + 128 * (hit - 1) if hit else 0


@dataclass(frozen=True, slots=True)
class Breakpoint:
    block: int  # index of the block carrying cache_control
    ttl_label: str  # "5m" or "1h"
    ttl: float  # seconds


@dataclass(frozen=True, slots=True)
class CacheUsage:
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0


def anthropic_cache(
    store: TTLStore, ends: Sequence[int], keys: Sequence[bytes],
    breakpoints: Sequence[Breakpoint], minimum: int, now: float,
) -> CacheUsage:
    read_block = _longest_hit(store, keys, breakpoints, now)
    read = ends[read_block] if read_block >= 0 else 0
    if read_block >= 0:
        # Refresh with the TTL of the breakpoint the hit is nearest to.
        covering = next((bp for bp in breakpoints if bp.block >= read_block), breakpoints[-1])
        store.touch(keys[read_block], now, covering.ttl)
    written = {"5m": 0, "1h": 0}
    done = read
    for bp in breakpoints:
        size = ends[bp.block]
        if size < minimum:
            continue
        if size > done:
            written[bp.ttl_label] += size - done
            done = size
        store.touch(keys[bp.block], now, bp.ttl)
    return CacheUsage(read=read, write_5m=written["5m"], write_1h=written["1h"])


def _longest_hit(
    store: TTLStore, keys: Sequence[bytes], breakpoints: Sequence[Breakpoint], now: float
) -> int:
    best = -1
    for bp in reversed(breakpoints):
        for block in range(bp.block, max(bp.block - LOOKBACK_BLOCKS, -1), -1):
            if block <= best:
                break
            if store.alive(keys[block], now):
                best = block
                break
    return best
