"""Semantic-cache lookup benchmark: `python -m bench.cache_bench [--entries N]`.

Measures what the issue's target names (p50 <= 10 ms per lookup with 100,000
entries, embedding included) and the index's memory per 100,000 entries, in
one process so embedding and search share the same machine state. Cached
vectors are random unit vectors (search cost does not depend on their values);
queries are real questions embedded by the numpy MiniLM.

`--gateway-cache` measures the gateway's own `SemanticCache` instead of the
bare index: entries in one scope (the worst case: scopes partition the
search; `--scopes N` spreads them over N scopes instead), persisted to
SQLite as the gateway does, looked up with the real
match policy; half the queries are paraphrases of stored questions (hits),
half are new (misses). It reports the lookup (embedding + scoped search +
verdict + body read), its parts, the RSS the entries add, and the reload time.

`--retrain` (IVF): fills one scope to 131,071 entries, then inserts while a
second thread looks up without pause: the next insert starts the
65,536 -> 131,072 retraining (in its worker thread), and the inserts and
lookups that overlap it are reported apart from the rest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

_PAIRS = "../shared/data/gptcache/derived/qqp_pairs_labeled.jsonl.gz"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(entries: int, queries: int) -> dict[str, float]:
    import numpy as np

    from fleetcost.cache.embed import DIM, embed, embed_one
    from fleetcost.cache.index import NumpyIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((entries, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = NumpyIndex()
    start = time.perf_counter()
    for i, vec in enumerate(vectors):
        index.add(str(i), vec, "tenant|model|sys|tools|params")
    build_s = time.perf_counter() - start
    texts = [f"How do I learn topic number {i} quickly?" for i in range(queries)]
    embed(texts[:2])  # load the model outside the timed loop
    search_ms: list[float] = []
    total_ms: list[float] = []
    for text in texts:
        t0 = time.perf_counter()
        vec = embed_one(text)
        t1 = time.perf_counter()
        index.search(vec, "tenant|model|sys|tools|params", k=5)
        t2 = time.perf_counter()
        search_ms.append((t2 - t1) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
    matrix_mb = entries * DIM * 4 / 1e6  # live float32 rows; capacity doubling may add up to 2x
    return {
        "entries": entries, "build_s": round(build_s, 3),
        "search_p50_ms": round(statistics.median(search_ms), 3),
        "search_p99_ms": round(_percentile(search_ms, 0.99), 3),
        "lookup_p50_ms": round(statistics.median(total_ms), 3),
        "lookup_p99_ms": round(_percentile(total_ms, 0.99), 3),
        "vectors_mb_per_100k": round(matrix_mb * 100_000 / entries, 1),
    }


def verifier_cost(pairs_path: str, count: int) -> dict[str, float]:
    """Per-call cost of the default HitVerifier on real question pairs (first `count`).

    One verifier serves every call, as in the gateway, so its memo of recent
    texts and words is as warm as real traffic would keep it; each query is new.
    """
    from fleetcost.cache.embed import embed
    from fleetcost.cache.evaluate import load_pairs
    from fleetcost.cache.verify import default_threshold, default_verifier

    pairs = load_pairs(Path(pairs_path), count)
    vecs = embed([p.text_a for p in pairs] + [p.text_b for p in pairs])
    cos = (vecs[: len(pairs)] * vecs[len(pairs):]).sum(axis=1)
    verifier, floor = default_verifier(), default_threshold()
    verifier.verdict("warm up", "warm up", 1.0, floor)
    ms: list[float] = []
    for p, c in zip(pairs, cos, strict=True):
        t0 = time.perf_counter()
        verifier.verdict(p.text_b, p.text_a, max(float(c), floor), floor)
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"verifier_calls": len(ms), "verifier_p50_ms": round(statistics.median(ms), 3),
            "verifier_p99_ms": round(_percentile(ms, 0.99), 3)}


STORED = (
    "How do I reset my password?", "What is the refund policy for cancelled flights?",
    "How do I change my seat on a booked flight?", "How do I update my billing address?",
    "What is the baggage allowance for economy class?", "How do I cancel my subscription?",
    "How do I export my data to CSV?", "How do I add a second traveller to my booking?",
)
PARAPHRASES = (
    "How can I reset my password?", "What's the refund policy for canceled flights?",
    "How can I change my seat on a flight I booked?", "How can I update my billing address?",
    "What's the baggage allowance in economy class?", "How can I cancel my subscription?",
    "How can I export my data as CSV?", "How can I add a second traveller to my booking?",
)
SCOPE = "tenant|openai|gpt-4o-mini|v|sys|tools|params|history"


def _scope(i: int, scopes: int) -> str:
    """Entry i's scope: the stored questions (i < 8) always sit in SCOPE, the one queried."""
    return SCOPE if i % scopes == 0 or i < len(STORED) else f"{SCOPE}#{i % scopes}"


