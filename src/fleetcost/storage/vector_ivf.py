"""Approximate vector index for the semantic cache: inverted lists of compact rows.

Why IVF in numpy (measured here, 100,000 x 384 in one scope, one BLAS thread,
CPU per query; bench `semantic` and bench notes in the report): the exact scan
costs ~5.5 ms and 201 MB of float32 rows; this index 0.35-0.6 ms and 87 MB,
inserts 0.03 ms. usearch searched in ~1.5 ms but inserted at ~9 ms each with
286 MB; hnswlib has no wheel here (it compiles on install); faiss HNSW
inserted at 0.35 ms with 185 MB and faiss IVF was faster still (0.11 ms) but
is a 30 MB native dependency for a part that is ~7% of a lookup (the
embedding is the rest). The cache inserts on every miss, so an insert stays
one small matvec against the centroids and an append. A search scores the
query against the centroids, then only the `nprobe` nearest lists (int16
rows widened to float32 for that gather), ~5% of the scope at 100,000
entries. Rows are int16 fixed point (`ivf_lists.py`): half of float32.

A scope below `train_at` entries is one list scanned whole (exact). Once it
reaches `train_at`, spherical k-means (on a bounded sample) splits it into
about `size / list_size` lists; it is trained again when as many entries have
been added since the last training as it held then (growth by 2x, or the
whole content churned by eviction), so lists stay balanced. A bare index
trains inside `add`; the semantic cache hands it its lock
(`train_in_background`) and trainings then run in a worker thread, the lock
held only for short copies and the final swap (`ivf_retrain.py`): ~0.5
CPU-seconds at 131,072 entries no longer stall every lookup. Quality: on
the Quora pairs (`fleetcost eval cache --index ivf`) the served answer
equals the exact scan's for 99.95% of queries at the default threshold.

Scopes partition everything (lists, centroids), as in `NumpyIndex`: a search
can only see entries of its own scope.
"""

from __future__ import annotations

import json
import logging
import threading
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetcost.storage.ivf_lists import (
    SCALE,
    RowList,
    give_back_free_memory,
    kmeans,
    nearest,
    sample_rows,
)
from fleetcost.storage.ivf_retrain import Change, fill_lists, replay

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


log = logging.getLogger(__name__)
_TRIM_EVERY = 4096  # inserts into one scope between two returns of freed heap pages
_LAST_ROUND = 64  # journalled changes left for the final replay under the lock


