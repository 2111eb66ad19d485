"""Features of a (query, cached question) pair for the pair network (cache/netverify.py).

Why these: one MiniLM cosine blurs the detail that makes Quora's hard
negatives different questions. The row joins three views of the pair:
- the cosine itself;
- the lexical detail features of cache/pairfeat.py (numbers, negation, names,
  unmatched content words, overlap, length), with synonyms judged by the static
  word table (cache/wordvec.py) instead of a model pass per word, plus the
  worst match of any left-over word and of any left-over name (a changed
  entity, "Oshawa" for "Ottawa", scores near 0.1; a synonym 0.7);
- [|u - v|, u * v] of the two texts' bag-of-word-piece vectors from the same
  table (768 values): which directions of meaning differ, not only how much.
  Measured on the held-out Quora half it matched the same features built from
  the MiniLM sentence vectors, and it needs no vector from the index, so the
  gateway and `eval cache` compute the very same row from the two texts.
Every part is symmetric in the two texts, so the order of caching never matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetcost.cache.guard import Detail, GuardConfig, WordVectors, _left_over
from fleetcost.cache.pairfeat import NAMES as LEXICAL
from fleetcost.cache.pairfeat import features

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

# The order is part of the weights file's contract (verifier_net.json "scalars").
SCALARS = (*LEXICAL, "worst_word", "worst_name")
# Static vectors put synonyms at ~0.6-0.75 and changed entities below ~0.45.
CONFIG = GuardConfig(synonym_cosine=0.6)


def worst_matches(a: Detail, b: Detail, vectors: WordVectors) -> tuple[float, float]:
    """Lowest best-match cosine of a's left-over content words in b, and of its names."""
    left = _left_over(a, b, CONFIG.spelling_ratio)
    if not left:
        return 1.0, 1.0
    targets = sorted(b.content)
    if not targets:
        return 0.0, 0.0
    vecs = vectors([a.surface[w] for w in left] + [b.surface[w] for w in targets])
    best = (vecs[: len(left)] @ vecs[len(left):].T).max(axis=1)
    names = [float(s) for w, s in zip(left, best, strict=True) if w in a.names]
    return float(best.min()), min(names, default=1.0)


def scalars(q: Detail, c: Detail, cosine: float, vectors: WordVectors) -> list[float]:
    """The 12 scalar features, in the order of SCALARS."""
    row = features(q, c, cosine, CONFIG, vectors)
    w1, n1 = worst_matches(q, c, vectors)
    w2, n2 = worst_matches(c, q, vectors)
    return [*row, min(w1, w2), min(n1, n2)]


def row(scalar: list[float], u: FloatArray, v: FloatArray) -> FloatArray:
    """The network's input: the scalars, then |u - v| and u * v."""
    import numpy as np

    out: FloatArray = np.concatenate(
        [np.asarray(scalar, dtype=np.float32), np.abs(u - v), u * v]).astype(np.float32)
    return out
