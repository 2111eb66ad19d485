"""The hand-written training rows stay clear of the held-out probes (scripts/holdout_guard.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_training_row_sits_near_a_probe() -> None:
    spec = importlib.util.spec_from_file_location("holdout_guard",
                                                  ROOT / "scripts" / "holdout_guard.py")
    assert spec is not None and spec.loader is not None
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)
    assert guard.TRAINING and guard.PROBES
    probe_texts = sorted({t for p in guard.PROBES for pair in guard.texts(p) for t in pair})
    for path in guard.TRAINING:
        close = guard.too_close(guard.texts(path), probe_texts)
        assert not any(close), f"{path.name}: {sum(close)} rows within {guard.CLOSE} of a probe"