@dataclass(frozen=True)
class IvfParams:
    """Knobs of the index (meanings in semantic_index.toml, which holds the defaults;
    `[cache.semantic.ivf]` overrides them)."""

    train_at: int
    list_size: int
    nprobe: int
    iterations: int
    sample_per_list: int
    seed: int

    @classmethod
    def defaults(cls, **overrides: int | None) -> IvfParams:
        """The data file's values, with any non-None override applied."""
        values = dict(index_defaults()["ivf"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def index_defaults() -> dict[str, Any]:
    """storage/semantic_index.toml: the default index kind and IVF knobs."""
    text = resources.files("fleetcost.storage").joinpath("semantic_index.toml").read_text()
    return tomllib.loads(text)


@dataclass
class _Scope:
    dim: int
    lists: list[RowList] = field(default_factory=list)
    centroids: FloatArray | None = None
    trained_size: int = 0  # entries when last trained (0: exact)
    added_since: int = 0
    journal: list[Change] | None = None  # changes while a background training runs
    generation: int = 0  # bumped when the lists are replaced: a stale training is dropped
    # id -> list, per scope: a background training swaps this whole map in one step
    where: dict[str, RowList] = field(default_factory=dict)


class IvfIndex:
    """Approximate cosine search (vectors unit-normalised), inverted lists per scope."""

    def __init__(self, dim: int = 384, params: IvfParams | None = None) -> None:
        self.dim = dim
        self.params = params or IvfParams.defaults()
        self._scopes: dict[str, _Scope] = {}
        self._where: dict[str, _Scope] = {}  # id -> its scope (the scope knows the list)
        self._lock: threading.Lock | None = None
        self._workers: list[threading.Thread] = []

    def train_in_background(self, lock: threading.Lock) -> None:
        """From now on trainings run in a worker thread; `lock` is the one the owner
        holds around every call to this index (the worker takes it for its copies
        and the swap)."""
        self._lock = lock

    def wait_trainings(self, timeout: float | None = None) -> bool:
        """Join the running trainings (tests, benchmarks, shutdown); True when none is left."""
        for worker in list(self._workers):
            worker.join(timeout)
        self._workers = [w for w in self._workers if w.is_alive()]
        return not self._workers

    def training(self) -> bool:
        return any(w.is_alive() for w in self._workers)

    def add(self, entry_id: str, vector: FloatArray, scope: str) -> None:
        """Insert or replace; an id moved to another scope leaves the old one."""
        if vector.shape != (self.dim,):
            raise ValueError(f"expected a vector of shape ({self.dim},), got {vector.shape}")
        if entry_id in self._where:
            self.remove(entry_id)
        part = self._scopes.get(scope)
        if part is None:
            part = self._scopes[scope] = _Scope(self.dim)
        rows = self._list_for(part, scope, vector)
        rows.append(entry_id, vector)
        self._placed(part, entry_id, rows)
        part.added_since += 1
        if self._due(part):
            self._retrain(part, scope)
        elif part.added_since % _TRIM_EVERY == 0:
            give_back_free_memory()  # lists grew: the arrays they left are heap holes

    def add_many(self, entry_ids: Sequence[str], vectors: FloatArray, scope: str) -> None:
        """Bulk insert (loading at start): one training for the lot, not one per doubling."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        for entry_id in entry_ids:
            if entry_id in self._where:
                self.remove(entry_id)
        part = self._scopes.setdefault(scope, _Scope(self.dim))
        if not part.lists:
            part.lists.append(RowList(self.dim, scope, capacity=len(entry_ids)))
        if len(entry_ids) != len(vectors):
            raise ValueError(f"{len(entry_ids)} ids for {len(vectors)} vectors")
        last = {entry_id: n for n, entry_id in enumerate(entry_ids)}  # a repeated id: last wins
        for entry_id, n in last.items():
            rows = self._list_for(part, scope, vectors[n])
            rows.append(entry_id, vectors[n])
            self._placed(part, entry_id, rows)
        part.added_since += len(last)
        if self._due(part):
            self._train(part, scope)  # loading: the owner waits for its index anyway

    def _placed(self, part: _Scope, entry_id: str, rows: RowList) -> None:
        self._where[entry_id] = part
        part.where[entry_id] = rows
        if part.journal is not None:
            part.journal.append((entry_id, rows.matrix()[-1].copy()))

    def _due(self, part: _Scope) -> bool:
        if part.journal is not None or self._size(part) < self.params.train_at:
            return False
        return part.trained_size == 0 or part.added_since >= part.trained_size

    def _list_for(self, part: _Scope, scope: str, vector: FloatArray) -> RowList:
        if part.centroids is None:
            if not part.lists:
                part.lists.append(RowList(self.dim, scope))
            return part.lists[0]
        return part.lists[int((part.centroids @ vector).argmax())]

    def _retrain(self, part: _Scope, scope: str) -> None:
        if self._lock is None:
            self._train(part, scope)
            return
        part.journal = []  # under the owner's lock: changes from here on are replayed
        worker = threading.Thread(target=self._train_apart, args=(part, scope, self._lock),
                                  name=f"ivf-train-{scope[:24]}", daemon=True)
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()

    def _train_apart(self, part: _Scope, scope: str, lock: threading.Lock) -> None:
        """The worker: k-means on a sample, fill new lists, swap them in with the journal
        replayed. A failure leaves the old lists serving and a later insert retries."""
        import numpy as np

        try:
            with lock:
                gen = part.generation
                old, size = list(part.lists), self._size(part)
                if part.journal is None or self._scopes.get(scope) is not part or not size:
                    part.journal = None
                    return  # flattened or emptied before the worker started
                rng = np.random.default_rng(self.params.seed)
                nlist = max(1, size // self.params.list_size)
                sample = sample_rows(old, nlist * self.params.sample_per_list, rng)

            def alive() -> bool:
                return self._scopes.get(scope) is part and part.generation == gen

            centroids = kmeans(sample, nlist, self.params.iterations, rng)
            del sample
            built = fill_lists(old, centroids, lock, alive)
            if built is not None and self._swap(part, size, centroids, *built, lock, alive):
                del old, built
                give_back_free_memory()
        except Exception:
            log.exception("background training of an IVF scope failed; old lists kept")
            with lock:
                part.journal = None

    def _swap(self, part: _Scope, size: int, centroids: FloatArray, new: list[RowList],
              where: dict[str, RowList], lock: threading.Lock,
              alive: Callable[[], bool]) -> bool:
        """Replay the journal onto the new lists in rounds off the lock (each round takes
        what accumulated during the last), then the last few changes and the swap under it:
        inserts arriving meanwhile would otherwise make the final replay long."""
        added = 0
        while True:
            with lock:
                if not alive() or part.journal is None:
                    return False
                batch = part.journal
                if len(batch) <= _LAST_ROUND:
                    added += replay(batch, new, where, centroids)
                    part.where = where  # its ids are exactly the scope's: no global update
                    part.lists, part.centroids, part.journal = new, centroids, None
                    part.trained_size, part.added_since = size, added
                    part.generation += 1
                    return True
                part.journal = []
            added += replay(batch, new, where, centroids)

    def _train(self, part: _Scope, scope: str) -> None:
        """k-means on a sample, then the rows move list by list to their nearest
        centroid's list, each old list released as soon as it is emptied."""
        import numpy as np

        old, size = part.lists, self._size(part)
        rng = np.random.default_rng(self.params.seed)
        nlist = max(1, size // self.params.list_size)
        sample = sample_rows(old, nlist * self.params.sample_per_list, rng)
        centroids = kmeans(sample, nlist, self.params.iterations, rng)
        del sample
        assigns = [nearest(rows.matrix(), centroids) for rows in old]
        sizes = np.bincount(np.concatenate(assigns), minlength=len(centroids))
        part.centroids = centroids
        part.lists = [RowList(self.dim, scope, capacity=int(c)) for c in sizes]
        for rows, assign in zip(old, assigns, strict=True):
            for entry_id, row, slot in zip(rows.ids, rows.matrix(), assign.tolist(), strict=True):
                target = part.lists[slot]
                target.append_raw(entry_id, row)
                part.where[entry_id] = target
            rows.release()
        part.trained_size, part.added_since = size, 0
        part.generation += 1
        give_back_free_memory()

    def search(self, vector: FloatArray, scope: str, k: int = 1) -> list[tuple[str, float]]:
        """The k nearest entries of `scope` in the probed lists, (id, cosine), best first."""
        import numpy as np

        part = self._scopes.get(scope)
        if part is None or k <= 0:
            return []
        probed = part.lists
        if part.centroids is not None and len(part.lists) > self.params.nprobe:
            near = np.argpartition(-(part.centroids @ vector), self.params.nprobe - 1)
            probed = [part.lists[i] for i in near[: self.params.nprobe]]
        probed = [rows for rows in probed if len(rows)]
        if not probed:
            return []
        ends = np.cumsum([len(rows) for rows in probed])
        block = np.empty((int(ends[-1]), self.dim), dtype=np.float32)
        for rows, end in zip(probed, ends.tolist(), strict=True):
            # widen straight into one float32 block: no int16 concatenation first
            np.copyto(block[end - len(rows):end], rows.matrix(), casting="unsafe")
        scores = block @ (vector * np.float32(1.0 / SCALE))
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        out = []
        for i in top.tolist():
            slot = int(np.searchsorted(ends, i, side="right"))
            start = int(ends[slot - 1]) if slot else 0
            out.append((probed[slot].ids[i - start], float(scores[i])))
        return out

    def remove(self, entry_id: str) -> bool:
        part = self._where.pop(entry_id, None)
        if part is None:
            return False
        rows = part.where.pop(entry_id)
        scope = rows.scope
        rows.remove(entry_id)
        if part.journal is not None:
            part.journal.append((entry_id, None))
        if part.centroids is None:
            if not len(rows):
                del self._scopes[scope]
        elif part.trained_size > 0 and self._size(part) < self.params.train_at // 2:
            self._flatten(part, scope)  # shrunk by eviction or invalidation: exact again
        return True

    @staticmethod
    def _size(part: _Scope) -> int:
        return sum(len(rows) for rows in part.lists)

    def _flatten(self, part: _Scope, scope: str) -> None:
        flat = RowList(self.dim, scope, capacity=self._size(part))
        for rows in part.lists:
            for entry_id, row in zip(rows.ids, rows.matrix(), strict=True):
                flat.append_raw(entry_id, row)
                part.where[entry_id] = flat
        part.lists, part.centroids, part.trained_size, part.added_since = [flat], None, 0, 0
        part.journal, part.generation = None, part.generation + 1
        if not len(flat):
            del self._scopes[scope]

    def __len__(self) -> int:
        return len(self._where)

    def stats(self) -> dict[str, int]:
        """Entries, lists and bytes held by the vectors (benchmarks report memory from it)."""
        parts = self._scopes.values()
        return {"entries": len(self._where), "scopes": len(self._scopes),
                "lists": sum(len(p.lists) for p in parts),
                "rows": sum(self._size(p) for p in parts),
                "vector_bytes": sum(r.nbytes() for p in parts for r in p.lists)
                + sum(p.centroids.nbytes for p in parts if p.centroids is not None)}

    def save(self, path: Path) -> None:
        """Write `path` (.npz: rows and centroids) and `path`.json (ids, scopes, list sizes).

        Loading restores the lists as they were (no k-means); npz without
        pickling, so loading never executes code.
        """
        import numpy as np

        path = Path(path)
        arrays: dict[str, npt.NDArray[np.generic]] = {}
        meta: dict[str, object] = {"dim": self.dim, "scopes": []}
        for n, (scope, part) in enumerate(sorted(self._scopes.items())):
            arrays[f"r{n}"] = np.concatenate([r.matrix() for r in part.lists])
            if part.centroids is not None:
                arrays[f"c{n}"] = part.centroids
            meta["scopes"].append({  # type: ignore[attr-defined]
                "scope": scope, "ids": [i for r in part.lists for i in r.ids],
                "sizes": [len(r) for r in part.lists], "trained_size": part.trained_size,
                "added_since": part.added_since})
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        path.with_name(path.name + ".json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path, params: IvfParams | None = None) -> IvfIndex:
        import numpy as np

        path = Path(path)
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        index = cls(int(meta["dim"]), params)
        with np.load(path, allow_pickle=False) as data:
            for n, entry in enumerate(meta["scopes"]):
                part = index._scopes[entry["scope"]] = _Scope(index.dim)
                if f"c{n}" in data:
                    part.centroids = data[f"c{n}"].astype(np.float32)
                part.trained_size, part.added_since = entry["trained_size"], entry["added_since"]
                rows, start = data[f"r{n}"], 0
                for size in entry["sizes"]:
                    block = RowList(index.dim, entry["scope"], capacity=size)
                    for entry_id, vector in zip(entry["ids"][start:start + size],
                                                rows[start:start + size], strict=True):
                        block.append_raw(entry_id, vector)
                        index._where[entry_id] = part
                        part.where[entry_id] = block
                    part.lists.append(block)
                    start += size
        return index
