"""Cache stage: the exact response cache.

A cache key is a hash of everything that can change the answer: the wire
protocol, the model the client asked for, the tenant (answers never cross
tenants), an optional prompt version, and the client's body minus the fields
that only label or store the call (`metadata`, `user`, `store`). Attribution
headers are not part of it, so two agents asking the same thing share an
entry. `stream` and `stream_options` are part of it: a streamed answer is
stored as the exact SSE bytes the client received and replayed byte for byte,
so a streamed request is answered from a streamed entry only.

Sampled requests (temperature above zero, or absent, which both providers
default to 1, and no `seed`) are not cached unless `[cache] cache_sampled`
says so: replaying one sample as if it were the answer changes behaviour.

Modes, from config and per request (`X-Fleetcost-Cache`): `on`, `off`,
`read-only` (serve hits, store nothing) and `write-only` (store, never serve).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.config import CacheConfig
from fleetcost.pipeline.state import CallState
from fleetcost.storage.base import CacheEntry, CacheStore

MODES = frozenset({"on", "off", "read-only", "write-only"})
UNKEYED = frozenset({"metadata", "user", "store"})
MAX_TAGS = 16


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What the cache may do for one call (decided before the call)."""

    key: str | None  # None: bypass (off, sampled, or nothing to do)
    read: bool
    write: bool
    tags: tuple[str, ...]


BYPASS = CachePlan(key=None, read=False, write=False, tags=())


def _sampled(body: dict[str, Any]) -> bool:
    temperature = body.get("temperature")
    hot = temperature is None or (isinstance(temperature, int | float) and temperature > 0)
    return hot and body.get("seed") is None


def _tags(state: CallState) -> tuple[str, ...]:
    raw = state.headers.get("x-fleetcost-cache-tags") or (
        state.request.metadata.get("cache_tags", "") if state.request else "")
    return tuple(t.strip() for t in raw.split(",") if t.strip())[:MAX_TAGS]


def cache_key(state: CallState, prompt_version: str) -> str:
    assert state.request is not None
    body = {k: v for k, v in state.request.body.items() if k not in UNKEYED}
    head = "\x1f".join((state.adapter.kind, state.request.model, state.identity.tenant,
                        prompt_version))
    digest = hashlib.blake2b(head.encode(), digest_size=20)
    digest.update(b"\x1e")
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def cache_version(state: CallState) -> str:
    """The prompt version the client declared (header or metadata), or ''."""
    assert state.request is not None
    return state.headers.get("x-fleetcost-prompt-version") or state.request.metadata.get(
        "prompt_version", "")


def plan(state: CallState, cfg: CacheConfig) -> CachePlan:
    """Decide the cache's part in this call; a bad header value is ignored, not fatal."""
    assert state.request is not None
    requested = state.headers.get("x-fleetcost-cache", "").strip().lower()
    mode = requested if requested in MODES else cfg.mode
    if mode == "off":
        return BYPASS
    if _sampled(state.request.body) and not cfg.cache_sampled:
        return BYPASS
    return CachePlan(key=cache_key(state, cache_version(state)), read=mode in ("on", "read-only"),
                     write=mode in ("on", "write-only"), tags=_tags(state))


def lookup(
    store: CacheStore, cache: CachePlan, pending: dict[str, CacheEntry]
) -> CacheEntry | None:
    """Entries still being written (off the response path) are visible at once."""
    if cache.key is None or not cache.read:
        return None
    now = time.time()
    entry = pending.get(cache.key)
    if entry is not None and entry.expires > now:
        return entry
    return store.get(cache.key, now)


def entry_for(state: CallState, cache: CachePlan, body: bytes, ttl_s: float,
              cost_usd: str | None) -> CacheEntry:
    assert cache.key is not None and state.request is not None
    now = time.time()
    return CacheEntry(key=cache.key, tenant=state.identity.tenant, created=now,
                      expires=now + ttl_s, model=state.answered_model or state.upstream_model or "",
                      stream=state.request.stream, body=body, cost_usd=cost_usd, tags=cache.tags)
