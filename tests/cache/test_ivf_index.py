"""Contract of the IVF index against the exact one: same nearest entries, deletes,
persistence, scope isolation, and the config that chooses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from fleetcost.cache.semindex import build_index, index_kind
from fleetcost.config import SemanticCacheConfig
from fleetcost.storage.base import VectorIndex
from fleetcost.storage.vector_ivf import IvfIndex, IvfParams, index_defaults
from fleetcost.storage.vector_numpy import NumpyIndex

SMALL = IvfParams.defaults(train_at=256, list_size=32, nprobe=8)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _clustered(rng: np.random.Generator, n: int, centres: int = 40) -> np.ndarray:
    """Vectors around a few topics, as questions of one tenant are (not uniform noise)."""
    hubs = _unit(rng.standard_normal((centres, 384)))
    picks = rng.integers(0, centres, n)
    return _unit(hubs[picks] + 0.08 * rng.standard_normal((n, 384)))


def _both(vecs: np.ndarray, scope: str = "s") -> tuple[IvfIndex, NumpyIndex]:
    ivf, exact = IvfIndex(params=SMALL), NumpyIndex()
    for i, v in enumerate(vecs):
        ivf.add(f"e{i}", v, scope)
        exact.add(f"e{i}", v, scope)
    return ivf, exact


def _planted(rng: np.random.Generator, vecs: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Queries a small step away from stored entries (cosine ~0.95): paraphrases."""
    return _unit(vecs[picks] + 0.012 * rng.standard_normal((len(picks), 384)))


def test_same_top_hits_as_exact_on_planted_neighbours() -> None:
    rng = np.random.default_rng(7)
    vecs = _clustered(rng, 3000)
    ivf, exact = _both(vecs)
    assert ivf.stats()["lists"] > 1  # trained: the approximate path is what is tested
    picks = rng.choice(len(vecs), 200, replace=False)
    for q, pick in zip(_planted(rng, vecs, picks), picks, strict=True):
        got, want = ivf.search(q, "s", k=4), exact.search(q, "s", k=4)
        assert got[0][0] == want[0][0] == f"e{pick}"
        assert got[0][1] == pytest.approx(want[0][1], abs=2e-4)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


def test_real_minilm_paraphrase_found_among_many_entries() -> None:
    from fleetcost.cache.embed import embed

    stored = ["How do I reset my password?", "What is the refund policy for cancelled flights?",
              "How do I export my data to CSV?"]
    asked = ["How can I reset my password?", "What's the refund policy for canceled flights?",
             "How can I export my data as CSV?"]
    real = embed(stored + asked)
    noise = _clustered(np.random.default_rng(8), 2000)
    ivf, exact = _both(np.concatenate([noise, real[:3]]))
    for i, q in enumerate(real[3:]):
        want = f"e{len(noise) + i}"
        assert exact.search(q, "s")[0][0] == want
        assert ivf.search(q, "s")[0][0] == want


def test_deletes_never_come_back_and_moved_rows_stay_findable() -> None:
    rng = np.random.default_rng(9)
    vecs = _clustered(rng, 1200)
    ivf, exact = _both(vecs)
    doomed = [f"e{i}" for i in range(0, 1200, 3)]
    for entry_id in doomed:
        assert ivf.remove(entry_id) is True
        exact.remove(entry_id)
    assert ivf.remove(doomed[0]) is False
    assert len(ivf) == len(exact) == ivf.stats()["rows"] == 800
    gone = set(doomed)
    for i in range(1, 1200, 3):
        found = ivf.search(vecs[i], "s", k=5)
        assert found[0][0] == f"e{i}"
        assert not gone & {e for e, _ in found}


def test_shrinking_below_half_train_size_scans_exactly_again() -> None:
    vecs = _clustered(np.random.default_rng(10), 600)
    ivf, exact = _both(vecs)
    assert ivf.stats()["lists"] > 1
    for i in range(500):
        ivf.remove(f"e{i}")
        exact.remove(f"e{i}")
    assert ivf.stats()["lists"] == 1
    got, want = ivf.search(vecs[550], "s", k=100), exact.search(vecs[550], "s", k=100)
    assert {e for e, _ in got} == {e for e, _ in want}  # all 100 left: nothing skipped
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=2e-4)


def test_retrains_as_the_scope_doubles() -> None:
    vecs = _clustered(np.random.default_rng(11), 1100)
    ivf = IvfIndex(params=SMALL)
    for i, v in enumerate(vecs[:300]):
        ivf.add(f"e{i}", v, "s")
    first = ivf.stats()["lists"]
    for i, v in enumerate(vecs[300:], start=300):
        ivf.add(f"e{i}", v, "s")
    assert ivf.stats()["lists"] > first  # trained again at 600 entries: more lists
    assert ivf.search(vecs[5], "s")[0][0] == "e5"


def test_retrains_when_eviction_has_renewed_the_scope() -> None:
    """At capacity the size stays put while entries are replaced: once as many entries
    were added as the scope held at training, the lists are trained on the new content."""
    rng = np.random.default_rng(16)
    old, new = _clustered(rng, 300), _clustered(rng, 300, centres=7)
    ivf = IvfIndex(params=SMALL)
    for i, v in enumerate(old):
        ivf.add(f"old{i}", v, "s")
    trained = ivf._scopes["s"].centroids
    for i, v in enumerate(new):
        ivf.remove(f"old{i}")
        ivf.add(f"new{i}", v, "s")
    assert ivf._scopes["s"].centroids is not trained
    assert len(ivf) == 300 and ivf.search(new[9], "s")[0][0] == "new9"


