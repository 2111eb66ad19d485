from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetcost.cache.index import NumpyIndex, VectorIndex


def _unit(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_add_search_remove() -> None:
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 50)
    index: VectorIndex = NumpyIndex()
    for i, v in enumerate(vecs):
        index.add(f"e{i}", v, "s")
    assert len(index) == 50
    top = index.search(vecs[7], "s", k=3)
    assert top[0][0] == "e7"
    assert top[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert index.remove("e7") is True
    assert index.remove("e7") is False
    assert len(index) == 49
    assert all(entry != "e7" for entry, _ in index.search(vecs[7], "s", k=49))
    # the row swapped into e7's hole is still found under its own id
    assert index.search(vecs[49], "s", k=1)[0][0] == "e49"


def test_grows_past_initial_capacity() -> None:
    vecs = _unit(np.random.default_rng(2), 2500)
    index = NumpyIndex()
    for i, v in enumerate(vecs):
        index.add(str(i), v, "s")
    assert index.search(vecs[2400], "s")[0][0] == "2400"


def test_scope_isolation() -> None:
    v = _unit(np.random.default_rng(3), 1)[0]
    index = NumpyIndex()
    index.add("tenant-a", v, "tenant=a|model=gpt|sys=1")
    index.add("tenant-b", v, "tenant=b|model=gpt|sys=1")
    assert index.search(v, "tenant=a|model=gpt|sys=1", k=10) == [
        ("tenant-a", pytest.approx(1.0, abs=1e-5))]
    assert [e for e, _ in index.search(v, "tenant=b|model=gpt|sys=1", k=10)] == ["tenant-b"]
    assert index.search(v, "tenant=c|model=gpt|sys=1") == []


def test_readd_under_new_scope_moves_entry() -> None:
    v = _unit(np.random.default_rng(4), 1)[0]
    index = NumpyIndex()
    index.add("x", v, "one")
    index.add("x", v, "two")
    assert index.search(v, "one") == []
    assert len(index) == 1


def test_persist_round_trip(tmp_path: Path) -> None:
    vecs = _unit(np.random.default_rng(5), 30)
    index = NumpyIndex()
    for i, v in enumerate(vecs):
        index.add(f"id/{i}", v, "a" if i % 2 else "b")
    index.remove("id/3")
    path = tmp_path / "index.npz"
    index.save(path)
    loaded = NumpyIndex.load(path)
    assert len(loaded) == len(index) == 29
    for i in (0, 1, 28):
        scope = "a" if i % 2 else "b"
        assert loaded.search(vecs[i], scope, 5) == index.search(vecs[i], scope, 5)
    assert loaded.search(vecs[3], "a")[0][0] != "id/3"


def test_rejects_wrong_dimension() -> None:
    with pytest.raises(ValueError, match="shape"):
        NumpyIndex().add("x", np.zeros(10, dtype=np.float32), "s")


def test_search_many_equals_search() -> None:
    vecs = _unit(np.random.default_rng(6), 200)
    index = NumpyIndex()
    for i, v in enumerate(vecs):
        index.add(str(i), v, "s")
    queries = _unit(np.random.default_rng(7), 20)
    many = index.search_many(queries, "s", k=4, chunk=7)
    for q, got in zip(queries, many, strict=True):
        assert [e for e, _ in got] == [e for e, _ in index.search(q, "s", 4)]
