"""Contract tests for every CacheStore backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcost.storage.base import CacheEntry
from fleetcost.storage.cache_memory import MemoryCacheStore
from fleetcost.storage.cache_sqlite import SQLiteCacheStore

Store = MemoryCacheStore | SQLiteCacheStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryCacheStore() if request.param == "memory" else SQLiteCacheStore(
        tmp_path / "cache.db")
    yield s
    s.close()


def _entry(key: str, tenant: str = "t", expires: float = 2000.0,
           tags: tuple[str, ...] = ()) -> CacheEntry:
    return CacheEntry(key=key, tenant=tenant, created=1000.0, expires=expires, model="m",
                      stream=False, body=b'{"x": 1}', cost_usd="0.0012", tags=tags)


def test_put_get_roundtrip(store: Store) -> None:
    store.put(_entry("k1", tags=("faq", "v2")))
    got = store.get("k1", now=1500.0)
    assert got == _entry("k1", tags=("faq", "v2"))
    assert store.get("nope", now=1500.0) is None


def test_expired_entries_never_returned(store: Store) -> None:
    store.put(_entry("k1", expires=1100.0))
    assert store.get("k1", now=1099.0) is not None
    assert store.get("k1", now=1100.0) is None


def test_invalidate_by_tag_is_per_tenant(store: Store) -> None:
    store.put(_entry("a", tenant="acme", tags=("faq",)))
    store.put(_entry("b", tenant="acme", tags=("faq-old",)))
    store.put(_entry("c", tenant="other", tags=("faq",)))
    assert store.invalidate("acme", "faq") == 1
    assert store.get("a", now=1500.0) is None
    assert store.get("b", now=1500.0) is not None
    assert store.get("c", now=1500.0) is not None


def test_hit_counts(store: Store) -> None:
    store.put(_entry("k"))
    store.hit("k")
    store.hit("k")
    assert store.hits("k") == 2


def test_memory_store_is_bounded() -> None:
    s = MemoryCacheStore(max_entries=3)
    for i in range(5):
        s.put(_entry(f"k{i}"))
    assert s.get("k0", now=1500.0) is None and s.get("k4", now=1500.0) is not None
