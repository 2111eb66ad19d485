from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetcost.cache.embed import DIM, embed, embed_one


def test_matches_sentence_transformers_reference() -> None:
    # First components of SentenceTransformer("all-MiniLM-L6-v2").encode("Hello world"),
    # as widely printed; a wrong GELU, pooling or padding moves them by >1e-3.
    expected = np.array([-0.03447727, 0.03102317, 0.00673494, 0.02610891, -0.03936201])
    np.testing.assert_allclose(embed_one("Hello world")[:5], expected, atol=1e-6)


def test_shape_dtype_and_unit_norm() -> None:
    vecs = embed(["How do I learn Python?", "What is the capital of France?", "x"])
    assert vecs.shape == (3, DIM)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_empty_input() -> None:
    assert embed([]).shape == (0, DIM)


def test_deterministic_and_batch_equals_single() -> None:
    texts = ["short", "a considerably longer sentence that forces padding in its batch",
             "How can I learn Python?"]
    batched = embed(texts)
    again = embed(texts)
    np.testing.assert_array_equal(batched, again)
    for text, vec in zip(texts, batched, strict=True):
        np.testing.assert_allclose(embed_one(text), vec, atol=1e-6)


def test_similarity_orders_meaning() -> None:
    a, b, c = embed(["How do I learn Python?", "How can I learn Python?",
                     "What is the capital of France?"])
    assert float(a @ b) > 0.9
    assert float(a @ c) < 0.3


def test_truncates_at_256_tokens() -> None:
    long = "word " * 400
    np.testing.assert_allclose(embed_one(long), embed_one(long + "extra tail"), atol=1e-6)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(embed_one("word " * 10), embed_one(long), atol=1e-6)


def test_guard_synonyms_by_word_vectors() -> None:
    """Word vectors let a synonym through and still refuse an antonym."""
    from fleetcost.cache.guard import GuardConfig, same_details

    strict = GuardConfig(max_unmatched=0)
    a, b = "How do I buy a used car?", "How do I purchase a used car?"
    assert not same_details(a, b, strict)  # lexically, buy != purchase
    assert same_details(a, b, strict, vectors=embed)
    assert not same_details("Is it easy to learn Rust?", "Is it difficult to learn Rust?",
                            strict, vectors=embed)
    assert not same_details("Is it cheap to live in Paris?",
                            "Is it expensive to live in Paris?", strict, vectors=embed)


def test_embedding_cache_round_trip(tmp_path: Path) -> None:
    import sqlite3

    from fleetcost.cache.vecstore import embed_cached

    db = tmp_path / "vec.sqlite3"
    calls: list[tuple[int, int]] = []
    texts = ["one question", "another question", "one question"]
    first = embed_cached(texts, db, lambda done, total: calls.append((done, total)))
    assert calls == [(2, 2)]  # the duplicate text is embedded once
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM vec").fetchone() == (2,)
    calls.clear()
    again = embed_cached(texts, db, lambda done, total: calls.append((done, total)))
    assert calls == []  # everything came from disk
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, embed(texts), atol=1e-6)
