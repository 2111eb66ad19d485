"""The semantic cache's live state: a scoped vector index, entry metadata, eviction.

A lookup embeds the new question, searches only the entries of its scope
(see `pipeline/semantic.py` for what a scope is), and asks the match policy
(`cache.verify.HitVerifier`) about the best candidates above the threshold,
best first. Entries expire after their TTL (skipped, then dropped) and, at
capacity, the entries with the fewest hits per unit of age leave first:
`(hits + 1) / (age_s + 60)`, so a new entry is not evicted before it had a
chance to be asked again, and an old one stays only while it keeps earning.

Threads: lookups and writes run in worker threads (the forward pass and the
matrix search are numpy calls that release the GIL, so the event loop keeps
serving). One lock guards the index and the metadata; the embedding runs
outside it, and so does an IVF index's retraining (the index gets the lock
and swaps its new lists in under it). A new entry is visible in memory
before it reaches the store.

Memory holds per entry what a search and eviction need (id, vector in the
index, scope, tenant, tags, times, hits), not the question text: the few
candidates above the threshold have theirs read from the store, in one
query, before the match policy sees them.
"""

from __future__ import annotations

import functools
import heapq
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from fleetcost.cache.verify import HitVerifier, default_verifier
from fleetcost.storage.base import SemanticEntry, SemanticStore, VectorIndex

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

Embedder = Callable[[str], "FloatArray"]
CANDIDATES = 4  # nearest entries shown to the match policy, best first
AGE_GRACE_S = 60.0


def slim(entry: SemanticEntry) -> SemanticEntry:
    """The in-memory form: no body, no question text, and the strings that repeat across entries
    (scope, tenant, model) shared rather than copied per entry."""
    return replace(entry, scope=sys.intern(entry.scope), tenant=sys.intern(entry.tenant),
                   model=sys.intern(entry.model), text="", body=b"")


def score(entry: SemanticEntry, now: float) -> float:
    """Eviction score: hits per unit of age; expired entries score below everything."""
    if entry.expires <= now:
        return -1.0
    return (entry.hits + 1) / (max(now - entry.created, 0.0) + AGE_GRACE_S)