def test_scope_isolation_trained_and_untrained() -> None:
    vecs = _clustered(np.random.default_rng(12), 400)
    index: VectorIndex = IvfIndex(params=SMALL)
    for i, v in enumerate(vecs):
        index.add(f"a{i}", v, "tenant=a")
    index.add("b0", vecs[0], "tenant=b")
    assert [e for e, _ in index.search(vecs[0], "tenant=b", k=10)] == ["b0"]
    assert "b0" not in {e for e, _ in index.search(vecs[0], "tenant=a", k=50)}
    assert index.search(vecs[0], "tenant=c") == []
    index.add("b0", vecs[0], "tenant=a")  # re-added elsewhere: leaves its old scope
    assert index.search(vecs[0], "tenant=b") == []
    assert len(index) == 401


def test_bulk_load_matches_incremental_answers() -> None:
    rng = np.random.default_rng(13)
    vecs = _clustered(rng, 1500)
    bulk = IvfIndex(params=SMALL)
    bulk.add_many(["e0", "e1"], vecs[:2], "s")  # already there: replaced, not doubled
    bulk.add_many([f"e{i}" for i in range(len(vecs))] + ["e5"], np.vstack([vecs, vecs[5:6]]),
                  "s")
    assert len(bulk) == len(vecs) == bulk.stats()["rows"]
    assert [e for e, _ in bulk.search(vecs[5], "s", 3)].count("e5") == 1
    _, exact = _both(vecs)
    picks = rng.choice(len(vecs), 100, replace=False)
    for q in _planted(rng, vecs, picks):
        assert bulk.search(q, "s", 2)[0][0] == exact.search(q, "s", 2)[0][0]


def test_save_and_load_restore_the_same_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    vecs = _clustered(rng, 900)
    ivf, _ = _both(vecs)
    for i in range(3000, 3010):
        ivf.add(f"x{i}", vecs[i % 900], "other scope")
    ivf.remove("e17")
    path = tmp_path / "semantic.ivf.npz"
    ivf.save(path)
    loaded = IvfIndex.load(path, SMALL)
    assert len(loaded) == len(ivf)
    assert loaded.stats()["lists"] == ivf.stats()["lists"]
    for q in _planted(rng, vecs, np.arange(0, 900, 45)):
        assert loaded.search(q, "s", 4) == ivf.search(q, "s", 4)
    assert loaded.search(vecs[17], "s")[0][0] != "e17"
    assert len(loaded.search(vecs[0], "other scope", 50)) == 10


def test_rejects_wrong_dimension() -> None:
    with pytest.raises(ValueError, match="shape"):
        IvfIndex(params=SMALL).add("x", np.zeros(10, dtype=np.float32), "s")


def test_config_chooses_the_index_and_overrides_the_data_file() -> None:
    defaults = index_defaults()
    assert index_kind() == defaults["index"]
    assert isinstance(build_index(SemanticCacheConfig(index="exact")), NumpyIndex)
    chosen = build_index(SemanticCacheConfig(index="ivf", ivf={"nprobe": 3}))
    assert isinstance(chosen, IvfIndex)
    assert chosen.params.nprobe == 3
    assert chosen.params.list_size == defaults["ivf"]["list_size"]
    with pytest.raises(ValidationError):
        SemanticCacheConfig(ivf={"nprobes": 3})
    with pytest.raises(ValidationError):
        SemanticCacheConfig(index="hnsw")


def test_semantic_cache_reloads_a_trained_index_from_its_store(tmp_path: Path) -> None:
    """Restart: the store's vectors come back into a trained IVF index (one bulk training),
    and a paraphrase of a stored question is served again, its hit counted."""
    import time

    from fleetcost.cache.embed import embed_one
    from fleetcost.cache.semcache import SemanticCache
    from fleetcost.storage.base import SemanticEntry
    from fleetcost.storage.semantic_sqlite import SQLiteSemanticStore

    now, path = time.time(), tmp_path / "semantic.db"
    cache = SemanticCache.open(SQLiteSemanticStore(path), 10_000, now, IvfIndex(params=SMALL))
    question = "How do I change my seat on a booked flight?"
    noise = _clustered(np.random.default_rng(15), 700)
    vectors = [*noise, embed_one(question)]
    for i, vec in enumerate(vectors):
        text = question if i == len(noise) else f"stored question {i}"
        cache.add(SemanticEntry(entry_id=f"e{i}", scope="s", tenant="t", text=text,
                                created=now, expires=now + 600, model="m", stream=False,
                                cost_usd="0.001", body=b'{"answer": %d}' % i), vec, now)
    cache.close()
    index = IvfIndex(params=SMALL)
    reopened = SemanticCache.open(SQLiteSemanticStore(path), 10_000, now, index)
    assert len(reopened) == len(index) == 701 and index.stats()["lists"] > 1
    hit, _ = reopened.lookup("s", "How can I change my seat on a flight I booked?", 0.85, now)
    assert hit is not None and hit.entry_id == "e700" and hit.body == b'{"answer": 700}'
    assert reopened.hits("e700") == 1
    assert reopened.lookup("other", question, 0.85, now)[0] is None
    reopened.close()


@pytest.mark.parametrize(("kind", "expected"), [("exact", NumpyIndex), ("ivf", IvfIndex)])
def test_gateway_opens_the_configured_index(kind: str, expected: type) -> None:
    from fleetcost.config import Settings
    from fleetcost.server.app import open_semantic

    settings = Settings.model_validate({"cache": {"semantic": {
        "enabled": True, "path": ":memory:", "index": kind, "ivf": {"nprobe": 5}}}})
    cache = open_semantic(settings)
    assert cache is not None
    try:
        index = cache._index  # the one the config chose, knobs included
        assert isinstance(index, expected)
        if isinstance(index, IvfIndex):
            assert index.params.nprobe == 5
    finally:
        cache.close()
