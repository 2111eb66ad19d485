"""The default hit verifier: a small pair network over cosine, detail and word-table features.

Why a network on top of the 10-feature logistic model (cache/learned.py): on
the held-out Quora half that model moved precision at a given recall by about
a point over the raw cosine. Letting the model see which directions of meaning
differ ([|u - v|, u * v] of static bag-of-piece vectors, cache/netfeat.py) and
training it also on each train query's nearest other cached questions (the
hits a cache actually risks) raised held-out recall at 3% false hits by about
half (`python -m fleetcost.cache.train_net`; figures in verifier_net.json).
Numbers, negation and a listed opposite qualifier (cache/qualifiers.py) still
refuse outright (see PairModel.hard for why).
Weights are data (verifier_net.npz, ~100 KB) fitted on half 0 of the pairs only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetcost.cache.guard import Detail, extract
from fleetcost.cache.learned import _Memo
from fleetcost.cache.netfeat import SCALARS, row, scalars
from fleetcost.cache.qualifiers import flipped

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

HARD = ("numbers_differ", "negation_differs")
_REASON = {"numbers_differ": "numbers", "negation_differs": "negation"}


def bundled_paths() -> tuple[Path, Path]:
    base = resources.files("fleetcost.cache")
    meta, weights = base.joinpath("verifier_net.json"), base.joinpath("verifier_net.npz")
    return Path(str(meta)), Path(str(weights))


@dataclass(frozen=True)
class PairNet:
    """p = sigmoid(w2 . relu(W1' z + b1) + b2), z = (x - mean) / scale; w2 only: logistic."""

    arrays: dict[str, Any]  # mean, scale, w1 (optional), b1 (optional), w2, b2
    accept: float  # minimum probability to serve
    threshold: float  # the default cosine floor that goes with `accept`
    meta: dict[str, Any]

    @classmethod
    def load(cls, meta_path: Path | None = None, weights: Path | None = None) -> PairNet:
        import numpy as np

        default_meta, default_weights = bundled_paths()
        meta: dict[str, Any] = json.loads((meta_path or default_meta).read_text())
        if tuple(meta["scalars"]) != SCALARS:
            raise ValueError(f"scalars {meta['scalars']} do not match {SCALARS}")
        with np.load(weights or default_weights) as npz:
            arrays = {k: npz[k].astype(np.float32) for k in npz.files}
        return cls(arrays, float(meta["accept"]), float(meta["threshold"]), meta)

    def probability(self, x: FloatArray) -> FloatArray:
        """Rows of x (n, d) -> probabilities (n,)."""
        import numpy as np

        a = self.arrays
        z = (x - a["mean"]) / a["scale"]
        if "w1" in a:
            z = np.maximum(z @ a["w1"] + a["b1"], 0.0)
        logit = np.clip(z @ a["w2"] + a["b2"], -50.0, 50.0)
        out: FloatArray = 1.0 / (1.0 + np.exp(-logit))
        return out


class NetVerifier:
    """Cosine floor, hard rules, then the pair network's probability of the same question."""

    def __init__(self, net: PairNet | None = None) -> None:
        self.net = net or PairNet.load()
        self._details = _Memo()
        self._texts = _Memo()
        self._words = _Memo()

    @property
    def threshold(self) -> float:
        return self.net.threshold

    def warm(self) -> None:
        """Load the word table before the first verdict is timed or served."""
        from fleetcost.cache.wordvec import warm

        warm()

    def features(self, query: str, candidate: str, cosine: float) -> tuple[list[float], FloatArray]:
        from fleetcost.cache.wordvec import text_vector

        q: Detail = self._details.get_or(query, extract)
        c: Detail = self._details.get_or(candidate, extract)
        s = scalars(q, c, cosine, self._word_vectors)
        return s, row(s, self._texts.get_or(query, text_vector),
                      self._texts.get_or(candidate, text_vector))

    def probability(self, query: str, candidate: str, cosine: float) -> float:
        s, x = self.features(query, candidate, cosine)
        if _broken(s) is not None:
            return 0.0
        return float(self.net.probability(x[None, :])[0])

    def screen(self, query: str, candidate: str, cosine: float) -> tuple[str | None, float, str]:
        """(the hard rule that refuses, or None; the network's probability; the most
        telling lexical difference, for a refusal's reason)."""
        s, x = self.features(query, candidate, cosine)
        rule = _broken(s)
        if rule is None and flipped(self._details.get_or(query, extract),
                                    self._details.get_or(candidate, extract)):
            rule = "qualifier"
        if rule is not None:
            return rule, 0.0, rule
        return None, float(self.net.probability(x[None, :])[0]), _reason(s)

    def verdict(self, query: str, candidate: str, cosine: float, threshold: float) -> str | None:
        if cosine < threshold:
            return "below_threshold"
        rule, p, why = self.screen(query, candidate, cosine)
        if rule is not None:
            return rule
        return None if p >= self.net.accept else why

    def _word_vectors(self, words: list[str]) -> FloatArray:
        import numpy as np

        from fleetcost.cache.wordvec import word_vectors

        found: dict[str, Any] = {w: self._words.get(w) for w in words}
        missing = [w for w, v in found.items() if v is None]
        if missing:  # one batched table lookup for the words not seen lately
            for w, v in zip(missing, word_vectors(missing), strict=True):
                self._words.put(w, v)
                found[w] = v
        return np.stack([found[w] for w in words])


def _broken(s: list[float]) -> str | None:
    return next((_REASON[n] for n in HARD if s[SCALARS.index(n)] > 0), None)


def _reason(s: list[float]) -> str:
    """The most telling lexical difference, for logs: the network gives no per-feature split."""
    f = dict(zip(SCALARS, s, strict=True))
    if f["names_unmatched"] > 0:
        return "names"
    if f["content_unmatched_max"] > 0:
        return "content"
    if f["length_gap"] > 0.4:
        return "length"
    return "similarity"