class SemanticCache:
    def __init__(self, store: SemanticStore, index: VectorIndex, capacity: int,
                 embed: Embedder, verifier: HitVerifier | None = None) -> None:
        self._store = store
        self._index = index
        self._capacity = capacity
        self._embed = embed
        self._verifier = verifier or default_verifier()
        self._meta: dict[str, SemanticEntry] = {}
        self._pending: dict[str, SemanticEntry] = {}  # added in memory, not yet in the store
        self._lock = threading.Lock()
        background = getattr(index, "train_in_background", None)
        if background is not None:
            background(self._lock)

    @classmethod
    def open(cls, store: SemanticStore, capacity: int, now: float,
             index: VectorIndex | None = None, runtime: str | None = None) -> SemanticCache:
        """Load the model and the stored entries; raises EmbeddingUnavailable when
        numpy, tokenizers or the model package are missing. `index`: a fresh
        index (`cache.semindex.build_index`); default: the configured kind.
        `runtime`: the embedding runtime (`embed.RUNTIMES`); None: the environment's.

        One BLAS thread unless the operator chose otherwise: the event loop owns
        a core, and BLAS threads spinning on tiny matmuls fight it (bench
        `semantic` on the busy two-core machine: lookup p50 73 ms with one
        thread, 791 ms with two).
        """
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from fleetcost.cache.embed import _load, embed_one
        from fleetcost.cache.semindex import build_index

        _load(runtime)
        embedder = functools.partial(embed_one, runtime=runtime)
        cache = cls(store, index if index is not None else build_index(), capacity, embedder)
        cache.load(now)
        return cache

    def load(self, now: float) -> int:
        """Rebuild the index from the store, one bulk insert per scope (an IVF index
        then trains once, not at every doubling); expired entries are dropped."""
        import numpy as np

        stale: list[str] = []
        scopes: dict[str, tuple[list[str], list[bytes]]] = {}
        with self._lock:
            for entry, blob in self._store.load():
                if entry.expires <= now:
                    stale.append(entry.entry_id)
                    continue
                entry = slim(entry)
                ids, blobs = scopes.setdefault(entry.scope, ([], []))
                ids.append(entry.entry_id)
                blobs.append(blob)
                self._meta[entry.entry_id] = entry
            for scope, (ids, blobs) in scopes.items():
                matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
                blobs.clear()
                self._index.add_many(ids, matrix, scope)
            victims = self._evict(now)
        self._store.delete(stale + victims)
        return len(self._meta)

    def __len__(self) -> int:
        return len(self._meta)

    def embed(self, text: str) -> FloatArray:
        return self._embed(text)

    def lookup(self, scope: str, text: str, threshold: float, now: float,
               vector: FloatArray | None = None) -> tuple[SemanticEntry | None, FloatArray]:
        """The best servable entry for `text` in `scope` (with its body), and the query vector."""
        vec = self._embed(text) if vector is None else vector
        with self._lock:
            found = self._index.search(vec, scope, k=CANDIDATES)
            cands = [(self._meta[i], cos) for i, cos in found if i in self._meta]
            pending = {e.entry_id: p for e, _ in cands
                       if (p := self._pending.get(e.entry_id)) is not None}
        expired = [e.entry_id for e, _ in cands if e.expires <= now]
        if expired:
            self._drop(expired)
        cands = [(e, cos) for e, cos in cands if e.expires > now and cos >= threshold]
        texts = self._texts([e.entry_id for e, _ in cands], pending)
        cands = [(e, cos) for e, cos in cands if e.entry_id in texts]  # not deleted meanwhile
        for entry, _cos in self._accepted(text, texts, cands, threshold):
            hit = self._served(entry, pending.get(entry.entry_id))
            if hit is not None:
                return replace(hit, text=texts[entry.entry_id]), vec
        return None, vec

    def _accepted(self, text: str, texts: dict[str, str],
                  cands: list[tuple[SemanticEntry, float]],
                  threshold: float) -> Iterator[tuple[SemanticEntry, float]]:
        """The candidates the verifier accepts, best first.

        A verifier with a model pass per pair (`verdicts`) judges them in one batch:
        one run over four pairs costs less than two runs of one, and a lookup that
        misses has to judge every candidate (bench `semantic`, lookup p50).
        """
        many = getattr(self._verifier, "verdicts", None)
        if many is not None and len(cands) > 1:
            found = many([(text, texts[e.entry_id], cos) for e, cos in cands], threshold)
            yield from (c for c, why in zip(cands, found, strict=True) if why is None)
            return
        for entry, cosine in cands:
            if self._verifier.verdict(text, texts[entry.entry_id], cosine, threshold) is None:
                yield entry, cosine

    def _texts(self, entry_ids: list[str], pending: dict[str, SemanticEntry]) -> dict[str, str]:
        """Question texts of the candidates: an entry not yet stored from memory, the rest
        in one store query (lookup bench: `text_read` in bench.cache_bench)."""
        out = {i: pending[i].text for i in entry_ids if i in pending}
        rest = [i for i in entry_ids if i not in out]
        if rest:
            out.update(self._store.texts(rest))
        return out

    def _served(self, entry: SemanticEntry, pending: SemanticEntry | None) -> SemanticEntry | None:
        body = pending.body if pending is not None else self._store.body(entry.entry_id)
        if body is None:
            return None
        with self._lock:
            current = self._meta.get(entry.entry_id)
            if current is None:
                return None  # evicted or invalidated meanwhile
            current = self._meta[entry.entry_id] = replace(current, hits=current.hits + 1)
        self._store.hit(entry.entry_id)
        return replace(current, body=body)

    def add(self, entry: SemanticEntry, vector: FloatArray, now: float) -> None:
        with self._lock:
            kept = self._meta[entry.entry_id] = slim(entry)
            self._index.add(entry.entry_id, vector, kept.scope)
            self._pending[entry.entry_id] = entry
            victims = self._evict(now)
        try:
            self._store.put(entry, vector.tobytes())
        finally:
            with self._lock:
                if self._pending.get(entry.entry_id) is entry:
                    self._pending.pop(entry.entry_id, None)
        self._store.delete(victims)

    def _evict(self, now: float) -> list[str]:
        """Under the lock: drop the lowest-scoring entries beyond capacity.

        Evicts at least 1% of capacity at a time, so a full cache scans its
        metadata once per hundred inserts rather than on every one.
        """
        over = len(self._meta) - self._capacity
        if over <= 0:
            return []
        count = min(len(self._meta), max(over, self._capacity // 100))
        ranked = heapq.nsmallest(count, self._meta.values(), key=lambda e: score(e, now))
        victims = [e.entry_id for e in ranked]
        for entry_id in victims:
            self._forget(entry_id)
        return victims

    def _forget(self, entry_id: str) -> None:
        self._index.remove(entry_id)
        self._meta.pop(entry_id, None)
        self._pending.pop(entry_id, None)

    def _drop(self, entry_ids: list[str]) -> None:
        with self._lock:
            for entry_id in entry_ids:
                if entry_id in self._meta:
                    self._forget(entry_id)
        self._store.delete(entry_ids)

    def invalidate(self, tenant: str, tag: str) -> int:
        with self._lock:
            doomed = [i for i, e in self._meta.items() if e.tenant == tenant and tag in e.tags]
        self._drop(doomed)
        return len(doomed)

    def hits(self, entry_id: str) -> int:
        entry = self._meta.get(entry_id)
        return entry.hits if entry is not None else 0

    def close(self) -> None:
        wait = getattr(self._index, "wait_trainings", None)
        if wait is not None:
            wait()
        self._store.close()
