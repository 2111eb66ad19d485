"""Background retraining of the IVF index and question texts read from the store.

Threads insert, remove and search while trainings run in their worker: no
entry is lost or duplicated, a removed entry is never returned, and the
semantic cache serves what was inserted, text included, while holding no
question text in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fleetcost.storage.base import SemanticEntry
from fleetcost.storage.vector_ivf import IvfIndex, IvfParams
from fleetcost.storage.vector_numpy import NumpyIndex

PARAMS = IvfParams.defaults(train_at=1024, list_size=8, nprobe=16)



def run_together(*targets: Callable[[], None]) -> None:
    """Start every target in its own thread and wait (bounded) for all of them."""
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _held(index: IvfIndex) -> list[str]:
    """Every id in every list of every scope (a duplicate would show twice)."""
    return [i for part in index._scopes.values() for rows in part.lists for i in rows.ids]


def test_concurrent_writes_and_searches_during_trainings() -> None:
    rng = np.random.default_rng(3)
    vecs = _unit(rng.standard_normal((9000, 384)))
    lock, index = threading.Lock(), IvfIndex(params=PARAMS)
    index.train_in_background(lock)
    live: dict[str, int] = {}
    removed: set[str] = set()
    seen_training, bad, done = [0], [], threading.Event()

    def writer() -> None:
        for n in range(len(vecs)):
            with lock:
                index.add(f"e{n}", vecs[n], "s")
                live[f"e{n}"] = n
                seen_training[0] += index.training()
                if n % 3 == 0 and n > 10:  # churn: removes and re-adds with a new vector
                    gone = f"e{int(rng.integers(0, n))}"
                    if index.remove(gone):
                        live.pop(gone)
                        removed.add(gone)
                if n % 7 == 0 and n > 10:
                    back = f"e{int(rng.integers(0, n))}"
                    index.add(back, vecs[n], "s")
                    live[back] = n
                    removed.discard(back)
        done.set()

    def reader() -> None:
        while not done.is_set():
            pick = int(rng.integers(0, len(vecs)))
            with lock:
                for entry_id, _ in index.search(vecs[pick], "s", k=4):
                    if entry_id not in live:
                        bad.append(entry_id)

    run_together(writer, reader)
    assert index.wait_trainings(120)
    assert not bad, f"removed entries returned: {bad[:5]}"
    assert seen_training[0] > 0  # writes did overlap a running training
    assert index._scopes["s"].generation >= 2  # trained at 1024 and again on doubling
    held = _held(index)
    assert len(held) == len(set(held)) == len(index) == len(live)
    assert set(held) == set(live)
    exact = NumpyIndex()
    for entry_id, n in live.items():
        exact.add(entry_id, vecs[n], "s")
    agree = 0
    for n in list(live.values())[::50]:
        got = index.search(vecs[n], "s", k=1)[0]
        agree += got[1] > 0.999 and exact.search(vecs[n], "s", k=1)[0][1] > 0.999
    assert agree == len(list(live.values())[::50])  # every live entry is found by its vector


def test_removes_during_the_first_training_are_replayed() -> None:
    rng = np.random.default_rng(5)
    vecs = _unit(rng.standard_normal((1100, 384)))
    lock, index = threading.Lock(), IvfIndex(params=PARAMS)
    index.train_in_background(lock)
    with lock:
        for n, vec in enumerate(vecs[:1024]):
            index.add(f"e{n}", vec, "s")  # the last insert starts the first training
        for n in range(600):
            index.remove(f"e{n}")  # before the worker copies or swaps: replayed
    assert index.wait_trainings(60)
    assert sorted(_held(index)) == sorted(f"e{n}" for n in range(600, 1024))


def test_cache_serves_stored_text_under_concurrent_traffic(tmp_path: Path) -> None:
    from fleetcost.cache.semcache import SemanticCache
    from fleetcost.storage.semantic_sqlite import SQLiteSemanticStore

    rng = np.random.default_rng(9)
    vecs = _unit(rng.standard_normal((3000, 384)))
    now = time.time()
    store = SQLiteSemanticStore(tmp_path / "semantic.db")
    index = IvfIndex(params=PARAMS)
    cache = SemanticCache(store, index, 100_000, embed=lambda _t: vecs[0])
    texts = {f"e{n}": f"question {n}: how do I reach setting {n * 7}?" for n in range(len(vecs))}
    served, wrong, done = [], [], threading.Event()

    def entry(n: int) -> SemanticEntry:
        return SemanticEntry(entry_id=f"e{n}", scope="s", tenant="t", text=texts[f"e{n}"],
                             created=now, expires=now + 600, model="m", stream=False,
                             cost_usd="0.001", tags=(f"g{n % 5}",), body=b'{"a": %d}' % n)

    def writer() -> None:
        for n in range(len(vecs)):
            cache.add(entry(n), vecs[n], now)
            if n == 2000:
                cache.invalidate("t", "g0")
        done.set()

    def reader() -> None:
        while not done.is_set():
            n = int(rng.integers(0, len(vecs)))
            hit, _ = cache.lookup("s", texts[f"e{n}"], 0.9, now, vector=vecs[n])
            if hit is not None:
                served.append(n)
                if hit.text != texts[hit.entry_id] or hit.body != b'{"a": %d}' % n:
                    wrong.append(n)

    run_together(writer, reader)
    assert index.wait_trainings(60)
    assert served and not wrong
    assert all(e.text == "" for e in cache._meta.values())  # no question text in memory
    gone = [n for n in range(2001) if n % 5 == 0]
    for n in gone[::20]:
        assert cache.lookup("s", texts[f"e{n}"], 0.9, now, vector=vecs[n])[0] is None
    assert len(cache) == len(index) == len(vecs) - len(gone) == len(set(_held(index)))
    for n in (1, 2001, 2999):
        hit, _ = cache.lookup("s", texts[f"e{n}"], 0.9, now, vector=vecs[n])
        assert hit is not None and hit.entry_id == f"e{n}" and hit.text == texts[f"e{n}"]
    assert store.texts(["e1", "e0", "nope"]) == {"e1": texts["e1"]}
    cache.close()