def _fill(cache: Any, entries: int, now: float, scopes: int,
          text_chars: int = 0) -> dict[str, float]:
    """Insert through the cache (index + durable SQLite row), each insert timed: a
    training IVF index shows up in the p99/max, not in the median."""
    import numpy as np

    from fleetcost.storage.base import SemanticEntry

    rng = np.random.default_rng(0)
    real = [cache.embed(t) for t in STORED]
    wall, cpu = [], []
    start = time.perf_counter()
    for i in range(entries):
        text = STORED[i] if i < len(STORED) else (  # padded: each entry its own copy
            f"stored question number {i}" + " (earlier turns)" * (text_chars // 16))
        if i < len(STORED):
            vec = real[i]
        else:
            vec = rng.standard_normal(384).astype(np.float32)
            vec /= np.linalg.norm(vec)
        entry = SemanticEntry(entry_id=f"e{i}", scope=_scope(i, scopes), tenant="t", text=text,
                              created=now, expires=now + 86_400, model="gpt-4o-mini",
                              stream=False, cost_usd="0.000123", body=b"{}" * 200)
        c0, t0 = time.thread_time(), time.perf_counter()
        cache.add(entry, vec, now)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {"fill_s": round(time.perf_counter() - start, 2),
            "insert_p50_ms": _ms(statistics.median(wall)),
            "insert_p99_ms": _ms(_percentile(wall, 0.99)), "insert_max_ms": _ms(max(wall)),
            "insert_cpu_p50_ms": _ms(statistics.median(cpu)),
            "insert_cpu_max_ms": _ms(max(cpu))}


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def _stats(wall: list[float], cpu: list[float], name: str) -> dict[str, float]:
    return {f"{name}_p50_ms": _ms(statistics.median(wall)),
            f"{name}_p99_ms": _ms(_percentile(wall, 0.99)),
            f"{name}_cpu_p50_ms": _ms(statistics.median(cpu)),
            f"{name}_cpu_p99_ms": _ms(_percentile(cpu, 0.99))}


def _timings(cache: Any, index: Any, queries: int, now: float) -> dict[str, Any]:
    """Lookup = embedding + the cache's lookup (scoped search, verdict, body read), wall
    and CPU of this thread (with one BLAS thread it is all of the work, readable on a
    shared machine); the embedding and the bare index search timed apart."""
    texts = [PARAPHRASES[i % len(PARAPHRASES)] if i % 2 == 0 else
             f"What is the weather like in city number {i} today?" for i in range(queries)]
    times: dict[str, tuple[list[float], list[float]]] = {
        k: ([], []) for k in ("lookup", "embed", "search", "index_search")}
    hits = 0
    for text in texts:
        c0, t0 = time.thread_time(), time.perf_counter()
        vec = cache.embed(text)
        c1, t1 = time.thread_time(), time.perf_counter()
        entry, _ = cache.lookup(SCOPE, text, 0.90, now, vector=vec)
        c2, t2 = time.thread_time(), time.perf_counter()
        index.search(vec, SCOPE, 4)
        c3, t3 = time.thread_time(), time.perf_counter()
        hits += entry is not None
        for key, (w, c) in (("lookup", (t2 - t0, c2 - c0)), ("embed", (t1 - t0, c1 - c0)),
                            ("search", (t2 - t1, c2 - c1)), ("index_search", (t3 - t2, c3 - c2))):
            times[key][0].append(w)
            times[key][1].append(c)
    out: dict[str, Any] = {"queries": queries, "hits": hits, "expected_hits": (queries + 1) // 2}
    for key, (w, c) in times.items():
        out.update(_stats(w, c, key))
    return out


def _index_inserts(index: Any, count: int = 2000) -> dict[str, float]:
    """The bare index's insert (and delete) cost at full size: ids added then removed."""
    import numpy as np

    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((count, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    add, rem = [], []
    for i, vec in enumerate(vecs):
        c0 = time.thread_time()
        index.add(f"extra{i}", vec, SCOPE)
        add.append(time.thread_time() - c0)
    for i in range(count):
        c0 = time.thread_time()
        index.remove(f"extra{i}")
        rem.append(time.thread_time() - c0)
    return {"index_insert_cpu_p50_ms": _ms(statistics.median(add)),
            "index_remove_cpu_p50_ms": _ms(statistics.median(rem))}


def _settle(index: Any) -> None:
    """Wait for a background training to finish, so memory and timings see one index."""
    wait = getattr(index, "wait_trainings", None)
    if wait is not None:
        wait()


def _text_reads(store: Any, count: int, queries: int) -> dict[str, float]:
    """What reading the candidates' question texts from the store adds to a lookup
    (memory no longer holds them): one query for 4 ids, as a lookup makes."""
    import numpy as np

    rng = np.random.default_rng(2)
    wall: list[float] = []
    if not hasattr(store, "texts"):
        return {}
    for _ in range(queries):
        ids = [f"e{int(i)}" for i in rng.integers(0, count, 4)]
        t0 = time.perf_counter()
        store.texts(ids)
        wall.append(time.perf_counter() - t0)
    return {"text_read_p50_ms": _ms(statistics.median(wall)),
            "text_read_p99_ms": _ms(_percentile(wall, 0.99))}


def _overlap(cache: Any, index: Any, now: float, start: int) -> dict[str, Any]:
    """Inserts from `start` on (the first one starts a training) while another thread
    looks up; timings taken while the training runs are kept apart."""
    import threading

    import numpy as np

    from fleetcost.storage.base import SemanticEntry

    stop, looks = threading.Event(), []

    def looker() -> None:
        n = 0
        while not stop.is_set():
            text = PARAPHRASES[n % len(PARAPHRASES)] if n % 2 == 0 else f"new question {n}"
            vec = cache.embed(text)
            busy, t0 = index.training(), time.perf_counter()
            cache.lookup(SCOPE, text, 0.90, now, vector=vec)
            looks.append((busy and index.training(), time.perf_counter() - t0))
            n += 1

    rng = np.random.default_rng(4)
    inserts, thread, began = [], threading.Thread(target=looker), time.perf_counter()
    thread.start()
    i, trained_s = start, 0.0
    while i < start + 2000 or index.training():
        vec = rng.standard_normal(384).astype(np.float32)
        vec /= np.linalg.norm(vec)
        entry = SemanticEntry(entry_id=f"e{i}", scope=SCOPE, tenant="t", text=f"q {i}",
                              created=now, expires=now + 86_400, model="gpt-4o-mini",
                              stream=False, cost_usd="0.000123", body=b"{}" * 200)
        t0 = time.perf_counter()
        cache.add(entry, vec, now)
        inserts.append((index.training(), time.perf_counter() - t0))
        trained_s = time.perf_counter() - began if index.training() else trained_s
        i += 1
        time.sleep(0.0005)  # a busy gateway, not a bulk load: leaves the lock to lookups
    stop.set()
    thread.join()
    during = [w for busy, w in looks if busy]
    ins_during = [w for busy, w in inserts if busy]
    return {"retrain_at_entries": start, "retrain_wall_s": round(trained_s, 2),
            "inserts_during_retrain": len(ins_during),
            "insert_max_during_retrain_ms": _ms(max(ins_during, default=0.0)),
            "insert_max_ms_overall": _ms(max(w for _, w in inserts)),
            "lookups_during_retrain": len(during),
            "lookup_p50_during_retrain_ms": _ms(statistics.median(during)) if during else None,
            "lookup_p99_during_retrain_ms": _ms(_percentile(during, 0.99)) if during else None,
            "lookup_max_during_retrain_ms": _ms(max(during, default=0.0)),
            "lookup_max_overall_ms": _ms(max(w for _, w in looks))}


class _TimedLock:
    """The cache's lock, recording how long each holder keeps it (the stall a lookup
    can meet), for the benchmark only."""

    def __init__(self) -> None:
        import threading

        self._lock, self.held, self._since = threading.Lock(), [], 0.0

    def __enter__(self) -> None:
        self._lock.acquire()
        self._since = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.held.append(time.perf_counter() - self._since)
        self._lock.release()


def retrain_growth() -> dict[str, Any]:
    """The 65,536 -> 131,072 retraining of one scope under traffic (`--retrain`)."""
    import os
    import tempfile

    from fleetcost.cache.semcache import SemanticCache
    from fleetcost.cache.semindex import build_index
    from fleetcost.storage.semantic_sqlite import SQLiteSemanticStore

    now, load0, size = time.time(), os.getloadavg(), 131_071
    with tempfile.TemporaryDirectory(prefix="fleetcost-sem-") as tmp:
        index = build_index(kind="ivf")
        cache = SemanticCache.open(SQLiteSemanticStore(Path(tmp) / "s.db"), 10**6, now, index)
        fill = _fill(cache, size, now, 1)
        _settle(index)
        timed = _TimedLock()
        cache._lock = timed  # same lock object for the cache and its index's worker
        index.train_in_background(timed)
        c0 = time.process_time()
        result = _overlap(cache, index, now, size)
        result["lock_held_max_ms"] = _ms(max(timed.held))
        result["lock_held_p999_ms"] = _ms(_percentile(timed.held, 0.999))
        result["process_cpu_s_during_phase"] = round(time.process_time() - c0, 2)
        cache.close()
    return {"filled": size, "fill_insert_max_ms": fill["insert_max_ms"], **result,
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "loadavg_1m_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)]}


def gateway_cache(entries: int, queries: int, scopes: int = 1,
                  kind: str | None = None, text_chars: int = 0) -> dict[str, Any]:
    import os
    import tempfile
    from pathlib import Path

    import psutil

    from fleetcost.cache.semcache import SemanticCache
    from fleetcost.cache.semindex import build_index, index_kind
    from fleetcost.storage.semantic_sqlite import SQLiteSemanticStore

    kind = kind or index_kind()
    proc = psutil.Process()
    now, load0 = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fleetcost-sem-") as tmp:
        path = Path(tmp) / "semantic.db"
        rss0 = proc.memory_info().rss
        index = build_index(kind=kind)
        cache = SemanticCache.open(SQLiteSemanticStore(path), entries, now, index)
        rss_model = proc.memory_info().rss
        fill = _fill(cache, entries, now, scopes, text_chars)
        _settle(index)
        rss_full = proc.memory_info().rss
        cache.lookup(SCOPE, PARAPHRASES[0], 0.90, now)  # first-call costs out of the timings
        result = {**fill, **_timings(cache, index, queries, now), **_index_inserts(index),
                  **_text_reads(cache._store, entries, queries)}
        held = index.stats()
        cache.close()
        reload = build_index(kind=kind)
        c0, start = time.process_time(), time.perf_counter()
        reloaded = SemanticCache.open(SQLiteSemanticStore(path), entries, now, reload)
        reload_s, reload_cpu = time.perf_counter() - start, time.process_time() - c0
        assert len(reloaded) == entries
        reloaded.close()
    added_mb = (rss_full - rss_model) / 1e6
    return {
        "index": kind, "entries": entries, "scopes": scopes, "text_chars_added": text_chars,
        "queried_scope_entries": sum(_scope(i, scopes) == SCOPE for i in range(entries)),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"), **result,
        "index_lists": held["lists"],
        "rss_model_mb": round((rss_model - rss0) / 1e6, 1),
        "rss_entries_mb": round(added_mb, 1),
        "rss_mb_per_100k_entries": round(added_mb * 100_000 / entries, 1),
        "index_vector_mb_per_100k_entries": round(
            held["vector_bytes"] / 1e6 * 100_000 / entries, 1),
        "reload_s": round(reload_s, 2), "reload_cpu_s": round(reload_cpu, 2),
        "loadavg_1m_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--gateway-cache", action="store_true",
                        help="measure the gateway's SemanticCache (see the module docstring)")
    parser.add_argument("--scopes", type=int, default=1,
                        help="with --gateway-cache: spread the entries over this many scopes")
    parser.add_argument("--index", choices=("ivf", "exact"), default=None,
                        help="with --gateway-cache: vector index (default: the configured one)")
    parser.add_argument("--text-chars", type=int, default=0,
                        help="with --gateway-cache: lengthen each stored question by about "
                        "this many characters (a conversation's context: memory per entry)")
    parser.add_argument("--retrain", action="store_true",
                        help="measure lookups and inserts during the 65k -> 131k retraining")
    parser.add_argument("--pairs", default=_PAIRS,
                        help="labelled pairs for the verifier's per-call cost ('' to skip)")
    args = parser.parse_args()
    result: dict[str, Any]
    if args.retrain:
        result = retrain_growth()
    elif args.gateway_cache:
        result = gateway_cache(args.entries, args.queries, args.scopes, args.index,
                               args.text_chars)
    else:
        result = run(args.entries, args.queries)
    if args.pairs and Path(args.pairs).is_file():
        result.update(verifier_cost(args.pairs, args.queries))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
