"""Vector index for the semantic cache, partitioned by scope.

A scope key (tenant + model family + system-prompt hash + tools hash +
sampling parameters, built by the caller) is an opaque string here. Each
scope gets its own matrix, so a search can only ever see entries of its own
scope: isolation is structural, not a filter applied after ranking.

Why exact numpy search and not an HNSW library (measured here, 100,000 x 384
in one scope, one BLAS thread, CPU time per query): the scan costs ~5.3 ms
(memory-bound, one pass over 154 MB) and an insert microseconds. usearch
2.26.6 searched in ~1.5 ms wall but took ~9 ms per single insert (259 s to
build 100k on the loaded machine) and 286 MB against 154 MB; every miss
inserts, and a restart would rebuild or reload a graph. With scopes
partitioning the search, a scope rarely holds 100k entries (100 scopes of
1,000: 0.4 ms). bench/cache_bench.py --gateway-cache re-measures it.
Since then the default is `vector_ivf.IvfIndex` (inverted lists, int16 rows),
which keeps inserts as cheap and scans ~5% of a large scope; this exact
index stays as `[cache.semantic] index = "exact"` and as its reference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fleetcost.storage.ivf_lists import swap_remove

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

_GROW = 1024  # initial capacity; doubles when full so add() is amortised O(1)


@dataclass
class _Partition:
    """One scope's vectors: a growable matrix and the ids of its live rows."""

    dim: int
    vectors: FloatArray | None = None
    ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, entry_id: str, vector: FloatArray) -> None:
        import numpy as np

        if entry_id in self.rows:
            assert self.vectors is not None
            self.vectors[self.rows[entry_id]] = vector
            return
        n = len(self.ids)
        if self.vectors is None or n == self.vectors.shape[0]:
            cap = max(_GROW, 2 * n)
            grown = np.zeros((cap, self.dim), dtype=np.float32)
            if self.vectors is not None:
                grown[:n] = self.vectors[:n]
            self.vectors = grown
        self.vectors[n] = vector
        self.ids.append(entry_id)
        self.rows[entry_id] = n

    def remove(self, entry_id: str) -> None:
        """Swap the last row into the hole, so the live rows stay contiguous."""
        assert self.vectors is not None
        swap_remove(self.ids, self.rows, self.vectors, entry_id)

    def search(self, vector: FloatArray, k: int) -> list[tuple[str, float]]:
        import numpy as np

        n = len(self.ids)
        if n == 0 or self.vectors is None:
            return []
        scores = self.vectors[:n] @ vector
        k = min(k, n)
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top]


class NumpyIndex:
    """Exact cosine search (vectors are expected unit-normalised), one matrix per scope."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._parts: dict[str, _Partition] = {}
        self._scope_of: dict[str, str] = {}

    def add(self, entry_id: str, vector: FloatArray, scope: str) -> None:
        """Insert or replace; an id moved to another scope leaves the old one."""
        if vector.shape != (self.dim,):
            raise ValueError(f"expected a vector of shape ({self.dim},), got {vector.shape}")
        old = self._scope_of.get(entry_id)
        if old is not None and old != scope:
            self.remove(entry_id)
        part = self._parts.get(scope)
        if part is None:
            part = self._parts[scope] = _Partition(self.dim)
        part.add(entry_id, vector)
        self._scope_of[entry_id] = scope

    def add_many(self, entry_ids: Sequence[str], vectors: FloatArray, scope: str) -> None:
        for entry_id, vector in zip(entry_ids, vectors, strict=True):
            self.add(entry_id, vector, scope)

    def search(self, vector: FloatArray, scope: str, k: int = 1) -> list[tuple[str, float]]:
        """The k nearest entries of `scope` as (id, cosine), best first."""
        part = self._parts.get(scope)
        return [] if part is None or k <= 0 else part.search(vector, k)

    def search_many(
        self, vectors: FloatArray, scope: str, k: int = 1, chunk: int = 1024
    ) -> list[list[tuple[str, float]]]:
        """`search` for a batch of queries at once: one matmul per chunk (evaluation)."""
        import numpy as np

        part = self._parts.get(scope)
        if part is None or k <= 0 or not part.ids:
            return [[] for _ in range(len(vectors))]
        live = self._live(part)
        k = min(k, len(part.ids))
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(vectors), chunk):
            scores = vectors[start:start + chunk] @ live.T
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for row, cand in zip(scores, top, strict=True):
                cand = cand[np.argsort(-row[cand], kind="stable")]
                out.append([(part.ids[i], float(row[i])) for i in cand])
        return out

    def remove(self, entry_id: str) -> bool:
        scope = self._scope_of.pop(entry_id, None)
        if scope is None:
            return False
        part = self._parts[scope]
        part.remove(entry_id)
        if not part.ids:
            del self._parts[scope]
        return True

    def __len__(self) -> int:
        return len(self._scope_of)

    def stats(self) -> dict[str, int]:
        """Entries and bytes allocated for vectors (benchmarks compare indexes with it)."""
        parts = self._parts.values()
        return {"entries": len(self._scope_of), "scopes": len(self._parts),
                "lists": len(self._parts),
                "vector_bytes": sum(p.vectors.nbytes for p in parts if p.vectors is not None)}

    def save(self, path: Path) -> None:
        """Write `path` (.npz of vectors) and `path`.json (ids and scopes per partition).

        Two files because ids and scopes are strings of any length; npz holds
        the float data without pickling, so loading never executes code.
        """
        import numpy as np

        path = Path(path)
        scopes = sorted(self._parts)
        arrays = {f"p{i}": self._live(self._parts[s]) for i, s in enumerate(scopes)}
        meta = {"dim": self.dim, "partitions": [
            {"scope": s, "ids": self._parts[s].ids} for s in scopes]}
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        _json_path(path).write_text(json.dumps(meta))

    @staticmethod
    def _live(part: _Partition) -> FloatArray:
        assert part.vectors is not None
        return part.vectors[:len(part.ids)]

    @classmethod
    def load(cls, path: Path) -> NumpyIndex:
        import numpy as np

        path = Path(path)
        meta = json.loads(_json_path(path).read_text())
        index = cls(int(meta["dim"]))
        with np.load(path, allow_pickle=False) as data:
            for i, entry in enumerate(meta["partitions"]):
                matrix = data[f"p{i}"].astype(np.float32)
                for entry_id, vector in zip(entry["ids"], matrix, strict=True):
                    index.add(entry_id, vector, entry["scope"])
        return index


def _json_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")
