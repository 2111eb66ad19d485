"""Static word vectors from MiniLM's own input embedding table.

Why not a MiniLM forward pass per word (as the guard once did): a pass costs
~29 ms p50 for an unseen word, far over the verifier's 0.3 ms per candidate.
The model's input table (`embeddings.word_embeddings.weight`, 30,522 word
pieces x 384) already places names, places and content words: averaging a
word's pieces gives a vector in microseconds, with no model pass. Measured on
the table: Ottawa/Oshawa 0.11, Colorado/Alaska 0.32, India/Pakistan 0.47 (a
changed entity reads as a clear mismatch), buy/purchase 0.75, movie/film 0.72.
Antonyms sit near 0.55-0.6, so the table alone does not tell cheap from
expensive: the learned verifier weighs it with the other pair features.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

TABLE = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class _Table:
    rows: FloatArray
    tokenizer: Any


@functools.lru_cache(maxsize=1)
def _table() -> _Table:
    """Only the one tensor is read (safetensors maps it), ~47 MB, once per process."""
    from safetensors import safe_open
    from tokenizers import Tokenizer

    from fleetcost.cache.embed import model_dir

    path = model_dir()
    with safe_open(str(path / "model.safetensors"), "np") as fh:
        rows = fh.get_tensor(TABLE)
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return _Table(rows, tok)


def _unit(ids: list[int]) -> FloatArray:
    import numpy as np

    t = _table()
    if not ids:
        return np.zeros(t.rows.shape[1], dtype=np.float32)
    v = t.rows[ids].mean(axis=0)
    out: FloatArray = (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
    return out


def word_vectors(words: list[str]) -> FloatArray:
    """One unit vector per word: the mean of its word pieces' input embeddings.

    Single encodes, not `encode_batch`: for a handful of words the batch call's
    thread hand-off cost ~0.4 ms, more than the whole verdict budget.
    """
    import numpy as np

    t = _table()
    if not words:
        return np.zeros((0, t.rows.shape[1]), dtype=np.float32)
    return np.stack([_unit(_ids(t, w)) for w in words])


def _ids(t: _Table, word: str) -> list[int]:
    whole = t.tokenizer.token_to_id(word)
    if whole is not None:  # most words are one piece of the (lower-case) vocabulary
        return [int(whole)]
    ids: list[int] = t.tokenizer.encode(word, add_special_tokens=False).ids
    return ids


def warm() -> None:
    """Load the table now (the gateway's start, or before timing), not on the first verdict."""
    _table()


def text_vector(text: str) -> FloatArray:
    """A bag-of-pieces vector of a whole text: order-free, so it shows which words changed."""
    enc = _table().tokenizer.encode(text, add_special_tokens=False)
    return _unit(enc.ids)
