"""On-disk cache of embeddings keyed by text hash.

Why: the numpy model embeds ~140 texts/s, so the full Quora evaluation (about
100k distinct texts) takes minutes; re-runs with another threshold or guard
setting should not pay that again. SQLite (stdlib) gives atomic writes and
safe concurrent readers without a new dependency.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

MODEL_TAG = "all-MiniLM-L6-v2/numpy/256"  # part of the key: a new model invalidates old vectors


def default_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fleetcost" / "embeddings.sqlite3"


def _key(text: str) -> str:
    return hashlib.sha256(f"{MODEL_TAG}\0{text}".encode()).hexdigest()


def embed_cached(
    texts: list[str],
    path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 256,
) -> FloatArray:
    """Embed `texts`, reading known vectors from the cache and storing new ones."""
    import numpy as np

    from fleetcost.cache.embed import DIM, embed

    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    keys = [_key(t) for t in texts]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
        known = _fetch(db, sorted(set(keys)))
        todo: dict[str, str] = {}
        for i, k in enumerate(keys):
            if k in known:
                out[i] = np.frombuffer(known[k], dtype=np.float32)
            else:
                todo.setdefault(k, texts[i])
        pending = list(todo.items())
        fresh: dict[str, FloatArray] = {}
        for start in range(0, len(pending), chunk):
            part = pending[start:start + chunk]
            vecs = embed([t for _, t in part])
            db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)",
                           [(k, v.tobytes()) for (k, _), v in zip(part, vecs, strict=True)])
            db.commit()
            fresh.update({k: v for (k, _), v in zip(part, vecs, strict=True)})
            if progress is not None:
                progress(start + len(part), len(pending))
    for i, k in enumerate(keys):
        if k in fresh:
            out[i] = fresh[k]
    return out


def _fetch(db: sqlite3.Connection, keys: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        marks = ",".join("?" * len(part))
        rows = db.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", part)
        found.update({k: bytes(v) for k, v in rows})
    return found


def stderr_progress(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress bar on stderr, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
        sys.stderr.flush()

    return show
