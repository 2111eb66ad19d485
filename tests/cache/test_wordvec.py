"""The static word table: changed entities read as mismatches, synonyms as matches."""

from __future__ import annotations

import numpy as np

from fleetcost.cache.wordvec import text_vector, word_vectors


def _cos(a: str, b: str) -> float:
    va, vb = word_vectors([a, b])
    return float(va @ vb)


def test_entities_differ_more_than_synonyms() -> None:
    synonyms = [_cos("buy", "purchase"), _cos("movie", "film")]
    entities = [_cos("ottawa", "oshawa"), _cos("colorado", "alaska"), _cos("windows", "ubuntu")]
    assert min(synonyms) > max(entities)


def test_vectors_are_unit_and_words_of_several_pieces_work() -> None:
    vecs = word_vectors(["embarrassing", "taklamakan", "x"])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_text_vector_ignores_word_order() -> None:
    a = text_vector("green tea health benefits")
    b = text_vector("health benefits green tea")
    assert float(a @ b) > 0.999
    assert float(a @ text_vector("black coffee side effects")) < 0.9
