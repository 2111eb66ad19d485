"""Retraining an IVF scope off its owner's lock (`vector_ivf.IvfIndex.train_in_background`).

Why: a training inside an insert held the semantic cache's lock for the whole
k-means and reassignment (511 ms at 131,072 entries), so every lookup of every
scope waited. Here the lock is held only for short steps: the k-means sample
(a copy of a few thousand rows), one copy of each old list (a few hundred
rows) and the final swap. Everything else (k-means, assigning each row to its
new list) runs in a worker thread on private copies, while lookups keep
searching the old lists, which stay complete and current.

Inserts and removes made meanwhile are recorded in the scope's journal (under
the lock, in order) from the moment the sample is taken, before any list is
copied; at the swap the journal is replayed onto the new lists, so they end
holding exactly the scope's entries at that moment: an id copied and then
removed is removed again, an id added after its list was copied is added, an
id copied and also journalled is replaced, not duplicated. Cost: the scope's
rows exist twice while the worker runs (old lists serve, new ones fill).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fleetcost.storage.ivf_lists import RowList, nearest

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    HalfArray = npt.NDArray[np.int16]

# One journalled change: (id, its int16 row) for an insert, (id, None) for a remove.
Change = tuple[str, "HalfArray | None"]


def fill_lists(old: list[RowList], centroids: FloatArray, lock: threading.Lock,
               alive: Callable[[], bool]) -> tuple[list[RowList], dict[str, RowList]] | None:
    """New lists holding the rows of `old` by nearest centroid, copied one list at a
    time under `lock` (an id removed and re-added between two copies is kept once,
as its later copy); None when `alive()` turns false (the scope was flattened or
    dropped meanwhile: the work is moot)."""
    scope = old[0].scope if old else ""
    new = [RowList(centroids.shape[1], scope) for _ in range(len(centroids))]
    where: dict[str, RowList] = {}
    for rows in old:
        with lock:
            if not alive():
                return None
            ids, raw = list(rows.ids), rows.matrix().copy()
        for entry_id, row, slot in zip(ids, raw, nearest(raw, centroids).tolist(), strict=True):
            earlier = where.get(entry_id)
            if earlier is not None:  # moved to a list not copied yet: this copy is newer
                earlier.remove(entry_id)
            target = new[slot]
            target.append_raw(entry_id, row)
            where[entry_id] = target
        time.sleep(0)  # hand the GIL to a waiting lookup now, not at the next 5 ms switch
    for rows in new:
        rows.fit()
    return new, where


def replay(journal: list[Change], new: list[RowList], where: dict[str, RowList],
           centroids: FloatArray) -> int:
    """Apply journalled changes, in order, to the new lists (the inserts' lists chosen
    in one matmul); the number of inserts among them (they count towards the next
    training)."""
    import numpy as np

    from fleetcost.storage.ivf_lists import SCALE

    rows = [row for _, row in journal if row is not None]
    slots = iter(((np.stack(rows) @ (centroids.T * np.float32(1.0 / SCALE))).argmax(axis=1)
                  .tolist()) if rows else [])
    for entry_id, row in journal:
        held = where.pop(entry_id, None)
        if held is not None:
            held.remove(entry_id)
        if row is None:
            continue
        target = new[next(slots)]
        target.append_raw(entry_id, row)
        where[entry_id] = target
    return len(rows)
